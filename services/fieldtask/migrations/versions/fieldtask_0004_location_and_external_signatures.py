"""location from the party's address (pending flag, longer source names); external e-signatures

Revision ID: fieldtask_0004
Revises: fieldtask_0003
"""

import sqlalchemy as sa
from alembic import op

revision = "fieldtask_0004"
down_revision = "fieldtask_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("field_tasks", schema=None) as batch_op:
        batch_op.alter_column(
            "location_source",
            existing_type=sa.String(length=8),
            type_=sa.String(length=16),
            existing_nullable=False,
            existing_server_default="",
        )
        batch_op.add_column(sa.Column("location_pending", sa.Boolean(), nullable=False, server_default=sa.false()))
    # A device signature's reference is its own id, so (provider, external_ref) is unique.
    op.execute("UPDATE field_task_signatures SET external_ref = id WHERE external_ref = ''")
    with op.batch_alter_table("field_task_signatures", schema=None) as batch_op:
        batch_op.add_column(sa.Column("document_ref", sa.String(length=300), nullable=False, server_default=""))
        batch_op.create_unique_constraint("uq_field_task_signatures_provider_ref", ["provider", "external_ref"])


def downgrade() -> None:
    with op.batch_alter_table("field_task_signatures", schema=None) as batch_op:
        batch_op.drop_constraint("uq_field_task_signatures_provider_ref", type_="unique")
        batch_op.drop_column("document_ref")
    with op.batch_alter_table("field_tasks", schema=None) as batch_op:
        batch_op.drop_column("location_pending")
        batch_op.alter_column(
            "location_source",
            existing_type=sa.String(length=16),
            type_=sa.String(length=8),
            existing_nullable=False,
            existing_server_default="",
        )
