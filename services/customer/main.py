"""Composition root of the customer service."""

from __future__ import annotations

import os

from granary.v1 import customer_pb2, customer_pb2_grpc

from services.common.crypto import FieldCipher
from services.common.leader import LeaderLock
from services.common.runtime import ServiceApp, ServiceHost
from services.customer import events
from services.customer.domain.segmentation import TierRules
from services.customer.grpc_api import CustomerServicer
from services.customer.jobs import TierRecomputeJob, parse_run_at
from services.customer.remote import RemoteViewSources
from services.customer.service import CustomerUnitOfWork


def build(host: ServiceHost) -> ServiceApp:
    key = host.settings.platform.field_encryption_key.get_secret_value()
    if not key:
        raise RuntimeError("GRANARY_FIELD_ENCRYPTION_KEY must be set (base64 of 32 random bytes)")
    rules_json = os.environ.get("GRANARY_CUSTOMER_TIER_RULES", "")
    rules = TierRules.from_json(rules_json) if rules_json else TierRules()
    uow = host.uow_factory(CustomerUnitOfWork)
    servicer = CustomerServicer(
        uow=uow,
        cipher=FieldCipher(key),
        sources=RemoteViewSources(channels=host.channels, address_of=host.address_of),
        tier_rules=rules,
    )
    tiers = TierRecomputeJob(
        uow_factory=uow,
        leader=LeaderLock(host.engine, "customer-tier-recompute"),
        caller=host.service_caller,
        rules=rules,
        run_at=parse_run_at(os.environ.get("GRANARY_CUSTOMER_TIER_RECOMPUTE_AT", "18:00")),
    )
    return ServiceApp(
        register=lambda server: customer_pb2_grpc.add_CustomerServiceServicer_to_server(servicer, server),
        service_names=[customer_pb2.DESCRIPTOR.services_by_name["CustomerService"].full_name],
        subscriptions=events.subscriptions(),
        background_jobs=[tiers.run],
    )
