"""The field task service's tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Float, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """This service's own metadata: its migrations never see another service's tables."""


class FieldTaskRow(Base):
    __tablename__ = "field_tasks"
    __table_args__ = (
        # A branch's work list and an officer's own list, both by deadline.
        Index("ix_field_tasks_branch_due", "branch_id", "due_at"),
        Index("ix_field_tasks_assignee_due", "assignee_id", "due_at"),
        # The expiry job's scan and the process service's correlation.
        Index("ix_field_tasks_status_due", "status", "due_at"),
        Index("ix_field_tasks_business_key", "business_key"),
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
    # Added by fieldtask_0003.
    title: Mapped[str] = mapped_column(String(200), default="", server_default="")
    subject_type: Mapped[str] = mapped_column(String(16), default="", server_default="")
    subject_id: Mapped[str] = mapped_column(String(80), default="", server_default="")
    business_key: Mapped[str] = mapped_column(String(120), default="", server_default="")
    process_instance_id: Mapped[str] = mapped_column(String(80), default="", server_default="")
    latitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    longitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    # wgs84 | gcj02 (given) | party_address (the party's address region, from customer); widened by 0004.
    location_source: Mapped[str] = mapped_column(String(16), default="", server_default="")
    address: Mapped[str] = mapped_column(String(300), default="", server_default="")
    form_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    form_data: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    form_saved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # The last check-in was beyond the radius or the task has no location: managers see it in lists.
    check_in_flagged: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Added by fieldtask_0004: no location yet because the party's address could not be located.
    location_pending: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Optimistic lock: concurrent changes to one task cannot both win.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy reads it once


class TaskHistoryRow(Base):
    """Every change of a task's status or assignee: who, when, why."""

    __tablename__ = "field_task_history"
    __table_args__ = (Index("ix_field_task_history_task_at", "task_id", "at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    task_id: Mapped[str] = mapped_column(String(36))
    action: Mapped[str] = mapped_column(String(24))
    from_status: Mapped[str] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str] = mapped_column(String(80))
    assignee_id: Mapped[str] = mapped_column(String(80), default="")
    reason: Mapped[str] = mapped_column(String(500), default="")
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CheckInRow(Base):
    __tablename__ = "field_task_check_ins"
    __table_args__ = (
        Index("ix_field_task_check_ins_task", "task_id", "server_time"),
        Index("ix_field_task_check_ins_officer", "officer_id", "server_time"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    task_id: Mapped[str] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(8))  # in | out
    officer_id: Mapped[str] = mapped_column(String(80))
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    accuracy_m: Mapped[float] = mapped_column(Float)
    source_system: Mapped[str] = mapped_column(String(8))
    distance_m: Mapped[float | None] = mapped_column(Float, nullable=True)
    radius_m: Mapped[float] = mapped_column(Float)
    flagged: Mapped[bool] = mapped_column(Boolean)
    flag_reason: Mapped[str] = mapped_column(String(40), default="")
    device_id: Mapped[str] = mapped_column(String(80), default="")
    client_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    server_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class EvidenceRow(Base):
    __tablename__ = "field_task_evidence"
    __table_args__ = (UniqueConstraint("task_id", "sha256", name="uq_field_task_evidence_task_sha256"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    task_id: Mapped[str] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(16))
    media_type: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    file_name: Mapped[str] = mapped_column(String(200), default="")
    captured_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    latitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    longitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    device_id: Mapped[str] = mapped_column(String(80), default="")
    uploaded_by: Mapped[str] = mapped_column(String(80))
    uploaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SignatureRow(Base):
    __tablename__ = "field_task_signatures"
    __table_args__ = (
        Index("ix_field_task_signatures_task", "task_id", "signed_at"),
        # One signing per provider reference (a device signature's reference is its own id).
        UniqueConstraint("provider", "external_ref", name="uq_field_task_signatures_provider_ref"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    task_id: Mapped[str] = mapped_column(String(36))
    signer_name: Mapped[str] = mapped_column(String(100))
    signer_party_id: Mapped[str] = mapped_column(String(80), default="")
    image_sha256: Mapped[str] = mapped_column(String(64), default="")
    content_hash: Mapped[str] = mapped_column(String(64))
    provider: Mapped[str] = mapped_column(String(40), default="device")
    external_ref: Mapped[str] = mapped_column(String(120), default="")
    latitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    longitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    officer_id: Mapped[str] = mapped_column(String(80))
    signed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Added by fieldtask_0004: an external provider's reference to the signed document.
    document_ref: Mapped[str] = mapped_column(String(300), default="", server_default="")


class SyncItemRow(Base):
    """One offline action as received: applied once, its outcome kept for replays."""

    __tablename__ = "field_sync_items"
    __table_args__ = (UniqueConstraint("officer_id", "client_id", name="uq_field_sync_items_officer_client"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    officer_id: Mapped[str] = mapped_column(String(80))
    client_id: Mapped[str] = mapped_column(String(80))
    batch_id: Mapped[str] = mapped_column(String(80), default="")
    action: Mapped[str] = mapped_column(String(24))
    task_id: Mapped[str] = mapped_column(String(36), default="")
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    client_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    outcome: Mapped[str] = mapped_column(String(16))  # applied | conflict | rejected
    reason: Mapped[str] = mapped_column(String(60), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TrajectoryPointRow(Base):
    __tablename__ = "field_trajectory_points"
    __table_args__ = (
        UniqueConstraint("officer_id", "recorded_at", name="uq_field_trajectory_points_officer_at"),
        Index("ix_field_trajectory_points_recorded_at", "recorded_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    officer_id: Mapped[str] = mapped_column(String(80))
    branch_id: Mapped[str] = mapped_column(String(36))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    accuracy_m: Mapped[float] = mapped_column(Float)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
