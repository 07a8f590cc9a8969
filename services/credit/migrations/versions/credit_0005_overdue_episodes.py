"""overdue episodes: arrears opened by close of business, cured by repayments (collection success rate)

Revision ID: credit_0005
Revises: credit_0004
"""

import sqlalchemy as sa
from alembic import op

revision = "credit_0005"
down_revision = "credit_0004"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(precision=18, scale=2)


def upgrade() -> None:
    op.create_table(
        "overdue_episodes",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("loan_id", sa.String(36), nullable=False),
        sa.Column("party_id", sa.String(36), nullable=False),
        sa.Column("branch_id", sa.String(36), nullable=False),
        sa.Column("managing_officer_id", sa.String(80), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_on", sa.Date(), nullable=False),
        sa.Column("opened_on", sa.Date(), nullable=False),
        sa.Column("overdue_at_start", MONEY, nullable=False),
        sa.Column("dpd_at_start", sa.Integer(), nullable=False),
        sa.Column("bucket_at_start", sa.String(8), nullable=False),
        sa.Column("max_dpd", sa.Integer(), nullable=False),
        sa.Column("max_bucket", sa.String(8), nullable=False),
        sa.Column("repayment_seq_at_open", sa.Integer(), nullable=False),
        sa.Column("cured_on", sa.Date(), nullable=True),
        sa.Column("cure_seq", sa.Integer(), nullable=False),
        sa.Column("days_to_cure", sa.Integer(), nullable=True),
        sa.Column("recovered", MONEY, nullable=False),
        sa.Column("merged_into", sa.String(36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_overdue_episodes_loan_status", "overdue_episodes", ["loan_id", "status"])
    op.create_index("ix_overdue_episodes_branch_started", "overdue_episodes", ["branch_id", "started_on"])


def downgrade() -> None:
    op.drop_index("ix_overdue_episodes_branch_started", table_name="overdue_episodes")
    op.drop_index("ix_overdue_episodes_loan_status", table_name="overdue_episodes")
    op.drop_table("overdue_episodes")
