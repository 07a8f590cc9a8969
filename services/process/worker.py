"""The process service's background loops: due timers and service-task calls.

Both poll every ``interval`` seconds (timers fire well within 2 s of their due time) and
claim work with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several replicas share it and
each timer fires once. Service calls are made between two transactions: the job is leased,
the operator is called with the job's idempotency key, and the reply completes the task in a
new transaction (or the failure is recorded, retried with backoff, then raised as an incident).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from services.common.settings import ProcessSettings
from services.process import service
from services.process.operators import OperatorRegistry
from services.process.service import ProcessUnitOfWork, SpecCache

log = logging.getLogger(__name__)


@dataclass
class WorkerSettings:
    interval_seconds: float = 0.2
    max_attempts: int = 3
    backoff_seconds: float = 1.0
    lease_seconds: float = 15.0

    @classmethod
    def from_settings(cls, settings: ProcessSettings, call_deadline_seconds: float) -> WorkerSettings:
        return cls(
            interval_seconds=settings.poll_interval_seconds,
            max_attempts=settings.job_max_attempts,
            backoff_seconds=settings.job_retry_base_seconds,
            lease_seconds=settings.job_lease_for(call_deadline_seconds),
        )


class ProcessWorker:
    def __init__(
        self,
        *,
        uow: Callable[[], ProcessUnitOfWork],
        specs: SpecCache,
        operators: OperatorRegistry,
        settings: WorkerSettings | None = None,
    ) -> None:
        self._uow = uow
        self._specs = specs
        self.operators = operators
        self.settings = settings or WorkerSettings()

    async def run_timers(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            fired = 0
            try:
                fired = await service.fire_due_timers(uow=self._uow(), specs_cache=self._specs)
            except Exception:
                log.warning("timer pass failed; retrying", exc_info=True)
            if fired:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.settings.interval_seconds)

    async def run_jobs(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            done = 0
            try:
                done = await self.run_due_jobs()
            except Exception:
                log.warning("service job pass failed; retrying", exc_info=True)
            if done:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.settings.interval_seconds)

    async def run_due_jobs(self) -> int:
        jobs = await service.claim_due_jobs(uow=self._uow(), lease=timedelta(seconds=self.settings.lease_seconds))
        await asyncio.gather(*(self._run(job) for job in jobs))
        return len(jobs)

    async def _run(self, job: service.ClaimedJob) -> None:
        try:
            result = await self.operators.call(job.operator, job.params, job.idempotency_key)
        except Exception as exc:  # any failure of the call is retried, then an incident
            error = f"{type(exc).__name__}: {getattr(exc, 'message', None) or exc}"
            await service.fail_job(
                uow=self._uow(),
                job_id=job.id,
                error=error,
                max_attempts=self.settings.max_attempts,
                backoff_seconds=self.settings.backoff_seconds,
            )
            return
        await service.complete_job(uow=self._uow(), specs_cache=self._specs, job_id=job.id, result=result)
