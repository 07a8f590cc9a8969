"""Composition root of the field task service."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from granary.v1 import customer_pb2_grpc, fieldtask_pb2, fieldtask_pb2_grpc

from services.common.blobstore import BlobStore, NatsObjectBlobStore, S3BlobStore, S3Location, local_store_for
from services.common.clock import utcnow
from services.common.identity import acting_as
from services.common.leader import LeaderLock
from services.common.runtime import ServiceApp, ServiceHost
from services.common.settings import FieldTaskSettings
from services.fieldtask import events, service
from services.fieldtask.customer import CustomerPartyLocator
from services.fieldtask.domain.trajectory import WorkingHours
from services.fieldtask.grpc_api import FieldTaskServicer
from services.fieldtask.service import FieldConfig, FieldTaskUnitOfWork

log = logging.getLogger(__name__)


def config_from(settings: FieldTaskSettings) -> FieldConfig:
    return FieldConfig(
        checkin_radius_m=settings.checkin_radius_m,
        evidence_max_bytes=settings.evidence_max_bytes,
        working_hours=WorkingHours.parse(settings.working_hours, settings.timezone),
        trajectory_retention_days=settings.trajectory_retention_days,
    )


def blob_store_from(
    settings: FieldTaskSettings, var_dir: Path, js: Callable[[], Any]
) -> tuple[BlobStore, Callable[[], Awaitable[None]] | None]:
    """The configured evidence store, and how to close it (None: nothing to close)."""
    if settings.blob_store == "nats":
        return NatsObjectBlobStore(js, settings.blob_nats_bucket), None
    if settings.blob_store == "s3":
        if not settings.blob_s3_bucket:
            raise RuntimeError("GRANARY_FIELDTASK_BLOB_S3_BUCKET must be set when GRANARY_FIELDTASK_BLOB_STORE=s3")
        s3 = S3BlobStore(
            S3Location(
                endpoint_url=settings.blob_s3_endpoint_url,
                bucket=settings.blob_s3_bucket,
                region=settings.blob_s3_region,
                access_key_id=settings.blob_s3_access_key_id,
                secret_access_key=settings.blob_s3_secret_access_key.get_secret_value(),
                prefix=settings.blob_s3_prefix,
            )
        )
        return s3, s3.close
    return local_store_for(var_dir, settings.blob_dir), None


def build(host: ServiceHost) -> ServiceApp:
    settings = FieldTaskSettings()
    config = config_from(settings)
    store, close_store = blob_store_from(settings, host.settings.platform.var_dir, lambda: host.bus.js)
    uow = host.uow_factory(FieldTaskUnitOfWork)
    locator = CustomerPartyLocator(
        host.channels.stub(host.address_of("customer"), customer_pb2_grpc.CustomerServiceStub)
    )
    servicer = FieldTaskServicer(uow=uow, config=config, store=store, locator=locator)
    leader = LeaderLock(host.engine, "fieldtask-housekeeping")

    async def housekeeping(stop: asyncio.Event) -> None:
        """Expires overdue tasks and purges old location pings; one replica at a time."""
        while not stop.is_set():
            if await leader.is_leader():
                with acting_as(host.service_caller()):
                    now = utcnow()
                    while await service.expire_overdue_tasks(uow=uow(), caller=host.service_caller(), now=now):
                        pass
                    await service.retry_pending_locations(
                        uow_factory=uow, caller=host.service_caller(), locator=locator
                    )
                    purged = await service.purge_trajectory(
                        uow=uow(), now=now, retention_days=config.trajectory_retention_days
                    )
                    if purged:
                        log.info(
                            "purged %d location pings older than %d days", purged, config.trajectory_retention_days
                        )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=settings.housekeeping_interval_seconds)
        await leader.release()

    return ServiceApp(
        register=lambda server: fieldtask_pb2_grpc.add_FieldTaskServiceServicer_to_server(servicer, server),
        service_names=[fieldtask_pb2.DESCRIPTOR.services_by_name["FieldTaskService"].full_name],
        subscriptions=events.subscriptions(),
        background_jobs=[housekeeping],
        on_stop=[close_store] if close_store else [],
    )
