"""e-signature provider reports (connector.esign.signed), applied or refused, once per reference

Revision ID: credit_0004
Revises: credit_0003
"""

import sqlalchemy as sa
from alembic import op

revision = "credit_0004"
down_revision = "credit_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "esign_receipts",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("provider", sa.String(40), nullable=False),
        sa.Column("external_ref", sa.String(100), nullable=False),
        sa.Column("contract_id", sa.String(36), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("signer", sa.String(200), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("provider", "external_ref", name="uq_esign_receipts_provider_ref"),
    )
    op.create_index("ix_esign_receipts_contract_id", "esign_receipts", ["contract_id"])


def downgrade() -> None:
    op.drop_index("ix_esign_receipts_contract_id", table_name="esign_receipts")
    op.drop_table("esign_receipts")
