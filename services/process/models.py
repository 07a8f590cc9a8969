"""The process service's tables: deployed versions, instances, the task inbox, history, work."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """This service's own metadata: its migrations never see another service's tables."""


class ProcessVersionRow(Base):
    """One immutable deployment of a model set; identical content is never stored twice."""

    __tablename__ = "process_versions"
    __table_args__ = (
        UniqueConstraint("process_key", "version", name="uq_process_versions_key_version"),
        UniqueConstraint("process_key", "content_hash", name="uq_process_versions_key_hash"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    process_key: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    process_ids: Mapped[list[str]] = mapped_column(JSON)
    decision_ids: Mapped[list[str]] = mapped_column(JSON)
    deployed_by: Mapped[str] = mapped_column(String(80))
    deployed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ProcessFileRow(Base):
    __tablename__ = "process_files"

    version_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)


class ProcessInstanceRow(Base):
    __tablename__ = "process_instances"
    __table_args__ = (
        Index("ix_process_instances_due", "next_due_at"),
        Index("ix_process_instances_key_status", "process_key", "status", "started_at"),
        Index("ix_process_instances_business_key", "business_key"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    version_id: Mapped[str] = mapped_column(String(36))
    process_key: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    business_key: Mapped[str] = mapped_column(String(100))
    # running | waiting_service | incident | completed | cancelled
    status: Mapped[str] = mapped_column(String(20))
    # SpiffWorkflow state without the spec (the version holds it).
    state: Mapped[str] = mapped_column(Text)
    # Optimistic lock: every save checks and bumps it.
    revision: Mapped[int] = mapped_column(Integer)
    next_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    initiator_id: Mapped[str] = mapped_column(String(80))
    branch_id: Mapped[str] = mapped_column(String(36))
    active_nodes: Mapped[list[str]] = mapped_column(JSON)
    cancel_reason: Mapped[str] = mapped_column(String(500))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    # Every flush of a change checks and bumps `revision`: a lost update raises StaleDataError.
    __mapper_args__ = {"version_id_col": revision}  # noqa: RUF012 - SQLAlchemy reads it once


class InboxTaskRow(Base):
    """The projection of a ready user task that inbox queries read."""

    __tablename__ = "inbox_tasks"
    __table_args__ = (
        Index("ix_inbox_tasks_claimable", "status", "candidate_role", "branch_id", "priority"),
        Index("ix_inbox_tasks_assignee", "assignee_id", "status"),
        Index("ix_inbox_tasks_due", "status", "due_at"),
        Index("ix_inbox_tasks_instance", "instance_id", "status"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the engine's task id
    instance_id: Mapped[str] = mapped_column(String(36))
    process_key: Mapped[str] = mapped_column(String(100))
    node_id: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(300))
    candidate_role: Mapped[str] = mapped_column(String(40))
    branch_id: Mapped[str] = mapped_column(String(36))
    assignee_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    priority: Mapped[int] = mapped_column(Integer)
    business_key: Mapped[str] = mapped_column(String(100))
    initiator_id: Mapped[str] = mapped_column(String(80))
    # open | completed | cancelled | escalated
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    completed_by: Mapped[str | None] = mapped_column(String(80), nullable=True)
    decision: Mapped[str] = mapped_column(String(20))
    comment: Mapped[str] = mapped_column(String(2000))


class HistoryRow(Base):
    """Append-only: every task state change, decision, actor, comment and time."""

    __tablename__ = "process_history"
    __table_args__ = (Index("ix_process_history_instance", "instance_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    instance_id: Mapped[str] = mapped_column(String(36))
    task_id: Mapped[str] = mapped_column(String(36))
    node_id: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(40))
    actor_id: Mapped[str] = mapped_column(String(80))
    decision: Mapped[str] = mapped_column(String(20))
    comment: Mapped[str] = mapped_column(String(2000))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ServiceJobRow(Base):
    """A service task's call, made outside the instance transaction with its idempotency key."""

    __tablename__ = "service_jobs"
    __table_args__ = (
        Index("ix_service_jobs_due", "status", "next_attempt_at"),
        UniqueConstraint("instance_id", "task_id", name="uq_service_jobs_task"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_id: Mapped[str] = mapped_column(String(36))
    task_id: Mapped[str] = mapped_column(String(36))
    node_id: Mapped[str] = mapped_column(String(100))
    operator: Mapped[str] = mapped_column(String(100))
    params: Mapped[dict[str, object]] = mapped_column(JSON)
    idempotency_key: Mapped[str] = mapped_column(String(120))
    # pending | done | failed
    status: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer)
    attempt_log: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class IncidentRow(Base):
    __tablename__ = "process_incidents"
    __table_args__ = (Index("ix_process_incidents_status", "status", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_id: Mapped[str] = mapped_column(String(36))
    node_id: Mapped[str] = mapped_column(String(100))
    job_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    kind: Mapped[str] = mapped_column(String(20))  # service | step | guard
    error: Mapped[str] = mapped_column(String(4000))
    attempts: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    trace_id: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(20))  # open | resolved
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class MessageWaitRow(Base):
    """Which instance waits for which message, by correlation key (rebuilt on every save)."""

    __tablename__ = "message_waits"
    __table_args__ = (Index("ix_message_waits_lookup", "message_name", "correlation_key"),)

    instance_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    message_name: Mapped[str] = mapped_column(String(100), primary_key=True)
    correlation_key: Mapped[str] = mapped_column(String(100))


class PendingMessageRow(Base):
    """A message no instance waited for yet: kept until it expires, delivered when one waits."""

    __tablename__ = "pending_messages"
    __table_args__ = (Index("ix_pending_messages_lookup", "message_name", "correlation_key", "consumed_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    message_name: Mapped[str] = mapped_column(String(100))
    correlation_key: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, object]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    consumed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
