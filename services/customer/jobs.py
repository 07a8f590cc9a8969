"""Scheduled work of the customer service: the daily tier recompute, one replica at a time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import date, datetime, time

from services.common.clock import utcnow
from services.common.identity import Caller, acting_as
from services.common.leader import LeaderLock
from services.customer.domain.segmentation import TierRules
from services.customer.service import CustomerUnitOfWork, TierPass, recompute_all_tiers

log = logging.getLogger(__name__)


def parse_run_at(text: str) -> time | None:
    """``HH:MM`` in UTC (18:00 UTC is 02:00 in China, when nobody works); ``off`` disables it."""
    if text.strip().lower() == "off":
        return None
    hours, _, minutes = (text.strip() or "18:00").partition(":")
    return time(int(hours), int(minutes or 0))


class TierRecomputeJob:
    """Recomputes every customer's tiers once a day at ``run_at`` (UTC), on the leader replica.

    The day of the last pass is kept in memory: a replica that takes over leadership the same
    day runs the pass again, which changes nothing and emits no event (only changes do).
    """

    def __init__(
        self,
        *,
        uow_factory: Callable[[], CustomerUnitOfWork],
        leader: LeaderLock,
        caller: Callable[[], Caller],
        rules: TierRules,
        run_at: time | None,
        check_every_seconds: float = 60.0,
    ) -> None:
        self._uow_factory = uow_factory
        self._leader = leader
        self._caller = caller
        self._rules = rules
        self._run_at = run_at
        self._check_every = check_every_seconds
        self.last_run_on: date | None = None

    def due(self, now: datetime) -> bool:
        if self._run_at is None:
            return False
        return now.time() >= self._run_at and self.last_run_on != now.date()

    async def run_once(self) -> TierPass:
        """One pass over every customer (the scheduled work itself)."""
        caller = self._caller()
        with acting_as(caller):
            outcome = await recompute_all_tiers(uow_factory=self._uow_factory, caller=caller, rules=self._rules)
        log.info("tier recompute: %d customers, %d changed", outcome.parties, outcome.changed)
        return outcome

    async def tick(self, now: datetime | None = None) -> TierPass | None:
        """Runs the pass when it is due and this replica leads; None otherwise."""
        now = now or utcnow()
        if not self.due(now) or not await self._leader.is_leader():
            return None
        outcome = await self.run_once()
        self.last_run_on = now.date()
        return outcome

    async def release(self) -> None:
        await self._leader.release()

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                await self.tick()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self._check_every)
        finally:
            await self._leader.release()
