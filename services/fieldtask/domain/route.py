"""Ordering an officer's visits for a day: nearest neighbour, then 2-opt, over haversine.

Urgent stops (priority 1, or due by the end of the planned day) come first, the rest after;
within each group nearest neighbour builds a path from where the officer stands and 2-opt
removes its crossings. The path is open (the officer need not return). Every choice breaks
ties by stop id, so the same input always gives the same plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from services.fieldtask.domain.geo import Position, haversine_m

_EPSILON_M = 1e-6


@dataclass(frozen=True)
class Stop:
    id: str
    position: Position
    priority: int = 3
    due_at: datetime | None = None


@dataclass(frozen=True)
class Leg:
    stop_id: str
    distance_m: float
    cumulative_m: float
    urgent: bool


@dataclass(frozen=True)
class Route:
    legs: list[Leg]
    total_m: float

    @property
    def order(self) -> list[str]:
        return [leg.stop_id for leg in self.legs]


def _nearest_neighbour(start: Position, stops: Sequence[Stop]) -> list[Stop]:
    remaining = sorted(stops, key=lambda s: s.id)
    path: list[Stop] = []
    here = start
    while remaining:
        best = min(remaining, key=lambda s: (haversine_m(here, s.position), s.id))
        remaining.remove(best)
        path.append(best)
        here = best.position
    return path


def path_length(start: Position, path: Sequence[Stop]) -> float:
    total, here = 0.0, start
    for stop in path:
        total += haversine_m(here, stop.position)
        here = stop.position
    return total


def two_opt(start: Position, path: list[Stop]) -> list[Stop]:
    """Reverses segments while that shortens the open path starting at ``start``."""
    best = list(path)
    n = len(best)
    improved = True
    while improved:
        improved = False
        for i in range(n - 1):
            before = start if i == 0 else best[i - 1].position
            for k in range(i + 1, n):
                after = best[k + 1].position if k + 1 < n else None
                removed = haversine_m(before, best[i].position) + (
                    haversine_m(best[k].position, after) if after else 0.0
                )
                added = haversine_m(before, best[k].position) + (haversine_m(best[i].position, after) if after else 0.0)
                if added < removed - _EPSILON_M:
                    best[i : k + 1] = reversed(best[i : k + 1])
                    improved = True
    return best


def is_urgent(stop: Stop, day_end: datetime | None) -> bool:
    return stop.priority == 1 or (day_end is not None and stop.due_at is not None and stop.due_at <= day_end)


def plan_route(start: Position, stops: Sequence[Stop], *, day_end: datetime | None = None) -> Route:
    groups = [
        [s for s in stops if is_urgent(s, day_end)],
        [s for s in stops if not is_urgent(s, day_end)],
    ]
    legs: list[Leg] = []
    here, total = start, 0.0
    for urgent, group in zip((True, False), groups, strict=True):
        path = two_opt(here, _nearest_neighbour(here, group))
        for stop in path:
            distance = haversine_m(here, stop.position)
            total += distance
            legs.append(Leg(stop.id, distance, total, urgent))
            here = stop.position
    return Route(legs, total)
