"""Time and ids, injectable so tests can control them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


def as_utc(value: datetime) -> datetime:
    """SQLite returns naive datetimes for timezone-aware columns; we store UTC only."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
