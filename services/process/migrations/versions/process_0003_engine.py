"""process engine: versions, instances, inbox, history, service jobs, incidents, messages

Revision ID: process_0003
Revises: process_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "process_0003"
down_revision = "process_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbox_tasks",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("instance_id", sa.String(length=36), nullable=False),
        sa.Column("process_key", sa.String(length=100), nullable=False),
        sa.Column("node_id", sa.String(length=100), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("candidate_role", sa.String(length=40), nullable=False),
        sa.Column("branch_id", sa.String(length=36), nullable=False),
        sa.Column("assignee_id", sa.String(length=80), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("business_key", sa.String(length=100), nullable=False),
        sa.Column("initiator_id", sa.String(length=80), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_by", sa.String(length=80), nullable=True),
        sa.Column("decision", sa.String(length=20), nullable=False),
        sa.Column("comment", sa.String(length=2000), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_inbox_tasks_assignee", "inbox_tasks", ["assignee_id", "status"], unique=False)
    op.create_index(
        "ix_inbox_tasks_claimable", "inbox_tasks", ["status", "candidate_role", "branch_id", "priority"], unique=False
    )
    op.create_index("ix_inbox_tasks_due", "inbox_tasks", ["status", "due_at"], unique=False)
    op.create_index("ix_inbox_tasks_instance", "inbox_tasks", ["instance_id", "status"], unique=False)
    op.create_table(
        "message_waits",
        sa.Column("instance_id", sa.String(length=36), nullable=False),
        sa.Column("message_name", sa.String(length=100), nullable=False),
        sa.Column("correlation_key", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("instance_id", "message_name"),
    )
    op.create_index("ix_message_waits_lookup", "message_waits", ["message_name", "correlation_key"], unique=False)
    op.create_table(
        "pending_messages",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("message_name", sa.String(length=100), nullable=False),
        sa.Column("correlation_key", sa.String(length=100), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("consumed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_pending_messages_lookup",
        "pending_messages",
        ["message_name", "correlation_key", "consumed_at"],
        unique=False,
    )
    op.create_table(
        "process_files",
        sa.Column("version_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("version_id", "name"),
    )
    op.create_table(
        "process_history",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("instance_id", sa.String(length=36), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("node_id", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("actor_id", sa.String(length=80), nullable=False),
        sa.Column("decision", sa.String(length=20), nullable=False),
        sa.Column("comment", sa.String(length=2000), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_process_history_instance", "process_history", ["instance_id", "id"], unique=False)
    op.create_table(
        "process_incidents",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("instance_id", sa.String(length=36), nullable=False),
        sa.Column("node_id", sa.String(length=100), nullable=False),
        sa.Column("job_id", sa.String(length=36), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("error", sa.String(length=4000), nullable=False),
        sa.Column("attempts", sa.JSON(), nullable=False),
        sa.Column("trace_id", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_process_incidents_status", "process_incidents", ["status", "created_at"], unique=False)
    op.create_table(
        "process_instances",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("version_id", sa.String(length=36), nullable=False),
        sa.Column("process_key", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("business_key", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("next_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("initiator_id", sa.String(length=80), nullable=False),
        sa.Column("branch_id", sa.String(length=36), nullable=False),
        sa.Column("active_nodes", sa.JSON(), nullable=False),
        sa.Column("cancel_reason", sa.String(length=500), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_process_instances_business_key", "process_instances", ["business_key"], unique=False)
    op.create_index("ix_process_instances_due", "process_instances", ["next_due_at"], unique=False)
    op.create_index(
        "ix_process_instances_key_status", "process_instances", ["process_key", "status", "started_at"], unique=False
    )
    op.create_table(
        "process_versions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("process_key", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("process_ids", sa.JSON(), nullable=False),
        sa.Column("decision_ids", sa.JSON(), nullable=False),
        sa.Column("deployed_by", sa.String(length=80), nullable=False),
        sa.Column("deployed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("process_key", "content_hash", name="uq_process_versions_key_hash"),
        sa.UniqueConstraint("process_key", "version", name="uq_process_versions_key_version"),
    )
    op.create_table(
        "service_jobs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("instance_id", sa.String(length=36), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("node_id", sa.String(length=100), nullable=False),
        sa.Column("operator", sa.String(length=100), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=120), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("attempt_log", sa.JSON(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("instance_id", "task_id", name="uq_service_jobs_task"),
    )
    op.create_index("ix_service_jobs_due", "service_jobs", ["status", "next_attempt_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_service_jobs_due", table_name="service_jobs")
    op.drop_index("ix_process_instances_key_status", table_name="process_instances")
    op.drop_index("ix_process_instances_due", table_name="process_instances")
    op.drop_index("ix_process_instances_business_key", table_name="process_instances")
    op.drop_index("ix_process_incidents_status", table_name="process_incidents")
    op.drop_index("ix_process_history_instance", table_name="process_history")
    op.drop_index("ix_pending_messages_lookup", table_name="pending_messages")
    op.drop_index("ix_message_waits_lookup", table_name="message_waits")
    op.drop_index("ix_inbox_tasks_instance", table_name="inbox_tasks")
    op.drop_index("ix_inbox_tasks_due", table_name="inbox_tasks")
    op.drop_index("ix_inbox_tasks_claimable", table_name="inbox_tasks")
    op.drop_index("ix_inbox_tasks_assignee", table_name="inbox_tasks")
    op.drop_table("service_jobs")
    op.drop_table("process_versions")
    op.drop_table("process_instances")
    op.drop_table("process_incidents")
    op.drop_table("process_history")
    op.drop_table("process_files")
    op.drop_table("pending_messages")
    op.drop_table("message_waits")
    op.drop_table("inbox_tasks")
