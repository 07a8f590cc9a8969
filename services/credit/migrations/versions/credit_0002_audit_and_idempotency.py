"""audit log and idempotency keys

Revision ID: credit_0002
Revises: credit_0001
"""

from alembic import op

from services.common.messaging_schema import create_platform_tables_v2, drop_platform_tables_v2

revision = "credit_0002"
down_revision = "credit_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_platform_tables_v2(op.get_bind())


def downgrade() -> None:
    drop_platform_tables_v2(op.get_bind())
