"""Field task domain benchmarks: route planning, GCJ-02 conversion, form validation, content hash.

Prints throughput, p50/p99 latency and peak memory; not a test (nothing is asserted).
Run: python bench/fieldtask_bench.py
"""

from __future__ import annotations

import random
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "proto"))

from services.fieldtask.domain import forms
from services.fieldtask.domain.geo import Position, gcj02_to_wgs84
from services.fieldtask.domain.route import Stop, plan_route
from services.fieldtask.domain.task import TaskType

SURVEY = {
    "family": {"members": 4, "labourers": 2, "dependants": 2},
    "operations": {"business": "大棚蔬菜", "years": 6},
    "income": {"annual_income": "86000.00", "annual_expenses": "41000.00"},
    "assets_verified": {"verified": True, "items": [{"kind": "greenhouse", "value": "120000"}] * 5},
}


def measure(name: str, runs: int, work: Callable[[], object]) -> None:
    tracemalloc.start()
    samples = []
    started = time.perf_counter()
    for _ in range(runs):
        t0 = time.perf_counter()
        work()
        samples.append(time.perf_counter() - t0)
    total = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    samples.sort()
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    print(
        f"{name:<38} {runs / total:>10.0f}/s  p50 {statistics.median(samples) * 1e3:8.3f} ms"
        f"  p99 {p99 * 1e3:8.3f} ms  peak {peak / 1024:8.1f} KiB"
    )


def main() -> None:
    rnd = random.Random(42)
    start = Position(30.0, 120.0)
    for n in (10, 30, 60):
        stops = [
            Stop(f"t{i}", Position(30 + rnd.uniform(-0.1, 0.1), 120 + rnd.uniform(-0.1, 0.1)), rnd.randint(1, 5))
            for i in range(n)
        ]
        measure(f"plan_route ({n} stops)", 200 if n < 60 else 30, lambda s=stops: plan_route(start, s))
    points = [Position(30 + rnd.uniform(-5, 5), 115 + rnd.uniform(-5, 5)) for _ in range(1000)]
    measure("gcj02_to_wgs84 (1000 points)", 50, lambda: [gcj02_to_wgs84(p) for p in points])
    measure("survey form validation", 2000, lambda: forms.form_violations(TaskType.PRE_LOAN_SURVEY, 1, SURVEY))
    measure("form content hash", 20000, lambda: forms.content_hash(SURVEY))


if __name__ == "__main__":
    main()
