"""Hosting one service process: database, event bus, relay, consumers, gRPC server, shutdown.

Each service's ``main.build(host)`` returns a ``ServiceApp`` (its servicer and subscriptions);
``ServiceHost`` wires everything else the same way for every service.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import grpc
from granary.v1 import audit_pb2, audit_pb2_grpc

from services.common.audit_api import AuditServicer
from services.common.audit_witness import AuditWitness, WitnessJob, witness_bucket
from services.common.bus import EventBus
from services.common.consumer import AfterCommit, EventConsumer, Subscription
from services.common.db import create_engine, is_sqlite, session_factory
from services.common.grpc_client import ServiceChannels
from services.common.grpc_server import GrpcServer
from services.common.idempotency import IdempotencyStore
from services.common.identity import ServiceIdentity, TokenSigner
from services.common.relay import AfterPublish, OutboxRelay
from services.common.settings import Settings
from services.common.telemetry import setup_tracing, shutdown_tracing
from services.common.uow import UnitOfWork

log = logging.getLogger(__name__)

UowT = TypeVar("UowT", bound=UnitOfWork)
BackgroundJob = Callable[[asyncio.Event], Awaitable[None]]


@dataclass
class ServiceApp:
    """What a service contributes; the host supplies the rest."""

    register: Callable[[grpc.aio.Server], None]
    service_names: Sequence[str]
    subscriptions: Sequence[Subscription] = ()
    background_jobs: Sequence[BackgroundJob] = ()
    on_stop: Sequence[Callable[[], Awaitable[None]]] = field(default_factory=list)


class ServiceHost:
    def __init__(
        self,
        name: str,
        settings: Settings,
        *,
        grpc_port: int | None = None,
        relay_after_publish: AfterPublish | None = None,
        consumer_after_commit: AfterCommit | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.service_settings = settings.service(name)
        if grpc_port is not None:
            self.service_settings.grpc_port = grpc_port
        platform = settings.platform
        if platform.env == "prod" and is_sqlite(self.service_settings.database_url):
            raise RuntimeError(
                f"GRANARY_{name.upper()}_DATABASE_URL is SQLite while GRANARY_ENV=prod: "
                "production runs on PostgreSQL (set GRANARY_ENV=dev for a local run)"
            )
        self.signer = TokenSigner(platform.require_jwt_secret())
        self.service_caller = ServiceIdentity(self.signer, name)
        self.engine = create_engine(self.service_settings.database_url)
        self.sessions = session_factory(self.engine)
        self.bus = EventBus.from_settings(platform, name)
        self.relay = OutboxRelay(
            engine=self.engine,
            bus=self.bus,
            name=name,
            interval_seconds=platform.relay_interval_seconds,
            after_publish=relay_after_publish,
        )
        self.channels = ServiceChannels(
            default_timeout=platform.grpc_deadline_seconds, fallback_caller=self.service_caller
        )
        self._consumer_after_commit = consumer_after_commit
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._server: GrpcServer | None = None
        self._app: ServiceApp | None = None
        self.audit_witness: AuditWitness | None = None
        self.port = 0

    def uow_factory(self, uow_type: type[UowT]) -> Callable[[], UowT]:
        def make() -> UowT:
            return uow_type(self.sessions, source=self.name, on_commit=self.relay.wake)

        return make

    def address_of(self, service: str) -> str:
        return self.settings.service(service).address

    async def start(self, app: ServiceApp) -> int:
        setup_tracing(self.name, self.settings.platform.otel_exporter)
        self._app = app
        await self.bus.connect()
        platform = self.settings.platform
        self.audit_witness = AuditWitness(self.bus.js, bucket=witness_bucket(self.bus.stream), service=self.name)
        audit = AuditServicer(self.engine, self.audit_witness)

        def register(server: grpc.aio.Server) -> None:
            app.register(server)
            audit_pb2_grpc.add_AuditServiceServicer_to_server(audit, server)

        self._server = GrpcServer(
            host=self.service_settings.grpc_host,
            port=self.service_settings.grpc_port,
            signer=self.signer,
            register=register,
            service_names=[*app.service_names, audit_pb2.DESCRIPTOR.services_by_name["AuditService"].full_name],
            idempotency_store=IdempotencyStore(self.engine),
        )
        self.port = self._server.port
        uow = self.uow_factory(UnitOfWork)
        witness_job = WitnessJob(
            self.audit_witness, self.engine, interval_seconds=platform.audit_witness_interval_seconds
        )
        jobs: list[BackgroundJob] = [self.relay.run, witness_job.run, *app.background_jobs]
        for subscription in app.subscriptions:
            consumer = EventConsumer(
                bus=self.bus,
                uow_factory=uow,
                subscription=subscription,
                caller=self.service_caller,
                max_deliveries=platform.consumer_max_deliveries,
                ack_wait_seconds=platform.consumer_ack_wait_seconds,
                backoff_seconds=platform.consumer_backoff_seconds,
                after_commit=self._consumer_after_commit,
            )
            jobs.append(consumer.run)
        for job in jobs:
            self._tasks.append(asyncio.create_task(self._supervise(job), name=f"{self.name}:{job}"))
        await self._server.start()
        await self._server.set_serving(True)
        log.info("%s serving gRPC on %s:%d", self.name, self.service_settings.grpc_host, self.port)
        return self.port

    async def _supervise(self, job: BackgroundJob) -> None:
        """Keeps a background job alive: a crash is logged and the job restarted after a pause."""
        while not self._stop.is_set():
            try:
                await job(self._stop)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background job %s of %s crashed; restarting in 1 s", job, self.name)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=1)

    async def stop(self) -> None:
        grace = self.settings.platform.shutdown_grace_seconds
        self._stop.set()
        if self._server is not None:
            await self._server.stop(grace)
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for hook in self._app.on_stop if self._app else ():
            await hook()
        await self.channels.close()
        await self.bus.close()
        await self.engine.dispose()
        shutdown_tracing()
        log.info("%s stopped", self.name)


async def serve_until_signalled(host: ServiceHost, app: ServiceApp) -> None:
    """Runs until SIGTERM or SIGINT, then shuts down gracefully."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await host.start(app)
    await stop.wait()
    log.info("%s received a stop signal; draining", host.name)
    await host.stop()
