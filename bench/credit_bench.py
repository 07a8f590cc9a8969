"""Credit benchmarks: schedule generation rate, and close of business over 100,000 loans.

* ``schedule``: generates 12-month schedules for each method; prints schedules/s and p50/p99.
* ``cob``: bulk-loads N active loans (12 monthly installments each) into a fresh PostgreSQL
  database, then runs the real close-of-business use case for one business date on which
  one loan in ``--overdue-every`` (3) is overdue. Prints loans/s, total time, events emitted and peak
  resident memory; then reruns the same date to show it emits nothing.
Needs GRANARY_TEST_PG_URL (default: local PostgreSQL) for ``cob``.

    .venv/bin/python bench/credit_bench.py [--schedules 20000] [--loans 100000] [--batch 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import time
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from urllib.parse import urlparse

import asyncpg
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from services.common.db import create_engine, session_factory
from services.common.identity import TokenSigner
from services.common.migrations import upgrade_async
from services.credit import service
from services.credit.domain.schedule import RepaymentMethod, ScheduleTerms, generate_schedule
from services.credit.models import InstallmentRow, LoanRow

PG_URL = os.environ.get("GRANARY_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def bench_schedules(count: int) -> None:
    for method in RepaymentMethod:
        timings = []
        started = time.perf_counter()
        for i in range(count):
            t0 = time.perf_counter()
            generate_schedule(
                ScheduleTerms(
                    principal=Decimal(10000 + i),
                    annual_rate=Decimal("0.0435"),
                    term_months=12,
                    start_date=date(2026, 1, 15),
                    method=method,
                )
            )
            timings.append(time.perf_counter() - t0)
        total = time.perf_counter() - started
        timings.sort()
        print(
            f"schedule {method.value:18s} {count / total:10.0f}/s  p50 {statistics.median(timings) * 1e6:7.1f} µs"
            f"  p99 {timings[int(len(timings) * 0.99)] * 1e6:7.1f} µs"
        )


def _rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


async def _fresh_database() -> str:
    parsed = urlparse(PG_URL)
    name = f"bench_credit_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(PG_URL)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return parsed._replace(scheme="postgresql+asyncpg", path=f"/{name}").geturl()


async def load_loans(engine: AsyncEngine, loans: int, overdue_every: int = 3) -> None:
    """N active 12-month equal-principal loans of 12,000 disbursed 2026-01-15; one in
    ``overdue_every`` never paid (overdue since 15 Feb), the others paid their first installment."""
    now = datetime.now(UTC)
    terms = ScheduleTerms(
        principal=Decimal("12000.00"),
        annual_rate=Decimal("0.072"),
        term_months=12,
        start_date=date(2026, 1, 15),
        method=RepaymentMethod.EQUAL_PRINCIPAL,
    )
    schedule = generate_schedule(terms)
    chunk = 2000
    async with engine.begin() as conn:
        for offset in range(0, loans, chunk):
            loan_rows, installment_rows = [], []
            for k in range(offset, min(loans, offset + chunk)):
                loan_id = str(uuid.uuid4())
                paid = k % overdue_every != 0  # never paid: overdue
                loan_rows.append(
                    {
                        "id": loan_id,
                        "application_id": str(uuid.uuid4()),
                        "contract_id": "",
                        "external_ref": "",
                        "party_id": f"p{k}",
                        "household_id": "",
                        "product_id": "bench",
                        "credit_line_id": "",
                        "principal": terms.principal,
                        "annual_rate": terms.annual_rate,
                        "penalty_rate": Decimal("0.108"),
                        "day_count": "ACT_360",
                        "allocation_order": "penalty,interest,principal",
                        "term_months": 12,
                        "disbursed_on": terms.start_date,
                        "maturity_date": schedule.maturity_date,
                        "status": "active",
                        "outstanding_principal": terms.principal,
                        "overdue_amount": Decimal(0),
                        "overpaid": Decimal(0),
                        "dpd": 0,
                        "bucket": "current",
                        "classification": "normal",
                        "override_class": "",
                        "override_status": "",
                        "override_reason": "",
                        "override_requested_by": "",
                        "last_cob_date": None,
                        "branch_id": f"B{k % 20}",
                        "managing_officer_id": f"o{k % 300}",
                        "created_at": now,
                    }
                )
                for i in schedule.installments:
                    first_paid = paid and i.number == 1
                    installment_rows.append(
                        {
                            "id": str(uuid.uuid4()),
                            "loan_id": loan_id,
                            "number": i.number,
                            "period_start": i.period_start,
                            "due_date": i.due_date,
                            "days": i.days,
                            "opening_principal": i.opening_principal,
                            "principal": i.principal,
                            "interest": i.interest,
                            "penalty": Decimal(0),
                            "principal_paid": i.principal if first_paid else Decimal(0),
                            "interest_paid": i.interest if first_paid else Decimal(0),
                            "penalty_paid": Decimal(0),
                            "reminded_on": None,
                        }
                    )
            await conn.execute(insert(LoanRow), loan_rows)
            await conn.execute(insert(InstallmentRow), installment_rows)


async def bench_cob(loans: int, batch: int, overdue_every: int = 3) -> None:
    url = await _fresh_database()
    await upgrade_async("credit", url)
    engine = create_engine(url)
    sessions = session_factory(engine)
    started = time.perf_counter()
    await load_loans(engine, loans, overdue_every)
    print(f"loaded {loans} loans with {loans * 12} installments in {time.perf_counter() - started:.1f} s")

    signer = TokenSigner("bench-" + "x" * 40)
    caller = signer.service_caller("bench")

    def uow() -> service.CreditUnitOfWork:
        return service.CreditUnitOfWork(sessions, source="granary/credit")

    await service.set_business_date(uow=uow(), caller=caller, business_date="2026-03-10")
    # Timed without tracemalloc (it slows allocation-heavy code several times over); memory is
    # the process's resident set size sampled during the run (peak, and growth over the start).
    samples = [_rss_mib()]

    async def sample() -> None:
        while True:
            samples.append(_rss_mib())
            await asyncio.sleep(0.05)

    sampler = asyncio.create_task(sample())
    started = time.perf_counter()
    result = await service.run_close_of_business(
        uow_factory=uow, caller=caller, business_date="2026-03-10", batch_size=batch
    )
    elapsed = time.perf_counter() - started
    sampler.cancel()
    print(
        f"COB {result.loans_processed} loans in {elapsed:.1f} s = {result.loans_processed / elapsed:,.0f} loans/s; "
        f"{result.events_emitted} events; RSS peak {max(samples):.0f} MiB "
        f"(+{max(samples) - samples[0]:.0f} MiB over the start; batch {batch})"
    )
    started = time.perf_counter()
    rerun = await service.run_close_of_business(uow_factory=uow, caller=caller, business_date="2026-03-10")
    took = time.perf_counter() - started
    print(f"rerun of the same date: {rerun.events_emitted} events total (unchanged), {took:.3f} s")
    await engine.dispose()
    conn = await asyncpg.connect(PG_URL)
    try:
        await conn.execute(f'DROP DATABASE "{urlparse(url).path.lstrip("/")}"')
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--schedules", type=int, default=20000)
    parser.add_argument("--loans", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--overdue-every", type=int, default=3, help="one loan in N is overdue (3: a third)")
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )
    if args.schedules:
        bench_schedules(args.schedules)
    if args.loans:
        asyncio.run(bench_cob(args.loans, args.batch, args.overdue_every))


if __name__ == "__main__":
    main()
