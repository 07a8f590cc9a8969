"""The event plumbing on real PostgreSQL and NATS: outbox, relay, consumer, inbox, parking."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from google.protobuf.wrappers_pb2 import StringValue
from granary.v1 import events_pb2
from nats.js.errors import NotFoundError
from sqlalchemy import Column, MetaData, String, Table, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.common import messaging_schema
from services.common.bus import EventBus
from services.common.consumer import EventConsumer, Guard, Subscription
from services.common.db import create_engine, session_factory
from services.common.errors import FailedPrecondition
from services.common.grpc_errors import RemoteError
from services.common.identity import TokenSigner
from services.common.parked import list_parked, replay_parked
from services.common.relay import OutboxRelay
from services.common.uow import UnitOfWork
from tests.support import BusNamespace, SimulatedCrash, eventually

pytestmark = pytest.mark.integration

EVENT_TYPE = "test.thing.happened"
test_metadata = MetaData()
effects = Table("effects", test_metadata, Column("event_id", String(36), nullable=False))


@dataclass
class Rig:
    engine: AsyncEngine
    bus: EventBus
    signer: TokenSigner
    broken: bool = False
    unavailable_for: int = 0  # deliveries during which a service the handler calls is down
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(session_factory(self.engine), source="test")

    def relay(self, **kwargs: object) -> OutboxRelay:
        return OutboxRelay(engine=self.engine, bus=self.bus, name="test", interval_seconds=0.1, **kwargs)  # type: ignore[arg-type]

    async def handler(self, event: events_pb2.Event, uow: UnitOfWork) -> None:
        if self.broken:
            raise RuntimeError("downstream system rejected the event")
        if self.unavailable_for > 0:
            self.unavailable_for -= 1
            raise RemoteError(status="UNAVAILABLE", message="failed to connect to all addresses")
        await uow.session.execute(insert(effects).values(event_id=event.id))

    def consumer(self, guard: Guard | None = None, **kwargs: object) -> EventConsumer:
        options: dict[str, object] = {
            "max_deliveries": 3,
            "ack_wait_seconds": 1.0,
            "backoff_seconds": 0.1,
        }
        options.update(kwargs)
        return EventConsumer(
            bus=self.bus,
            uow_factory=self.uow,
            subscription=Subscription(durable="test-effects", event_type=EVENT_TYPE, handler=self.handler, guard=guard),
            caller=lambda: self.signer.service_caller("test"),
            **options,  # type: ignore[arg-type]
        )

    def start(self, component: OutboxRelay | EventConsumer) -> asyncio.Task[None]:
        task = asyncio.create_task(component.run(self.stop))
        self.tasks.append(task)
        return task

    async def effect_count(self) -> int:
        async with self.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(effects))).scalar_one())

    async def outbox_unpublished(self) -> int:
        async with self.engine.connect() as conn:
            query = select(func.count()).where(messaging_schema.outbox.c.published_at.is_(None))
            return int((await conn.execute(query)).scalar_one())

    async def stream_messages(self) -> int:
        try:
            info = await self.bus.js.stream_info(self.bus.stream)
        except NotFoundError:
            return 0
        return int(info.state.messages)

    async def record_event(self, text: str = "hello") -> str:
        async with self.uow() as uow:
            event_id = uow.record(EVENT_TYPE, "thing-1", StringValue(value=text))
            await uow.commit()
        return event_id


@pytest.fixture
async def rig(new_database, bus_namespace: BusNamespace) -> AsyncIterator[Rig]:  # type: ignore[no-untyped-def]
    engine = create_engine(await new_database())
    async with engine.begin() as conn:
        await conn.run_sync(messaging_schema.metadata.create_all)
        await conn.run_sync(test_metadata.create_all)
    bus = EventBus(
        url=bus_namespace.url,
        stream=bus_namespace.stream,
        duplicate_window_seconds=120,
        subject_prefix=bus_namespace.subject_prefix,
        name="test",
    )
    await bus.connect()
    rig = Rig(engine=engine, bus=bus, signer=TokenSigner("k" * 40))
    yield rig
    rig.stop.set()
    await asyncio.gather(*rig.tasks, return_exceptions=True)
    await bus.close()
    await engine.dispose()


async def test_rolled_back_transaction_publishes_nothing(rig: Rig) -> None:
    async with rig.uow() as uow:
        uow.record(EVENT_TYPE, "thing-1", StringValue(value="never"))
        # leaving without commit() is a rollback
    with pytest.raises(ZeroDivisionError):
        async with rig.uow() as uow:
            uow.record(EVENT_TYPE, "thing-2", StringValue(value="never"))
            raise ZeroDivisionError  # a use case failing half-way
    assert await rig.relay().publish_pending() == 0
    assert await rig.stream_messages() == 0

    # the same path with a commit does publish, so the zero above means something
    await rig.record_event()
    assert await rig.relay().publish_pending() == 1
    assert await rig.stream_messages() == 1


async def test_relay_killed_after_publishing_before_marking_yields_one_event(rig: Rig) -> None:
    event_id = await rig.record_event()

    async def die(_rows: object) -> None:
        raise SimulatedCrash

    with pytest.raises(SimulatedCrash):
        await rig.relay(after_publish=die).publish_pending()
    assert await rig.outbox_unpublished() == 1, "the row must still look unpublished"
    assert await rig.stream_messages() == 1

    # a fresh relay (the restarted process) publishes it again
    rig.start(rig.relay())
    await eventually(lambda: _is_zero(rig.outbox_unpublished()))
    assert await rig.stream_messages() == 1, "Nats-Msg-Id de-duplicated the republished event"

    rig.start(rig.consumer())
    await eventually(lambda: _equals(rig.effect_count(), 1))
    await asyncio.sleep(1.5)  # longer than ack_wait: a redelivery would show now
    assert await rig.effect_count() == 1
    async with rig.engine.connect() as conn:
        applied = (await conn.execute(select(effects.c.event_id))).scalars().all()
    assert applied == [event_id]


async def test_consumer_crash_after_commit_before_ack_applies_once(rig: Rig) -> None:
    await rig.record_event()
    await rig.relay().publish_pending()

    async def die(_event: events_pb2.Event) -> None:
        raise SimulatedCrash

    crashed = rig.start(rig.consumer(after_commit=die))
    await eventually(lambda: _task_done(crashed))
    assert isinstance(crashed.exception(), SimulatedCrash)
    assert await rig.effect_count() == 1, "the effect was committed before the crash"

    # the restarted consumer gets the unacked message again after ack_wait
    rig.start(rig.consumer())
    info_check = _consumer_settled(rig)
    await eventually(info_check)
    assert await rig.effect_count() == 1


async def test_poison_message_is_parked_then_replayed_once_fixed(rig: Rig) -> None:
    rig.broken = True
    event_id = await rig.record_event()
    await rig.relay().publish_pending()
    rig.start(rig.consumer(max_deliveries=3))

    async def parked() -> bool:
        return len(await list_parked(rig.engine)) == 1

    await eventually(parked)
    [entry] = await list_parked(rig.engine)
    assert entry.event_id == event_id
    assert entry.attempts == 3
    assert entry.consumer == "test-effects"
    assert "downstream system rejected" in entry.error
    assert await rig.effect_count() == 0

    rig.broken = False  # the operator fixed the cause
    await replay_parked(rig.engine, rig.bus, entry.id)
    await eventually(lambda: _equals(rig.effect_count(), 1))
    assert await list_parked(rig.engine) == []
    [replayed] = await list_parked(rig.engine, include_replayed=True)
    assert replayed.replay_count == 1
    with pytest.raises(FailedPrecondition):
        await replay_parked(rig.engine, rig.bus, entry.id)
    await asyncio.sleep(1.5)
    assert await rig.effect_count() == 1


async def test_a_dependency_down_longer_than_the_delivery_limit_parks_nothing(rig: Rig) -> None:
    # Down for twice the deliveries after which a failing event would be parked.
    rig.unavailable_for = 6
    await rig.record_event()
    await rig.relay().publish_pending()
    rig.start(rig.consumer(max_deliveries=3, backoff_seconds=0.05))

    await eventually(lambda: _equals(rig.effect_count(), 1), timeout=30)
    assert rig.unavailable_for == 0
    assert await list_parked(rig.engine) == []


async def test_a_guard_decides_outside_the_transaction_whether_the_handler_runs(rig: Rig) -> None:
    asked: list[tuple[str, bool]] = []

    async def still_wanted(event: events_pb2.Event) -> bool:
        payload = StringValue()
        event.data.Unpack(payload)
        # No transaction of the consumer is open while the guard asks (e.g. another service).
        async with rig.engine.connect() as conn:
            open_transactions = await conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND state LIKE 'idle in transaction%'"
                )
            )
        asked.append((payload.value, open_transactions == 0))
        return payload.value != "withdrawn"

    skipped = await rig.record_event("withdrawn")
    applied = await rig.record_event("still wanted")
    await rig.relay().publish_pending()
    rig.start(rig.consumer(guard=still_wanted))

    await eventually(lambda: _equals(rig.effect_count(), 1))
    async with rig.engine.connect() as conn:
        effects_applied = (await conn.execute(select(effects.c.event_id))).scalars().all()
        inbox_rows = (await conn.execute(select(messaging_schema.inbox.c.event_id))).scalars().all()
    assert effects_applied == [applied]
    assert sorted(inbox_rows) == sorted([skipped, applied])  # the skipped one is done with, not retried
    assert asked == [("withdrawn", True), ("still wanted", True)]
    assert await list_parked(rig.engine) == []


async def test_undecodable_message_is_parked_at_once(rig: Rig) -> None:
    await rig.bus.publish(rig.bus.subject_for(EVENT_TYPE), b"not a protobuf envelope", {"Nats-Msg-Id": "junk-1"})
    rig.start(rig.consumer())

    async def parked() -> bool:
        return len(await list_parked(rig.engine)) == 1

    await eventually(parked)
    [entry] = await list_parked(rig.engine)
    assert entry.attempts == 1
    assert "undecodable" in entry.error


async def test_redelivered_event_with_a_new_message_id_is_applied_once(rig: Rig) -> None:
    await rig.record_event()
    await rig.relay().publish_pending()
    rig.start(rig.consumer())
    await eventually(lambda: _equals(rig.effect_count(), 1))
    # a producer that re-sends after the stream's duplicate window looks like this
    async with rig.engine.connect() as conn:
        payload = (await conn.execute(select(messaging_schema.outbox.c.payload))).scalar_one()
    await rig.bus.publish(rig.bus.subject_for(EVENT_TYPE), payload, {"Nats-Msg-Id": "resent-later"})
    await eventually(_consumer_settled(rig))
    assert await rig.effect_count() == 1


async def _is_zero(value: object) -> bool:
    return await value == 0  # type: ignore[misc]


async def _equals(value: object, expected: int) -> bool:
    return await value == expected  # type: ignore[misc]


async def _task_done(task: asyncio.Task[None]) -> bool:
    return task.done()


def _consumer_settled(rig: Rig):  # type: ignore[no-untyped-def]
    async def consumer_settled() -> bool:
        info = await rig.bus.js.consumer_info(rig.bus.stream, "test-effects")
        return info.num_ack_pending == 0 and info.num_pending == 0 and info.delivered.stream_seq >= 1

    return consumer_settled
