"""The gateway's view of the services: gRPC stubs, called as the requesting user."""

from __future__ import annotations

import grpc
from granary.v1 import (
    audit_pb2_grpc,
    credit_pb2_grpc,
    customer_pb2_grpc,
    fieldtask_pb2_grpc,
    notification_pb2_grpc,
    process_pb2_grpc,
)
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.grpc_client import ServiceChannels
from services.common.settings import SERVICE_NAMES, Settings


class Backend:
    def __init__(self, settings: Settings, channels: ServiceChannels) -> None:
        self._settings = settings
        self._channels = channels
        self.customer = channels.stub(self._address("customer"), customer_pb2_grpc.CustomerServiceStub)
        self.credit = channels.stub(self._address("credit"), credit_pb2_grpc.CreditServiceStub)
        self.fieldtask = channels.stub(self._address("fieldtask"), fieldtask_pb2_grpc.FieldTaskServiceStub)
        self.notification = channels.stub(
            self._address("notification"), notification_pb2_grpc.NotificationServiceStub
        )
        self.process = channels.stub(self._address("process"), process_pb2_grpc.ProcessServiceStub)

    def audit(self, service: str) -> audit_pb2_grpc.AuditServiceStub:
        """Every service serves its own audit log."""
        return self._channels.stub(self._address(service), audit_pb2_grpc.AuditServiceStub)

    def _address(self, service: str) -> str:
        return self._settings.service(service).address

    async def health(self, timeout: float = 1.0) -> dict[str, str]:
        """Each service's standard gRPC health status."""
        statuses: dict[str, str] = {}
        for name in SERVICE_NAMES:
            stub = health_pb2_grpc.HealthStub(self._channels.channel(self._address(name)))
            try:
                reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
                statuses[name] = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
            except grpc.aio.AioRpcError as exc:
                statuses[name] = exc.code().name if exc.code() else "UNKNOWN"
        return statuses

