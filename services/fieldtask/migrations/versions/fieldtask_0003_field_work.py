"""field work: task details, history, check-ins, evidence, signatures, offline sync, trajectories

Revision ID: fieldtask_0003
Revises: fieldtask_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "fieldtask_0003"
down_revision = "fieldtask_0002"
branch_labels = None
depends_on = None


def _new_task_columns() -> list[sa.Column]:  # type: ignore[type-arg]
    # Fresh objects per call: a Column belongs to one table once attached.
    return [
        sa.Column("title", sa.String(length=200), nullable=False, server_default=""),
        sa.Column("subject_type", sa.String(length=16), nullable=False, server_default=""),
        sa.Column("subject_id", sa.String(length=80), nullable=False, server_default=""),
        sa.Column("business_key", sa.String(length=120), nullable=False, server_default=""),
        sa.Column("process_instance_id", sa.String(length=80), nullable=False, server_default=""),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("location_source", sa.String(length=8), nullable=False, server_default=""),
        sa.Column("address", sa.String(length=300), nullable=False, server_default=""),
        sa.Column("form_version", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("form_data", sa.JSON(), nullable=True),
        sa.Column("form_saved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("check_in_flagged", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
    ]


def upgrade() -> None:
    with op.batch_alter_table("field_tasks", schema=None) as batch_op:
        for column in _new_task_columns():
            batch_op.add_column(column)
        batch_op.create_index("ix_field_tasks_status_due", ["status", "due_at"], unique=False)
        batch_op.create_index("ix_field_tasks_business_key", ["business_key"], unique=False)

    op.create_table(
        "field_task_history",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("action", sa.String(length=24), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=False),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.String(length=80), nullable=False),
        sa.Column("assignee_id", sa.String(length=80), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_field_task_history_task_at", "field_task_history", ["task_id", "at"], unique=False)

    op.create_table(
        "field_task_check_ins",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("officer_id", sa.String(length=80), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=False),
        sa.Column("longitude", sa.Float(), nullable=False),
        sa.Column("accuracy_m", sa.Float(), nullable=False),
        sa.Column("source_system", sa.String(length=8), nullable=False),
        sa.Column("distance_m", sa.Float(), nullable=True),
        sa.Column("radius_m", sa.Float(), nullable=False),
        sa.Column("flagged", sa.Boolean(), nullable=False),
        sa.Column("flag_reason", sa.String(length=40), nullable=False),
        sa.Column("device_id", sa.String(length=80), nullable=False),
        sa.Column("client_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("server_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_field_task_check_ins_task", "field_task_check_ins", ["task_id", "server_time"], unique=False)
    op.create_index(
        "ix_field_task_check_ins_officer", "field_task_check_ins", ["officer_id", "server_time"], unique=False
    )

    op.create_table(
        "field_task_evidence",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("media_type", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("file_name", sa.String(length=200), nullable=False),
        sa.Column("captured_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("device_id", sa.String(length=80), nullable=False),
        sa.Column("uploaded_by", sa.String(length=80), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("task_id", "sha256", name="uq_field_task_evidence_task_sha256"),
    )

    op.create_table(
        "field_task_signatures",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("signer_name", sa.String(length=100), nullable=False),
        sa.Column("signer_party_id", sa.String(length=80), nullable=False),
        sa.Column("image_sha256", sa.String(length=64), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("external_ref", sa.String(length=120), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("officer_id", sa.String(length=80), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_field_task_signatures_task", "field_task_signatures", ["task_id", "signed_at"], unique=False)

    op.create_table(
        "field_sync_items",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("officer_id", sa.String(length=80), nullable=False),
        sa.Column("client_id", sa.String(length=80), nullable=False),
        sa.Column("batch_id", sa.String(length=80), nullable=False),
        sa.Column("action", sa.String(length=24), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("client_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=60), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("officer_id", "client_id", name="uq_field_sync_items_officer_client"),
    )

    op.create_table(
        "field_trajectory_points",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("officer_id", sa.String(length=80), nullable=False),
        sa.Column("branch_id", sa.String(length=36), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=False),
        sa.Column("longitude", sa.Float(), nullable=False),
        sa.Column("accuracy_m", sa.Float(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("officer_id", "recorded_at", name="uq_field_trajectory_points_officer_at"),
    )
    op.create_index("ix_field_trajectory_points_recorded_at", "field_trajectory_points", ["recorded_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_field_trajectory_points_recorded_at", table_name="field_trajectory_points")
    op.drop_table("field_trajectory_points")
    op.drop_table("field_sync_items")
    op.drop_index("ix_field_task_signatures_task", table_name="field_task_signatures")
    op.drop_table("field_task_signatures")
    op.drop_table("field_task_evidence")
    op.drop_index("ix_field_task_check_ins_officer", table_name="field_task_check_ins")
    op.drop_index("ix_field_task_check_ins_task", table_name="field_task_check_ins")
    op.drop_table("field_task_check_ins")
    op.drop_index("ix_field_task_history_task_at", table_name="field_task_history")
    op.drop_table("field_task_history")
    with op.batch_alter_table("field_tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_field_tasks_business_key")
        batch_op.drop_index("ix_field_tasks_status_due")
        for column in reversed(_new_task_columns()):
            batch_op.drop_column(column.name)
