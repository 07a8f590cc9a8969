"""The notification service's tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Index, Integer, String, Text, UniqueConstraint
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


class RuleRow(Base):
    __tablename__ = "rules"
    __table_args__ = (
        UniqueConstraint("seed_key", name="uq_rules_seed_key"),
        Index("ix_rules_event_type", "event_type", "enabled"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    event_type: Mapped[str] = mapped_column(String(120))
    condition: Mapped[str] = mapped_column(Text)
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(Boolean)
    version: Mapped[int] = mapped_column(Integer)
    seed_key: Mapped[str | None] = mapped_column(String(80), nullable=True)
    created_by: Mapped[str] = mapped_column(String(80))
    updated_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TemplateRow(Base):
    __tablename__ = "templates"
    __table_args__ = (UniqueConstraint("code", "version", name="uq_templates_code_version"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    code: Mapped[str] = mapped_column(String(80))
    version: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(20))
    category: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    sms_template_code: Mapped[str] = mapped_column(String(80))
    sms_sign_name: Mapped[str] = mapped_column(String(40))
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class MessageRow(Base):
    """One entry of the delivery log: an SMS (or log-channel) message or an in-app message."""

    __tablename__ = "messages"
    __table_args__ = (
        # One message per (event, rule, action, recipient), whatever the redeliveries.
        UniqueConstraint("dedupe_key", name="uq_messages_dedupe_key"),
        Index("ix_messages_due", "status", "next_attempt_at"),
        Index("ix_messages_recipient_template", "recipient_id", "template_code", "sent_at"),
        Index("ix_messages_log", "created_at", "id"),
        Index("ix_messages_gateway_id", "gateway_message_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(240))
    rule_id: Mapped[str] = mapped_column(String(36))
    event_id: Mapped[str] = mapped_column(String(36))
    event_type: Mapped[str] = mapped_column(String(120))
    channel: Mapped[str] = mapped_column(String(20))
    recipient_kind: Mapped[str] = mapped_column(String(20))
    recipient_id: Mapped[str] = mapped_column(String(80))
    recipient_masked: Mapped[str] = mapped_column(String(80))
    branch_id: Mapped[str] = mapped_column(String(36))
    role: Mapped[str] = mapped_column(String(40))
    category: Mapped[str] = mapped_column(String(20))
    template_code: Mapped[str] = mapped_column(String(80))
    template_version: Mapped[int] = mapped_column(Integer)
    variables: Mapped[dict[str, Any]] = mapped_column(JSON)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))
    hold_reason: Mapped[str] = mapped_column(String(40))
    attempts: Mapped[int] = mapped_column(Integer)
    last_error: Mapped[str] = mapped_column(Text)
    gateway_message_id: Mapped[str] = mapped_column(String(120))
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    held_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class FieldTaskRequestRow(Base):
    """A field task a rule asked for, created through the field-task service by the dispatcher."""

    __tablename__ = "field_task_requests"
    __table_args__ = (
        UniqueConstraint("dedupe_key", name="uq_field_task_requests_dedupe_key"),
        Index("ix_field_task_requests_due", "status", "next_attempt_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(240))
    rule_id: Mapped[str] = mapped_column(String(36))
    event_id: Mapped[str] = mapped_column(String(36))
    task_type: Mapped[str] = mapped_column(String(40))
    party_id: Mapped[str] = mapped_column(String(36))
    assignee_id: Mapped[str] = mapped_column(String(80))
    branch_id: Mapped[str] = mapped_column(String(36))
    priority: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer)
    last_error: Mapped[str] = mapped_column(Text)
    task_id: Mapped[str] = mapped_column(String(36))
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class OptOutRow(Base):
    """A customer who asked for no more marketing messages (退订); kept for ever."""

    __tablename__ = "opt_outs"

    party_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(80))
    recorded_by: Mapped[str] = mapped_column(String(80))
    opted_out_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ReminderRow(Base):
    __tablename__ = "reminders"
    __table_args__ = (
        UniqueConstraint("dedupe_key", name="uq_reminders_dedupe_key"),
        Index("ix_reminders_due", "status", "due_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(240))
    kind: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[str] = mapped_column(String(80))
    party_id: Mapped[str] = mapped_column(String(36))
    staff_id: Mapped[str] = mapped_column(String(80))
    branch_id: Mapped[str] = mapped_column(String(36))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    yearly: Mapped[bool] = mapped_column(Boolean)
    attributes: Mapped[dict[str, str]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20))
    fired_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
