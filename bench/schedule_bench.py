"""Schedule generation rate for every repayment method (run directly, not under pytest).

    .venv/bin/python bench/schedule_bench.py [--scale 0.1]

For each method and term it generates many schedules and prints throughput (schedules/s),
p50/p99 latency per schedule, and peak memory. Timing runs without tracemalloc (which slows
allocation several-fold); memory is measured in a separate, smaller traced pass.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

# Runnable from a checkout without installing the project.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.credit.domain.schedule import (
    Frequency,
    RepaymentMethod,
    ScheduleTerms,
    generate_schedule,
)

# (term in months, schedules per method) as in the brief: many short loans, fewer mortgages.
CASES = ((12, 20_000), (360, 2_000))
MEMORY_SAMPLE = 200  # schedules per traced pass


def make_terms(method: RepaymentMethod, term: int, count: int) -> list[ScheduleTerms]:
    # Vary amount, rate and start date so no cache or branch pattern flatters the figures.
    amounts = [Decimal("100000.01"), Decimal("50000"), Decimal("8888.88"), Decimal("1234567.89")]
    rates = [Decimal("0.0435"), Decimal("0.049"), Decimal("0.0588")]
    start = date(2024, 1, 1)
    return [
        ScheduleTerms(
            principal=amounts[i % len(amounts)],
            annual_rate=rates[i % len(rates)],
            term_months=term,
            start_date=start + timedelta(days=i % 365),
            method=method,
            frequency=Frequency.MONTHLY,
        )
        for i in range(count)
    ]


def percentile(sorted_values: list[float], fraction: float) -> float:
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return sorted_values[index]


def time_batch(batch: list[ScheduleTerms]) -> tuple[float, list[float]]:
    latencies: list[float] = []
    clock = time.perf_counter_ns
    gc.collect()
    began = clock()
    for terms in batch:
        t0 = clock()
        generate_schedule(terms)
        latencies.append((clock() - t0) / 1000.0)  # microseconds
    return (clock() - began) / 1e9, latencies


def memory_batch(batch: list[ScheduleTerms]) -> tuple[int, int]:
    """Peak bytes while generating (results dropped) and bytes one retained schedule holds."""
    gc.collect()
    tracemalloc.start()
    try:
        for terms in batch:
            generate_schedule(terms)
        _, working_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        kept = generate_schedule(batch[0])
        after, _ = tracemalloc.get_traced_memory()
        del kept
    finally:
        tracemalloc.stop()
    return working_peak, after - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the schedule counts")
    args = parser.parse_args()

    print(f"Python {sys.version.split()[0]}, schedule generation, monthly frequency")
    header = (
        f"{'method':<18} {'term':>4} {'count':>6} {'sched/s':>9} {'inst/s':>10} "
        f"{'p50 µs':>8} {'p99 µs':>8} {'peak KiB':>9} {'kept KiB':>9}"
    )
    print(header)
    print("-" * len(header))
    for term, base_count in CASES:
        count = max(1, int(base_count * args.scale))
        for method in RepaymentMethod:
            batch = make_terms(method, term, count)
            generate_schedule(batch[0])  # warm-up
            elapsed, latencies = time_batch(batch)
            latencies.sort()
            peak, kept = memory_batch(batch[:MEMORY_SAMPLE])
            installments = 1 if method is RepaymentMethod.BULLET else term
            print(
                f"{method.value:<18} {term:>4} {count:>6} {count / elapsed:>9,.0f} "
                f"{count * installments / elapsed:>10,.0f} {percentile(latencies, 0.5):>8.1f} "
                f"{percentile(latencies, 0.99):>8.1f} {peak / 1024:>9.1f} {kept / 1024:>9.1f}"
            )
    print("peak = tracemalloc peak while generating and discarding schedules;")
    print("kept = memory held by one retained schedule (installments and amounts).")


if __name__ == "__main__":
    main()
