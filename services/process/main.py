"""Composition root of the process service."""

from __future__ import annotations

from granary.v1 import process_pb2, process_pb2_grpc

from services.common.runtime import ServiceApp, ServiceHost
from services.process import events
from services.process.grpc_api import ProcessServicer
from services.process.service import ProcessUnitOfWork


def build(host: ServiceHost) -> ServiceApp:
    servicer = ProcessServicer(uow=host.uow_factory(ProcessUnitOfWork))
    return ServiceApp(
        register=lambda server: process_pb2_grpc.add_ProcessServiceServicer_to_server(servicer, server),
        service_names=[process_pb2.DESCRIPTOR.services_by_name["ProcessService"].full_name],
        subscriptions=events.subscriptions(),
    )
