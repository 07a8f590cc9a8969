"""Durable JetStream consumers that apply each event once.

For every message: an inbox row (consumer, event id) is inserted in the same transaction as
the handler's effect, the transaction commits, then the message is acked. A redelivery whose
inbox row exists is acked without running the handler. A failing handler is retried with
exponential backoff (``nak(delay)``); after ``max_deliveries`` the message is parked in the
service's database for an operator (``granary events parked|replay``) and terminated. A
transient failure (a service or the database unreachable) is retried however often it takes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import grpc
from granary.v1 import events_pb2
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from opentelemetry import propagate, trace
from sqlalchemy import insert
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.bus import EventBus
from services.common.clock import utcnow
from services.common.db import insert_once
from services.common.envelope import parse_event
from services.common.errors import DomainError
from services.common.grpc_errors import TRANSIENT_STATUSES, RemoteError
from services.common.identity import Caller, acting_as
from services.common.messaging_schema import inbox, parked_events
from services.common.telemetry import tracer
from services.common.uow import UnitOfWork

log = logging.getLogger(__name__)

Handler = Callable[[events_pb2.Event, UnitOfWork], Awaitable[None]]
Guard = Callable[[events_pb2.Event], Awaitable[bool]]
AfterCommit = Callable[[events_pb2.Event], Awaitable[None]]


@dataclass(frozen=True)
class Subscription:
    """One handler for one event type, under a durable consumer name unique per service.

    ``guard``, when given, runs before the transaction: it may ask another service whether
    the event still calls for the handler (a remote call must not hold a database transaction
    open). False records the event as applied with no effect; an exception retries it.
    """

    durable: str
    event_type: str
    handler: Handler
    guard: Guard | None = None


def is_transient(exc: BaseException) -> bool:
    """True for failures that a later attempt can overcome without anyone changing anything."""
    if isinstance(exc, RemoteError | DomainError):
        return exc.status in TRANSIENT_STATUSES
    if isinstance(exc, grpc.aio.AioRpcError):
        return exc.code().name in TRANSIENT_STATUSES
    if isinstance(exc, DBAPIError):
        return exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError)
    return isinstance(exc, ConnectionError | TimeoutError)


def backoff_delay(attempt: int, base_seconds: float, cap_seconds: float = 60.0) -> float:
    return min(cap_seconds, base_seconds * 2 ** max(0, attempt - 1))


async def claim_inbox(session: AsyncSession, consumer: str, envelope: events_pb2.Event) -> bool:
    """Records the event as applied by this consumer; False when it already was."""
    values = {
        "consumer": consumer,
        "event_id": envelope.id,
        "event_type": envelope.type,
        "processed_at": utcnow(),
    }
    return await insert_once(session, inbox, values)


class EventConsumer:
    def __init__(
        self,
        *,
        bus: EventBus,
        uow_factory: Callable[[], UnitOfWork],
        subscription: Subscription,
        caller: Callable[[], Caller],
        max_deliveries: int,
        ack_wait_seconds: float,
        backoff_seconds: float,
        after_commit: AfterCommit | None = None,
    ) -> None:
        self._bus = bus
        self._uow_factory = uow_factory
        self.subscription = subscription
        self._caller = caller
        self._max_deliveries = max_deliveries
        self._ack_wait = ack_wait_seconds
        self._backoff = backoff_seconds
        self._after_commit = after_commit

    @property
    def durable(self) -> str:
        return self.subscription.durable

    async def run(self, stop: asyncio.Event) -> None:
        config = ConsumerConfig(
            durable_name=self.durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=self._ack_wait,
            # Parking is ours: JetStream must keep redelivering until we decide.
            max_deliver=-1,
            filter_subject=self._bus.subject_for(self.subscription.event_type),
        )
        psub = await self._bus.js.pull_subscribe(
            self._bus.subject_for(self.subscription.event_type),
            durable=self.durable,
            stream=self._bus.stream,
            config=config,
        )
        try:
            while not stop.is_set():
                try:
                    messages = await psub.fetch(batch=20, timeout=1)
                except (NatsTimeoutError, TimeoutError):  # an idle fetch ends this way
                    continue
                except Exception:
                    log.warning("fetch failed for %s; retrying", self.durable, exc_info=True)
                    await asyncio.sleep(1)
                    continue
                for msg in messages:
                    await self.process(msg)
        finally:
            # Unsubscribing a pull subscription keeps the durable consumer on the server.
            await psub.unsubscribe()

    async def process(self, msg: Msg) -> None:
        try:
            envelope = parse_event(msg.data)
        except Exception as exc:
            # An unreadable message can never succeed: park it at once.
            await self._park(msg, None, f"undecodable message: {exc}")
            return
        context = propagate.extract(dict(msg.headers or {}))
        with tracer().start_as_current_span(
            f"consume {envelope.type}",
            context=context,
            kind=trace.SpanKind.CONSUMER,
            attributes={
                "messaging.system": "nats",
                "messaging.destination.name": msg.subject,
                "messaging.message.id": envelope.id,
                "messaging.consumer.group.name": self.durable,
            },
        ) as span:
            try:
                with acting_as(self._caller()):
                    guard = self.subscription.guard
                    wanted = True if guard is None else await guard(envelope)
                    async with self._uow_factory() as uow:
                        if not await claim_inbox(uow.session, self.durable, envelope):
                            span.set_attribute("granary.duplicate", True)
                        elif wanted:
                            await self.subscription.handler(envelope, uow)
                        else:
                            span.set_attribute("granary.skipped", True)
                        await uow.commit()
                if self._after_commit is not None:
                    await self._after_commit(envelope)
                await msg.ack()
            except Exception as exc:
                span.record_exception(exc)
                span.set_status(trace.Status(trace.StatusCode.ERROR, str(exc)))
                attempts = msg.metadata.num_delivered or 1
                if is_transient(exc):
                    # A dependency that is down (a service restarting, the database failing
                    # over) is waited for, however long: parking is for events that cannot
                    # succeed as they are, and would need an operator for nothing.
                    delay = backoff_delay(attempts, self._backoff)
                    log.warning(
                        "%s cannot apply event %s yet (delivery %d): %s; retrying in %.1fs",
                        self.durable, envelope.id, attempts, exc, delay,
                    )
                    await msg.nak(delay=delay)
                elif attempts >= self._max_deliveries:
                    await self._park(msg, envelope, f"{type(exc).__name__}: {exc}")
                else:
                    delay = backoff_delay(attempts, self._backoff)
                    log.warning(
                        "%s failed on event %s (delivery %d); retrying in %.1fs",
                        self.durable, envelope.id, attempts, delay, exc_info=True,
                    )
                    await msg.nak(delay=delay)

    async def _park(self, msg: Msg, envelope: events_pb2.Event | None, error: str) -> None:
        attempts = msg.metadata.num_delivered or 1
        async with self._uow_factory() as uow:
            await uow.session.execute(
                insert(parked_events).values(
                    consumer=self.durable,
                    event_id=envelope.id if envelope else (msg.headers or {}).get("Nats-Msg-Id", "?"),
                    event_type=envelope.type if envelope else msg.subject,
                    nats_subject=msg.subject,
                    payload=msg.data,
                    headers=dict(msg.headers or {}),
                    attempts=attempts,
                    error=error[:4000],
                    parked_at=utcnow(),
                )
            )
            await uow.commit()
        log.error("%s parked event on %s after %d deliveries: %s", self.durable, msg.subject, attempts, error)
        await msg.term()
