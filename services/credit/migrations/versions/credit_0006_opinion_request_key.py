"""approval opinions keep the Idempotency-Key of the request that recorded them

Revision ID: credit_0006
Revises: credit_0005
"""

import sqlalchemy as sa
from alembic import op

revision = "credit_0006"
down_revision = "credit_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("approval_opinions") as batch:
        batch.add_column(sa.Column("request_key", sa.String(200), nullable=False, server_default=""))
    op.create_index("ix_approval_opinions_request_key", "approval_opinions", ["application_id", "request_key"])


def downgrade() -> None:
    op.drop_index("ix_approval_opinions_request_key", table_name="approval_opinions")
    with op.batch_alter_table("approval_opinions") as batch:
        batch.drop_column("request_key")
