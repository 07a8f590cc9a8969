"""Composition root of the process service."""

from __future__ import annotations

from granary.v1 import process_pb2, process_pb2_grpc

from services.common.runtime import ServiceApp, ServiceHost
from services.process import events
from services.process.grpc_api import ProcessServicer
from services.process.operators import OperatorRegistry, grpc_operators
from services.process.service import ProcessUnitOfWork, SpecCache
from services.process.worker import ProcessWorker, WorkerSettings


def build(
    host: ServiceHost, *, operators: OperatorRegistry | None = None, worker_settings: WorkerSettings | None = None
) -> ServiceApp:
    uow = host.uow_factory(ProcessUnitOfWork)
    specs = SpecCache()
    servicer = ProcessServicer(uow=uow, specs=specs)
    registry = operators or grpc_operators(host.channels, host.address_of)
    settings = worker_settings or WorkerSettings.from_settings(
        host.settings.process, host.settings.platform.grpc_deadline_seconds
    )
    worker = ProcessWorker(uow=uow, specs=specs, operators=registry, settings=settings)
    host.process_worker = worker  # type: ignore[attr-defined]  # tests swap operators by name here
    return ServiceApp(
        register=lambda server: process_pb2_grpc.add_ProcessServiceServicer_to_server(servicer, server),
        service_names=[process_pb2.DESCRIPTOR.services_by_name["ProcessService"].full_name],
        subscriptions=events.subscriptions(specs, registry),
        background_jobs=[worker.run_timers, worker.run_jobs],
    )
