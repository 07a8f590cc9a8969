"""The outbox relay: publishes committed events to JetStream in commit order.

Publishing uses the event id as ``Nats-Msg-Id``, so a relay that dies after publishing but
before marking the rows republishes them and the stream stores each event once; consumers
de-duplicate as well (inbox), covering republishing after the stream's duplicate window.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from services.common.bus import EventBus
from services.common.clock import utcnow
from services.common.leader import LeaderLock
from services.common.messaging_schema import outbox

log = logging.getLogger(__name__)

AfterPublish = Callable[[Sequence[Any]], Awaitable[None]]


class OutboxRelay:
    def __init__(
        self,
        *,
        engine: AsyncEngine,
        bus: EventBus,
        name: str,
        interval_seconds: float = 0.5,
        batch_size: int = 200,
        after_publish: AfterPublish | None = None,
    ) -> None:
        self._engine = engine
        self._bus = bus
        self._interval = interval_seconds
        self._batch_size = batch_size
        self._after_publish = after_publish
        self._wake = asyncio.Event()
        self._leader = LeaderLock(engine, f"granary-outbox-relay:{name}")

    def wake(self) -> None:
        """Called after a local commit wrote events, so they leave without waiting a poll."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        failures = 0
        try:
            while not stop.is_set():
                published = 0
                try:
                    if await self._leader.is_leader():
                        published = await self.publish_pending()
                    failures = 0
                except Exception:
                    failures += 1
                    log.warning("outbox relay failed (attempt %d); retrying", failures, exc_info=True)
                if published >= self._batch_size:
                    continue  # more are waiting
                delay = self._interval if failures == 0 else min(30.0, self._interval * 2**failures)
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(_first(self._wake, stop), timeout=delay)
        finally:
            await self._leader.release()

    async def publish_pending(self) -> int:
        """Publishes one batch of unpublished events; returns how many."""
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(outbox.c.seq, outbox.c.event_id, outbox.c.event_type, outbox.c.payload, outbox.c.headers)
                    .where(outbox.c.published_at.is_(None))
                    .order_by(outbox.c.seq)
                    .limit(self._batch_size)
                )
            ).all()
        if not rows:
            return 0
        for row in rows:
            headers = {**(row.headers or {}), "Nats-Msg-Id": row.event_id}
            await self._bus.publish(self._bus.subject_for(row.event_type), row.payload, headers)
        if self._after_publish is not None:
            await self._after_publish(rows)
        async with self._engine.begin() as conn:
            await conn.execute(
                update(outbox).where(outbox.c.seq.in_([r.seq for r in rows])).values(published_at=utcnow())
            )
        return len(rows)


async def _first(*events: asyncio.Event) -> None:
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
