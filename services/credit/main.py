"""Composition root of the credit service."""

from __future__ import annotations

import os

from granary.v1 import credit_pb2, credit_pb2_grpc

from services.common.runtime import ServiceApp, ServiceHost
from services.credit import events
from services.credit.grpc_api import CreditServicer
from services.credit.service import CobPolicy, CreditUnitOfWork


def _ints(name: str, default: tuple[int, ...]) -> tuple[int, ...]:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    return tuple(sorted(int(part) for part in raw.split(",") if part.strip()))


def cob_policy() -> CobPolicy:
    """Close-of-business rules from GRANARY_CREDIT_BUCKET_EDGES ("30,60,90"),
    GRANARY_CREDIT_OVERDUE_THRESHOLDS ("1,3,30,60,90") and GRANARY_CREDIT_DUE_SOON_DAYS ("3")."""
    defaults = CobPolicy()
    return CobPolicy(
        bucket_edges=_ints("GRANARY_CREDIT_BUCKET_EDGES", defaults.bucket_edges),
        overdue_thresholds=_ints("GRANARY_CREDIT_OVERDUE_THRESHOLDS", defaults.overdue_thresholds),
        due_soon_days=int(os.environ.get("GRANARY_CREDIT_DUE_SOON_DAYS", defaults.due_soon_days)),
    )


def build(host: ServiceHost) -> ServiceApp:
    servicer = CreditServicer(uow=host.uow_factory(CreditUnitOfWork), policy=cob_policy())
    return ServiceApp(
        register=lambda server: credit_pb2_grpc.add_CreditServiceServicer_to_server(servicer, server),
        service_names=[credit_pb2.DESCRIPTOR.services_by_name["CreditService"].full_name],
        subscriptions=events.subscriptions(),
    )
