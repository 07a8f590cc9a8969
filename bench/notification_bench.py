"""Notification benchmarks: rule evaluation, template rendering, and rules → queued messages
→ dispatched SMS through the log channel on a fresh SQLite database (the seeded rules).

Prints throughput, p50/p99 per item and peak Python memory (tracemalloc).

    .venv/bin/python bench/notification_bench.py [--events 2000] [--evaluations 200000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import tracemalloc
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.common.db import create_engine, session_factory
from services.common.migrations import upgrade_async
from services.notification.connectors.sms import LogSmsConnector
from services.notification.domain import expressions, templates
from services.notification.domain.ports import Contact
from services.notification.domain.protections import Limits, QuietHours
from services.notification.service import DispatchConfig, Dispatcher, IncomingEvent, NotificationUnitOfWork, apply_rules


class BenchDirectory:
    """Answers from memory: the benchmark measures this service, not the customer service."""

    async def party_contact(self, party_id: str) -> Contact:
        return Contact(party_id, "王建国", "+8613800138000")

    async def staff_contact(self, staff_id: str) -> Contact:
        return Contact(staff_id, "李经理", "+8613900139000")

    async def staff_with_role(self, branch_id: str, role: str) -> list[str]:
        return ["s1", "s2"]

    async def has_consent(self, party_id: str, purpose: str) -> bool:
        return True


class BenchTasks:
    async def create(self, order: object) -> str:
        return str(uuid.uuid4())


def _report(name: str, samples: list[float], total: float) -> None:
    samples.sort()
    p50 = statistics.median(samples) * 1e6
    p99 = samples[int(len(samples) * 0.99) - 1] * 1e6
    print(f"{name:<28} {len(samples) / total:>12,.0f}/s   p50 {p50:8.1f} µs   p99 {p99:8.1f} µs")


def bench_domain(n: int) -> None:
    data = {"dpd": 5, "overdue_amount": "1200.50", "bucket": "M1", "summary": {"score": "650"}}
    tree = expressions.parse('dpd > 3 and overdue_amount >= 1000 and bucket in ["M1", "M2"]')
    samples = []
    start = time.perf_counter()
    for _ in range(n):
        t = time.perf_counter()
        expressions.evaluate(tree, data)
        samples.append(time.perf_counter() - t)
    _report("condition evaluation", samples, time.perf_counter() - start)
    body = "尊敬的{customer_name}，您的贷款已逾期{dpd}天，逾期金额{overdue_amount}元，请尽快还款。"
    values = {"customer_name": "王建国", "dpd": "5", "overdue_amount": "1200.50"}
    samples = []
    start = time.perf_counter()
    for _ in range(n):
        t = time.perf_counter()
        templates.render(body, values)
        samples.append(time.perf_counter() - t)
    _report("template rendering", samples, time.perf_counter() - start)


async def bench_pipeline(events: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'notification.db'}"
        await upgrade_async("notification", url)
        engine = create_engine(url)
        sessions = session_factory(engine)

        def uow() -> NotificationUnitOfWork:
            return NotificationUnitOfWork(sessions, source="notification")

        samples = []
        start = time.perf_counter()
        now = datetime.now(UTC)
        for i in range(events):
            event = IncomingEvent(
                id=str(uuid.uuid4()), type="credit.loan.overdue", subject=f"L{i}", time=now,
                data={"loan_id": f"L{i}", "party_id": f"P{i}", "managing_officer_id": "S1", "branch_id": "B1",
                      "dpd": 5, "overdue_amount": "1200.50", "bucket": "M1"},
            )
            t = time.perf_counter()
            async with uow() as unit:
                await apply_rules(unit, event)
                await unit.commit()
            samples.append(time.perf_counter() - t)
        _report("event → rules → queued", samples, time.perf_counter() - start)

        dispatcher = Dispatcher(
            uow=uow, directory=BenchDirectory(), field_tasks=BenchTasks(), sms=LogSmsConnector(),
            config=DispatchConfig(quiet_hours=QuietHours.parse("00:00-00:00", "Asia/Shanghai"),
                                  limits=Limits(100, 1000, 10000), batch=200),
        )
        import logging

        logging.getLogger("services.notification.connectors.sms").setLevel(logging.WARNING)
        start = time.perf_counter()
        sent = 0
        later = datetime.now(UTC) + timedelta(seconds=1)
        while True:
            report = await dispatcher.dispatch_once(later)
            done = sum(report.messages.values()) + sum(report.tasks.values())
            if not done:
                break
            sent += report.messages.get("sent", 0)
        total = time.perf_counter() - start
        print(f"{'dispatch (SMS + tasks)':<28} {2 * events / total:>12,.0f} items/s   {sent} SMS sent in {total:.2f} s")
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--evaluations", type=int, default=200_000)
    args = parser.parse_args()
    tracemalloc.start()
    bench_domain(args.evaluations)
    asyncio.run(bench_pipeline(args.events))
    _, peak = tracemalloc.get_traced_memory()
    print(f"peak Python memory {peak / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
