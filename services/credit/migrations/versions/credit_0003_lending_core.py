"""product terms, applications, lines, village campaigns, contracts, loans, repayments, COB

Revision ID: credit_0003
Revises: credit_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "credit_0003"
down_revision = "credit_0002"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(precision=18, scale=2)
RATE = sa.Numeric(precision=9, scale=6)
TS = sa.DateTime(timezone=True)


def _product_columns() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("rate_type", sa.String(16), nullable=False, server_default="fixed"),
        sa.Column("lpr", RATE, nullable=True),
        sa.Column("spread", RATE, nullable=True),
        sa.Column("day_count", sa.String(16), nullable=False, server_default="ACT_360"),
        sa.Column("frequency", sa.String(16), nullable=False, server_default="MONTHLY"),
        sa.Column("principal_grace_periods", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("interest_grace_periods", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("penalty_markup", RATE, nullable=False, server_default="0.5"),
        sa.Column("guarantee_types", sa.String(100), nullable=False, server_default=""),
        sa.Column("rounding_scale", sa.Integer(), nullable=False, server_default="2"),
        sa.Column("rounding_mode", sa.String(20), nullable=False, server_default="ROUND_HALF_EVEN"),
        sa.Column("allocation_order", sa.String(60), nullable=False, server_default="penalty,interest,principal"),
    ]


def upgrade() -> None:
    with op.batch_alter_table("products") as batch:
        for column in _product_columns():
            batch.add_column(column)

    op.create_table(
        "applications",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("idempotency_key", sa.String(100), nullable=False),
        sa.Column("party_id", sa.String(36), nullable=False),
        sa.Column("household_id", sa.String(36), nullable=False),
        sa.Column("product_id", sa.String(36), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("term_months", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(500), nullable=False),
        sa.Column("guarantee_method", sa.String(8), nullable=False),
        sa.Column("guarantor_ids", sa.Text(), nullable=False),
        sa.Column("collateral", sa.Text(), nullable=False),
        sa.Column("credit_line_id", sa.String(36), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("branch_id", sa.String(36), nullable=False),
        sa.Column("managing_officer_id", sa.String(80), nullable=False),
        sa.Column("created_by", sa.String(80), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("idempotency_key", name="uq_applications_idempotency_key"),
    )
    op.create_index("ix_applications_party_id", "applications", ["party_id"])
    op.create_index("ix_applications_branch_status", "applications", ["branch_id", "status"])

    op.create_table(
        "approval_opinions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("application_id", sa.String(36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("node", sa.String(100), nullable=False),
        sa.Column("actor_id", sa.String(80), nullable=False),
        sa.Column("role", sa.String(40), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_approval_opinions_application_id", "approval_opinions", ["application_id"])

    op.create_table(
        "credit_lines",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("party_id", sa.String(36), nullable=False),
        sa.Column("household_id", sa.String(36), nullable=False),
        sa.Column("limit_amount", MONEY, nullable=False),
        sa.Column("used", MONEY, nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("revolving", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("branch_id", sa.String(36), nullable=False),
        sa.Column("campaign_id", sa.String(36), nullable=False),
        sa.Column("created_by", sa.String(80), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_credit_lines_party_id", "credit_lines", ["party_id"])
    op.create_index("ix_credit_lines_household_id", "credit_lines", ["household_id"])
    op.create_index("ix_credit_lines_campaign_id", "credit_lines", ["campaign_id"])

    op.create_table(
        "village_campaigns",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("village_code", sa.String(32), nullable=False),
        sa.Column("village_name", sa.String(100), nullable=False),
        sa.Column("branch_id", sa.String(36), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("revolving", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(80), nullable=False),
        sa.Column("approved_by", sa.String(80), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "campaign_households",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("campaign_id", sa.String(36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.String(36), nullable=False),
        sa.Column("party_id", sa.String(36), nullable=False),
        sa.Column("rating", sa.String(8), nullable=False),
        sa.Column("proposed_limit", MONEY, nullable=False),
        sa.Column("credit_line_id", sa.String(36), nullable=False),
        sa.UniqueConstraint("campaign_id", "household_id", name="uq_campaign_households"),
    )

    op.create_table(
        "contract_templates",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(80), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("code", "version", name="uq_contract_templates_code_version"),
    )
    op.create_table(
        "contracts",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("contract_no", sa.String(40), nullable=False),
        sa.Column("application_id", sa.String(36), nullable=False),
        sa.Column("template_id", sa.String(36), nullable=False),
        sa.Column("template_version", sa.Integer(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("signature_method", sa.String(16), nullable=False),
        sa.Column("evidence_ref", sa.String(500), nullable=False),
        sa.Column("signed_by", sa.String(80), nullable=False),
        sa.Column("signed_at", TS, nullable=True),
        sa.Column("created_by", sa.String(80), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("contract_no", name="uq_contracts_contract_no"),
    )
    op.create_index("ix_contracts_application_id", "contracts", ["application_id"])

    op.create_table(
        "loans",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("application_id", sa.String(36), nullable=False),
        sa.Column("contract_id", sa.String(36), nullable=False),
        sa.Column("external_ref", sa.String(100), nullable=False),
        sa.Column("party_id", sa.String(36), nullable=False),
        sa.Column("household_id", sa.String(36), nullable=False),
        sa.Column("product_id", sa.String(36), nullable=False),
        sa.Column("credit_line_id", sa.String(36), nullable=False),
        sa.Column("principal", MONEY, nullable=False),
        sa.Column("annual_rate", RATE, nullable=False),
        sa.Column("penalty_rate", RATE, nullable=False),
        sa.Column("day_count", sa.String(16), nullable=False),
        sa.Column("allocation_order", sa.String(60), nullable=False),
        sa.Column("term_months", sa.Integer(), nullable=False),
        sa.Column("disbursed_on", sa.Date(), nullable=False),
        sa.Column("maturity_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("outstanding_principal", MONEY, nullable=False),
        sa.Column("overdue_amount", MONEY, nullable=False),
        sa.Column("overpaid", MONEY, nullable=False),
        sa.Column("dpd", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.String(8), nullable=False),
        sa.Column("classification", sa.String(20), nullable=False),
        sa.Column("override_class", sa.String(20), nullable=False),
        sa.Column("override_status", sa.String(16), nullable=False),
        sa.Column("override_reason", sa.String(500), nullable=False),
        sa.Column("override_requested_by", sa.String(80), nullable=False),
        sa.Column("last_cob_date", sa.Date(), nullable=True),
        sa.Column("branch_id", sa.String(36), nullable=False),
        sa.Column("managing_officer_id", sa.String(80), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("application_id", name="uq_loans_application_id"),
    )
    op.create_index("ix_loans_party_id", "loans", ["party_id"])
    op.create_index("ix_loans_household_id", "loans", ["household_id"])
    op.create_index("ix_loans_branch_bucket", "loans", ["branch_id", "bucket"])
    op.create_index("ix_loans_status_last_cob", "loans", ["status", "last_cob_date"])

    op.create_table(
        "installments",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("loan_id", sa.String(36), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("opening_principal", MONEY, nullable=False),
        sa.Column("principal", MONEY, nullable=False),
        sa.Column("interest", MONEY, nullable=False),
        sa.Column("penalty", MONEY, nullable=False),
        sa.Column("principal_paid", MONEY, nullable=False),
        sa.Column("interest_paid", MONEY, nullable=False),
        sa.Column("penalty_paid", MONEY, nullable=False),
        sa.Column("reminded_on", sa.Date(), nullable=True),
        sa.UniqueConstraint("loan_id", "number", name="uq_installments_loan_number"),
    )

    op.create_table(
        "repayments",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("loan_id", sa.String(36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("value_date", sa.Date(), nullable=False),
        sa.Column("external_ref", sa.String(100), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("allocations", sa.Text(), nullable=False),
        sa.Column("overpaid", MONEY, nullable=False),
        sa.Column("reversal_reason", sa.String(500), nullable=False),
        sa.Column("created_by", sa.String(80), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("external_ref", name="uq_repayments_external_ref"),
    )
    op.create_index("ix_repayments_loan_id", "repayments", ["loan_id"])

    op.create_table(
        "business_date",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "cob_runs",
        sa.Column("business_date", sa.Date(), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("loans_processed", sa.Integer(), nullable=False),
        sa.Column("events_emitted", sa.Integer(), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("completed_at", TS, nullable=True),
    )


def downgrade() -> None:
    for table in (
        "cob_runs",
        "business_date",
        "repayments",
        "installments",
        "loans",
        "contracts",
        "contract_templates",
        "campaign_households",
        "village_campaigns",
        "credit_lines",
        "approval_opinions",
        "applications",
    ):
        op.drop_table(table)
    with op.batch_alter_table("products") as batch:
        for column in reversed(_product_columns()):
            batch.drop_column(column.name)
