"""The notification service's tables."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """This service's own metadata: its migrations never see another service's tables."""


class NotificationRow(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        # One notice per event and recipient, whatever the redeliveries.
        UniqueConstraint("source_event_id", "recipient_id", name="uq_notifications_event_recipient"),
        Index("ix_notifications_inbox", "recipient_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    recipient_id: Mapped[str] = mapped_column(String(80))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    source_event_id: Mapped[str] = mapped_column(String(36))
    source_event_type: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
