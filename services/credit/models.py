"""The credit service's tables."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Boolean, Date, DateTime, Index, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

MONEY = Numeric(18, 2)
RATE = Numeric(9, 6)


class Base(DeclarativeBase):
    """This service's own metadata: its migrations never see another service's tables."""


class ProductRow(Base):
    """One immutable version of a lending product; a new version is a new row."""

    __tablename__ = "products"
    __table_args__ = (
        # Two concurrent creations of the same code cannot both become the same version.
        UniqueConstraint("code", "version", name="uq_products_code_version"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    code: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))
    purpose: Mapped[str] = mapped_column(String(500), default="")
    min_amount: Mapped[Decimal] = mapped_column(MONEY)
    max_amount: Mapped[Decimal] = mapped_column(MONEY)
    min_term_months: Mapped[int] = mapped_column(Integer)
    max_term_months: Mapped[int] = mapped_column(Integer)
    annual_rate: Mapped[Decimal] = mapped_column(RATE)
    repayment_method: Mapped[str] = mapped_column(String(32))
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    rate_type: Mapped[str] = mapped_column(String(16), default="fixed")
    lpr: Mapped[Decimal | None] = mapped_column(RATE, nullable=True)
    spread: Mapped[Decimal | None] = mapped_column(RATE, nullable=True)
    day_count: Mapped[str] = mapped_column(String(16), default="ACT_360")
    frequency: Mapped[str] = mapped_column(String(16), default="MONTHLY")
    principal_grace_periods: Mapped[int] = mapped_column(Integer, default=0)
    interest_grace_periods: Mapped[int] = mapped_column(Integer, default=0)
    penalty_markup: Mapped[Decimal] = mapped_column(RATE, default=Decimal("0.5"))
    # Comma-separated: 信用,保证,抵押,质押,联保
    guarantee_types: Mapped[str] = mapped_column(String(100), default="")
    rounding_scale: Mapped[int] = mapped_column(Integer, default=2)
    rounding_mode: Mapped[str] = mapped_column(String(20), default="ROUND_HALF_EVEN")
    # Comma-separated components: penalty,interest,principal
    allocation_order: Mapped[str] = mapped_column(String(60), default="penalty,interest,principal")


class ApplicationRow(Base):
    __tablename__ = "applications"
    __table_args__ = (
        UniqueConstraint("idempotency_key", name="uq_applications_idempotency_key"),
        Index("ix_applications_party_id", "party_id"),
        Index("ix_applications_branch_status", "branch_id", "status"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(100))
    party_id: Mapped[str] = mapped_column(String(36))
    household_id: Mapped[str] = mapped_column(String(36), default="")
    product_id: Mapped[str] = mapped_column(String(36))
    amount: Mapped[Decimal] = mapped_column(MONEY)
    term_months: Mapped[int] = mapped_column(Integer)
    purpose: Mapped[str] = mapped_column(String(500), default="")
    guarantee_method: Mapped[str] = mapped_column(String(8))
    guarantor_ids: Mapped[str] = mapped_column(Text, default="")
    collateral: Mapped[str] = mapped_column(Text, default="")
    credit_line_id: Mapped[str] = mapped_column(String(36), default="")
    status: Mapped[str] = mapped_column(String(16))
    branch_id: Mapped[str] = mapped_column(String(36))
    managing_officer_id: Mapped[str] = mapped_column(String(80))
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ApprovalOpinionRow(Base):
    """Append-only: opinions are inserted, never updated or deleted."""

    __tablename__ = "approval_opinions"
    __table_args__ = (
        Index("ix_approval_opinions_application_id", "application_id"),
        Index("ix_approval_opinions_request_key", "application_id", "request_key"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    application_id: Mapped[str] = mapped_column(String(36))
    seq: Mapped[int] = mapped_column(Integer)
    node: Mapped[str] = mapped_column(String(100))
    actor_id: Mapped[str] = mapped_column(String(80))
    role: Mapped[str] = mapped_column(String(40))
    decision: Mapped[str] = mapped_column(String(16))
    comment: Mapped[str] = mapped_column(Text, default="")
    # The Idempotency-Key of the request that recorded it: a retried request finds it again.
    request_key: Mapped[str] = mapped_column(String(200), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CreditLineRow(Base):
    __tablename__ = "credit_lines"
    __table_args__ = (
        Index("ix_credit_lines_party_id", "party_id"),
        Index("ix_credit_lines_household_id", "household_id"),
        Index("ix_credit_lines_campaign_id", "campaign_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    party_id: Mapped[str] = mapped_column(String(36), default="")
    household_id: Mapped[str] = mapped_column(String(36), default="")
    limit: Mapped[Decimal] = mapped_column("limit_amount", MONEY)
    used: Mapped[Decimal] = mapped_column(MONEY)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date] = mapped_column(Date)
    revolving: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16))
    branch_id: Mapped[str] = mapped_column(String(36))
    campaign_id: Mapped[str] = mapped_column(String(36), default="")
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class VillageCampaignRow(Base):
    __tablename__ = "village_campaigns"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    village_code: Mapped[str] = mapped_column(String(32))
    village_name: Mapped[str] = mapped_column(String(100))
    branch_id: Mapped[str] = mapped_column(String(36))
    status: Mapped[str] = mapped_column(String(16))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date] = mapped_column(Date)
    revolving: Mapped[bool] = mapped_column(Boolean)
    created_by: Mapped[str] = mapped_column(String(80))
    approved_by: Mapped[str] = mapped_column(String(80), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CampaignHouseholdRow(Base):
    __tablename__ = "campaign_households"
    __table_args__ = (UniqueConstraint("campaign_id", "household_id", name="uq_campaign_households"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    campaign_id: Mapped[str] = mapped_column(String(36))
    seq: Mapped[int] = mapped_column(Integer)
    household_id: Mapped[str] = mapped_column(String(36))
    party_id: Mapped[str] = mapped_column(String(36))
    rating: Mapped[str] = mapped_column(String(8))
    proposed_limit: Mapped[Decimal] = mapped_column(MONEY)
    credit_line_id: Mapped[str] = mapped_column(String(36), default="")


class ContractTemplateRow(Base):
    __tablename__ = "contract_templates"
    __table_args__ = (UniqueConstraint("code", "version", name="uq_contract_templates_code_version"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    code: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ContractRow(Base):
    __tablename__ = "contracts"
    __table_args__ = (
        Index("ix_contracts_application_id", "application_id"),
        UniqueConstraint("contract_no", name="uq_contracts_contract_no"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    contract_no: Mapped[str] = mapped_column(String(40))
    application_id: Mapped[str] = mapped_column(String(36))
    template_id: Mapped[str] = mapped_column(String(36))
    template_version: Mapped[int] = mapped_column(Integer)
    content: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20))
    signature_method: Mapped[str] = mapped_column(String(16), default="")
    evidence_ref: Mapped[str] = mapped_column(String(500), default="")
    signed_by: Mapped[str] = mapped_column(String(80), default="")
    signed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LoanRow(Base):
    __tablename__ = "loans"
    __table_args__ = (
        UniqueConstraint("application_id", name="uq_loans_application_id"),
        Index("ix_loans_party_id", "party_id"),
        Index("ix_loans_household_id", "household_id"),
        Index("ix_loans_branch_bucket", "branch_id", "bucket"),
        Index("ix_loans_status_last_cob", "status", "last_cob_date"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    application_id: Mapped[str] = mapped_column(String(36))
    contract_id: Mapped[str] = mapped_column(String(36))
    external_ref: Mapped[str] = mapped_column(String(100), default="")
    party_id: Mapped[str] = mapped_column(String(36))
    household_id: Mapped[str] = mapped_column(String(36), default="")
    product_id: Mapped[str] = mapped_column(String(36))
    credit_line_id: Mapped[str] = mapped_column(String(36), default="")
    principal: Mapped[Decimal] = mapped_column(MONEY)
    annual_rate: Mapped[Decimal] = mapped_column(RATE)
    penalty_rate: Mapped[Decimal] = mapped_column(RATE)
    day_count: Mapped[str] = mapped_column(String(16))
    allocation_order: Mapped[str] = mapped_column(String(60))
    term_months: Mapped[int] = mapped_column(Integer)
    disbursed_on: Mapped[date] = mapped_column(Date)
    maturity_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))
    outstanding_principal: Mapped[Decimal] = mapped_column(MONEY)
    overdue_amount: Mapped[Decimal] = mapped_column(MONEY)
    overpaid: Mapped[Decimal] = mapped_column(MONEY)
    dpd: Mapped[int] = mapped_column(Integer, default=0)
    bucket: Mapped[str] = mapped_column(String(8))
    classification: Mapped[str] = mapped_column(String(20))
    override_class: Mapped[str] = mapped_column(String(20), default="")
    override_status: Mapped[str] = mapped_column(String(16), default="")
    override_reason: Mapped[str] = mapped_column(String(500), default="")
    override_requested_by: Mapped[str] = mapped_column(String(80), default="")
    last_cob_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    branch_id: Mapped[str] = mapped_column(String(36))
    managing_officer_id: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class InstallmentRow(Base):
    __tablename__ = "installments"
    __table_args__ = (UniqueConstraint("loan_id", "number", name="uq_installments_loan_number"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    loan_id: Mapped[str] = mapped_column(String(36))
    number: Mapped[int] = mapped_column(Integer)
    period_start: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date] = mapped_column(Date)
    days: Mapped[int] = mapped_column(Integer)
    opening_principal: Mapped[Decimal] = mapped_column(MONEY)
    principal: Mapped[Decimal] = mapped_column(MONEY)
    interest: Mapped[Decimal] = mapped_column(MONEY)
    penalty: Mapped[Decimal] = mapped_column(MONEY)
    principal_paid: Mapped[Decimal] = mapped_column(MONEY)
    interest_paid: Mapped[Decimal] = mapped_column(MONEY)
    penalty_paid: Mapped[Decimal] = mapped_column(MONEY)
    # The business date a due-soon reminder went out for this installment (once only).
    reminded_on: Mapped[date | None] = mapped_column(Date, nullable=True)


class RepaymentRow(Base):
    __tablename__ = "repayments"
    __table_args__ = (
        UniqueConstraint("external_ref", name="uq_repayments_external_ref"),
        Index("ix_repayments_loan_id", "loan_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    loan_id: Mapped[str] = mapped_column(String(36))
    seq: Mapped[int] = mapped_column(Integer)
    amount: Mapped[Decimal] = mapped_column(MONEY)
    value_date: Mapped[date] = mapped_column(Date)
    external_ref: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16))
    # JSON list of [installment_number, component, amount]; recomputed on every replay.
    allocations: Mapped[str] = mapped_column(Text, default="[]")
    overpaid: Mapped[Decimal] = mapped_column(MONEY)
    reversal_reason: Mapped[str] = mapped_column(String(500), default="")
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class BusinessDateRow(Base):
    """A single row: the lender's business date, separate from the wall clock."""

    __tablename__ = "business_date"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    business_date: Mapped[date] = mapped_column(Date)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CobRunRow(Base):
    __tablename__ = "cob_runs"

    business_date: Mapped[date] = mapped_column(Date, primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    loans_processed: Mapped[int] = mapped_column(Integer)
    events_emitted: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ESignReceiptRow(Base):
    """Each e-signature provider report received (applied or refused), once per provider reference."""

    __tablename__ = "esign_receipts"
    __table_args__ = (
        UniqueConstraint("provider", "external_ref", name="uq_esign_receipts_provider_ref"),
        Index("ix_esign_receipts_contract_id", "contract_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    provider: Mapped[str] = mapped_column(String(40))
    external_ref: Mapped[str] = mapped_column(String(100))
    contract_id: Mapped[str] = mapped_column(String(36))
    content_hash: Mapped[str] = mapped_column(String(64))
    signer: Mapped[str] = mapped_column(String(200))
    signed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # "applied" or "refused"
    outcome: Mapped[str] = mapped_column(String(16))
    # Why it was refused: HASH_MISMATCH, CONTRACT_NOT_FOUND, ALREADY_SIGNED, ILLEGAL_TRANSITION, INVALID.
    reason: Mapped[str] = mapped_column(String(200), default="")
    event_id: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class OverdueEpisodeRow(Base):
    """One stretch of a loan's arrears, opened by close of business, cured by a repayment
    (rules in domain/collection.py). At most one open episode per loan: every change happens
    with the loan's row locked."""

    __tablename__ = "overdue_episodes"
    __table_args__ = (
        Index("ix_overdue_episodes_loan_status", "loan_id", "status"),
        Index("ix_overdue_episodes_branch_started", "branch_id", "started_on"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    loan_id: Mapped[str] = mapped_column(String(36))
    party_id: Mapped[str] = mapped_column(String(36))
    # The loan's branch and managing officer when the episode opened.
    branch_id: Mapped[str] = mapped_column(String(36))
    managing_officer_id: Mapped[str] = mapped_column(String(80))
    # open, cured or merged (into the episode ``merged_into`` after a reversal).
    status: Mapped[str] = mapped_column(String(16))
    # First day past due; the business date of the COB that opened it.
    started_on: Mapped[date] = mapped_column(Date)
    opened_on: Mapped[date] = mapped_column(Date)
    overdue_at_start: Mapped[Decimal] = mapped_column(MONEY)
    dpd_at_start: Mapped[int] = mapped_column(Integer)
    bucket_at_start: Mapped[str] = mapped_column(String(8))
    max_dpd: Mapped[int] = mapped_column(Integer)
    max_bucket: Mapped[str] = mapped_column(String(8))
    # Repayments with a higher ``seq`` were posted while the episode was open.
    repayment_seq_at_open: Mapped[int] = mapped_column(Integer)
    cured_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    # ``seq`` of the repayment that cured it (0 while open).
    cure_seq: Mapped[int] = mapped_column(Integer, default=0)
    days_to_cure: Mapped[int | None] = mapped_column(Integer, nullable=True)
    recovered: Mapped[Decimal] = mapped_column(MONEY)
    merged_into: Mapped[str] = mapped_column(String(36), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
