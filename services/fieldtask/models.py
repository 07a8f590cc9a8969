"""The field task service's tables."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """This service's own metadata: its migrations never see another service's tables."""


class FieldTaskRow(Base):
    __tablename__ = "field_tasks"
    __table_args__ = (
        # A branch's work list and an officer's own list, both by deadline.
        Index("ix_field_tasks_branch_due", "branch_id", "due_at"),
        Index("ix_field_tasks_assignee_due", "assignee_id", "due_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    task_type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    party_id: Mapped[str] = mapped_column(String(80), default="", index=True)
    assignee_id: Mapped[str] = mapped_column(String(80), default="")
    branch_id: Mapped[str] = mapped_column(String(36))
    priority: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    origin: Mapped[str] = mapped_column(String(120))
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
