"""Composition root of the credit service."""

from __future__ import annotations

from granary.v1 import credit_pb2, credit_pb2_grpc

from services.common.runtime import ServiceApp, ServiceHost
from services.credit import events
from services.credit.grpc_api import CreditServicer
from services.credit.service import CreditUnitOfWork


def build(host: ServiceHost) -> ServiceApp:
    servicer = CreditServicer(uow=host.uow_factory(CreditUnitOfWork))
    return ServiceApp(
        register=lambda server: credit_pb2_grpc.add_CreditServiceServicer_to_server(servicer, server),
        service_names=[credit_pb2.DESCRIPTOR.services_by_name["CreditService"].full_name],
        subscriptions=events.subscriptions(),
    )
