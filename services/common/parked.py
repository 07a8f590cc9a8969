"""Operator tools for parked events: list them and replay one once its cause is fixed.

A replay republishes the original envelope; every consumer de-duplicates by event id, so
only the consumer that failed applies it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from services.common.bus import EventBus
from services.common.clock import as_utc, utcnow
from services.common.errors import FailedPrecondition, NotFound
from services.common.messaging_schema import parked_events


@dataclass(frozen=True)
class ParkedEvent:
    id: int
    consumer: str
    event_id: str
    event_type: str
    attempts: int
    error: str
    parked_at: datetime
    replayed_at: datetime | None
    replay_count: int


async def list_parked(engine: AsyncEngine, *, include_replayed: bool = False) -> list[ParkedEvent]:
    query = select(parked_events).order_by(parked_events.c.id)
    if not include_replayed:
        query = query.where(parked_events.c.replayed_at.is_(None))
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).mappings().all()
    return [
        ParkedEvent(
            id=r["id"],
            consumer=r["consumer"],
            event_id=r["event_id"],
            event_type=r["event_type"],
            attempts=r["attempts"],
            error=r["error"],
            parked_at=as_utc(r["parked_at"]),
            replayed_at=as_utc(r["replayed_at"]) if r["replayed_at"] else None,
            replay_count=r["replay_count"],
        )
        for r in rows
    ]


async def replay_parked(engine: AsyncEngine, bus: EventBus, parked_id: int) -> None:
    async with engine.connect() as conn:
        row = (
            (await conn.execute(select(parked_events).where(parked_events.c.id == parked_id))).mappings().first()
        )
    if row is None:
        raise NotFound(f"no parked event {parked_id}")
    if row["replayed_at"] is not None:
        raise FailedPrecondition(f"parked event {parked_id} was already replayed; it parks again if it fails")
    count = row["replay_count"] + 1
    headers = {
        **(row["headers"] or {}),
        # A fresh message id: the original may still sit in the stream's duplicate window.
        "Nats-Msg-Id": f"{row['event_id']}~replay~{parked_id}~{count}",
        "Granary-Replay-Of": str(parked_id),
    }
    await bus.publish(row["nats_subject"], row["payload"], headers)
    async with engine.begin() as conn:
        await conn.execute(
            update(parked_events)
            .where(parked_events.c.id == parked_id)
            .values(replayed_at=utcnow(), replay_count=count)
        )
