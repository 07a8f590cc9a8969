"""Composition root of the field task service."""

from __future__ import annotations

from granary.v1 import fieldtask_pb2, fieldtask_pb2_grpc

from services.common.runtime import ServiceApp, ServiceHost
from services.fieldtask import events
from services.fieldtask.grpc_api import FieldTaskServicer
from services.fieldtask.service import FieldTaskUnitOfWork


def build(host: ServiceHost) -> ServiceApp:
    servicer = FieldTaskServicer(uow=host.uow_factory(FieldTaskUnitOfWork))
    return ServiceApp(
        register=lambda server: fieldtask_pb2_grpc.add_FieldTaskServiceServicer_to_server(servicer, server),
        service_names=[fieldtask_pb2.DESCRIPTOR.services_by_name["FieldTaskService"].full_name],
        subscriptions=events.subscriptions(),
    )
