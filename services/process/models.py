"""The process service's tables (none of its own yet; the messaging tables come from common)."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """This service's own metadata: its migrations never see another service's tables."""
