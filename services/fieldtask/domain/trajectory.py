"""An officer's day as a track: pings inside working hours, ordered, with the distance walked."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from services.common.errors import InvalidArgument
from services.fieldtask.domain.geo import Position, haversine_m

# Fixes worse than this are kept on the track but not counted in the distance: a jumpy
# cell-tower fix would otherwise add kilometres nobody walked.
MAX_ACCURACY_FOR_DISTANCE_M = 100.0
MAX_PINGS_PER_BATCH = 2000


@dataclass(frozen=True)
class WorkingHours:
    start: time
    end: time
    zone: ZoneInfo

    @classmethod
    def parse(cls, spec: str, zone: str) -> WorkingHours:
        """``"07:00-20:00"`` in the named zone."""
        try:
            first, last = (time.fromisoformat(part.strip()) for part in spec.split("-", 1))
        except ValueError:
            raise ValueError(f"working hours must look like 07:00-20:00, not {spec!r}") from None
        if first >= last:
            raise ValueError(f"working hours {spec!r} end before they start")
        return cls(first, last, ZoneInfo(zone))

    def contains(self, at: datetime) -> bool:
        local = at.astimezone(self.zone).time()
        return self.start <= local < self.end

    def day_bounds(self, day: date) -> tuple[datetime, datetime]:
        """The UTC-aware start and end of a local calendar day."""
        start = datetime.combine(day, time(0), tzinfo=self.zone)
        return start, start + timedelta(days=1)


@dataclass(frozen=True)
class Ping:
    recorded_at: datetime
    position: Position
    accuracy_m: float


def check_ping_time(recorded_at: datetime, now: datetime, *, index: int) -> datetime:
    if recorded_at.tzinfo is None:
        raise InvalidArgument.for_field(f"points[{index}].recorded_at", "must carry a time zone")
    if recorded_at > now + timedelta(minutes=5):
        raise InvalidArgument.for_field(f"points[{index}].recorded_at", "is in the future")
    return recorded_at


def track_distance_m(pings: Sequence[Ping]) -> float:
    usable = [p for p in sorted(pings, key=lambda p: p.recorded_at) if p.accuracy_m <= MAX_ACCURACY_FOR_DISTANCE_M]
    return sum(haversine_m(a.position, b.position) for a, b in pairwise(usable))
