"""Composition root of the field task service."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from granary.v1 import fieldtask_pb2, fieldtask_pb2_grpc

from services.common.blobstore import local_store_for
from services.common.clock import utcnow
from services.common.identity import acting_as
from services.common.leader import LeaderLock
from services.common.runtime import ServiceApp, ServiceHost
from services.common.settings import FieldTaskSettings
from services.fieldtask import events, service
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


def build(host: ServiceHost) -> ServiceApp:
    settings = FieldTaskSettings()
    config = config_from(settings)
    store = local_store_for(host.settings.platform.var_dir, settings.blob_dir)
    uow = host.uow_factory(FieldTaskUnitOfWork)
    servicer = FieldTaskServicer(uow=uow, config=config, store=store, signer=host.signer)
    leader = LeaderLock(host.engine, "fieldtask-housekeeping")

    async def housekeeping(stop: asyncio.Event) -> None:
        """Expires overdue tasks and purges old location pings; one replica at a time."""
        while not stop.is_set():
            if await leader.is_leader():
                with acting_as(host.service_caller()):
                    now = utcnow()
                    while await service.expire_overdue_tasks(uow=uow(), caller=host.service_caller(), now=now):
                        pass
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
    )
