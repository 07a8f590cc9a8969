"""rules, templates, delivery log, field-task requests, opt-outs, reminders

Revision ID: notification_0003
Revises: notification_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "notification_0003"
down_revision = "notification_0002"
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "rules",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("event_type", sa.String(120), nullable=False),
        sa.Column("condition", sa.Text(), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("seed_key", sa.String(80), nullable=True),
        sa.Column("created_by", sa.String(80), nullable=False),
        sa.Column("updated_by", sa.String(80), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("seed_key", name="uq_rules_seed_key"),
    )
    op.create_index("ix_rules_event_type", "rules", ["event_type", "enabled"])
    op.create_table(
        "templates",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("code", sa.String(80), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("category", sa.String(20), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("sms_template_code", sa.String(80), nullable=False),
        sa.Column("sms_sign_name", sa.String(40), nullable=False),
        sa.Column("created_by", sa.String(80), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code", "version", name="uq_templates_code_version"),
    )
    op.create_table(
        "messages",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("dedupe_key", sa.String(240), nullable=False),
        sa.Column("rule_id", sa.String(36), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("event_type", sa.String(120), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("recipient_kind", sa.String(20), nullable=False),
        sa.Column("recipient_id", sa.String(80), nullable=False),
        sa.Column("recipient_masked", sa.String(80), nullable=False),
        sa.Column("branch_id", sa.String(36), nullable=False),
        sa.Column("role", sa.String(40), nullable=False),
        sa.Column("category", sa.String(20), nullable=False),
        sa.Column("template_code", sa.String(80), nullable=False),
        sa.Column("template_version", sa.Integer(), nullable=False),
        sa.Column("variables", sa.JSON(), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("hold_reason", sa.String(40), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("gateway_message_id", sa.String(120), nullable=False),
        _ts("next_attempt_at", True),
        _ts("held_until", True),
        _ts("sent_at", True),
        _ts("delivered_at", True),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedupe_key", name="uq_messages_dedupe_key"),
    )
    op.create_index("ix_messages_due", "messages", ["status", "next_attempt_at"])
    op.create_index("ix_messages_recipient_template", "messages", ["recipient_id", "template_code", "sent_at"])
    op.create_index("ix_messages_log", "messages", ["created_at", "id"])
    op.create_index("ix_messages_gateway_id", "messages", ["gateway_message_id"])
    op.create_table(
        "field_task_requests",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("dedupe_key", sa.String(240), nullable=False),
        sa.Column("rule_id", sa.String(36), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("task_type", sa.String(40), nullable=False),
        sa.Column("party_id", sa.String(36), nullable=False),
        sa.Column("assignee_id", sa.String(80), nullable=False),
        sa.Column("branch_id", sa.String(36), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        _ts("due_at"),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("task_id", sa.String(36), nullable=False),
        _ts("next_attempt_at", True),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedupe_key", name="uq_field_task_requests_dedupe_key"),
    )
    op.create_index("ix_field_task_requests_due", "field_task_requests", ["status", "next_attempt_at"])
    op.create_table(
        "opt_outs",
        sa.Column("party_id", sa.String(36), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("source", sa.String(80), nullable=False),
        sa.Column("recorded_by", sa.String(80), nullable=False),
        _ts("opted_out_at"),
        sa.PrimaryKeyConstraint("party_id"),
    )
    op.create_table(
        "reminders",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("dedupe_key", sa.String(240), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("subject_id", sa.String(80), nullable=False),
        sa.Column("party_id", sa.String(36), nullable=False),
        sa.Column("staff_id", sa.String(80), nullable=False),
        sa.Column("branch_id", sa.String(36), nullable=False),
        _ts("due_at"),
        sa.Column("yearly", sa.Boolean(), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("fired_count", sa.Integer(), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedupe_key", name="uq_reminders_dedupe_key"),
    )
    op.create_index("ix_reminders_due", "reminders", ["status", "due_at"])


def downgrade() -> None:
    op.drop_index("ix_reminders_due", table_name="reminders")
    op.drop_table("reminders")
    op.drop_table("opt_outs")
    op.drop_index("ix_field_task_requests_due", table_name="field_task_requests")
    op.drop_table("field_task_requests")
    for index in ("ix_messages_gateway_id", "ix_messages_log", "ix_messages_recipient_template", "ix_messages_due"):
        op.drop_index(index, table_name="messages")
    op.drop_table("messages")
    op.drop_table("templates")
    op.drop_index("ix_rules_event_type", table_name="rules")
    op.drop_table("rules")
