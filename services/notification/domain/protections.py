"""Protections around sending: quiet hours, per-recipient limits, retry backoff."""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class QuietHours:
    """Local hours [start, end) during which customers get no SMS; may wrap midnight."""

    start: time
    end: time
    zone: ZoneInfo

    @classmethod
    def parse(cls, text: str, zone: str) -> QuietHours:
        try:
            start_s, end_s = (part.strip() for part in text.split("-"))
            return cls(time.fromisoformat(start_s), time.fromisoformat(end_s), ZoneInfo(zone))
        except (ValueError, KeyError) as exc:
            raise ValueError(f"quiet hours must look like 21:00-08:00, got {text!r}") from exc

    def release_at(self, now: datetime) -> datetime | None:
        """When a message due ``now`` may go out; None when ``now`` is outside quiet hours."""
        local = now.astimezone(self.zone)
        t = local.time()
        if self.start == self.end:
            return None
        inside = (self.start <= t < self.end) if self.start < self.end else (t >= self.start or t < self.end)
        if not inside:
            return None
        release = local.replace(hour=self.end.hour, minute=self.end.minute, second=0, microsecond=0)
        if release <= local:
            release += timedelta(days=1)
        return release


@dataclass(frozen=True)
class Limits:
    per_minute: int = 1
    per_hour: int = 5
    per_day: int = 10

    def windows(self) -> list[tuple[timedelta, int]]:
        return [
            (timedelta(minutes=1), self.per_minute),
            (timedelta(hours=1), self.per_hour),
            (timedelta(days=1), self.per_day),
        ]


def rate_limited_until(sent_at: Sequence[datetime], now: datetime, limits: Limits) -> datetime | None:
    """When the next message of the same template to the same recipient may go out, or None
    when it may go now; ``sent_at`` are the earlier sends (any order)."""
    latest: datetime | None = None
    ordered = sorted(sent_at, reverse=True)
    for window, limit in limits.windows():
        recent = [t for t in ordered if t > now - window]
        if limit > 0 and len(recent) >= limit:
            # The window frees up when the oldest send that keeps it full leaves it.
            free_at = recent[limit - 1] + window
            latest = free_at if latest is None or free_at > latest else latest
    return latest


def retry_delay(attempt: int, base_seconds: float, cap_seconds: float = 3600.0) -> timedelta:
    """Exponential backoff after the ``attempt``-th failed send (1-based)."""
    return timedelta(seconds=min(cap_seconds, base_seconds * 2 ** max(0, attempt - 1)))


MARKETING_CONSENT = "marketing"
# Birthday greetings are asked for separately from other marketing (the customer's "birthday_greeting" consent).
BIRTHDAY_CONSENT = "birthday_greeting"


def consent_purpose(event_type: str, variables: dict[str, str]) -> str:
    """The consent a marketing message needs: its own purpose for birthday greetings, else marketing."""
    if event_type == "notification.reminder.due" and variables.get("kind") == "birthday":
        return BIRTHDAY_CONSENT
    return MARKETING_CONSENT


def birthdays_on(day: date) -> list[tuple[int, int]]:
    """The (month, day) birthdays celebrated on ``day``: 29 February falls on the 28th in common years."""
    dates = [(day.month, day.day)]
    if (day.month, day.day) == (2, 28) and not calendar.isleap(day.year):
        dates.append((2, 29))
    return dates


def mask_phone(e164: str) -> str:
    """+8613800138000 → 138****8000."""
    digits = e164[3:] if e164.startswith("+86") else e164.lstrip("+")
    if len(digits) < 7:
        return "*" * len(digits)
    return f"{digits[:3]}****{digits[-4:]}"
