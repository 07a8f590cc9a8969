"""The customer service's tables."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """This service's own metadata: its migrations never see another service's tables."""


class BranchRow(Base):
    __tablename__ = "branches"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("branches.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class StaffRow(Base):
    __tablename__ = "staff"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(200))
    roles: Mapped[list[str]] = mapped_column(JSON)
    branch_id: Mapped[str] = mapped_column(ForeignKey("branches.id"))
    superior_id: Mapped[str | None] = mapped_column(ForeignKey("staff.id"), nullable=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    phone: Mapped[str] = mapped_column(String(32), server_default="", default="")
    # When this account manager last received a lead: round-robin picks the longest-waiting one.
    last_lead_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class PartyRow(Base):
    __tablename__ = "parties"
    __table_args__ = (Index("ix_parties_branch", "branch_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100), index=True)
    # Encrypted value, keyed hash for exact lookup and de-duplication, masked form for display.
    id_number_cipher: Mapped[bytes] = mapped_column(LargeBinary)
    id_number_index: Mapped[str] = mapped_column(String(64), unique=True)
    id_number_masked: Mapped[str] = mapped_column(String(32))
    mobile_cipher: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    mobile_index: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    mobile_masked: Mapped[str] = mapped_column(String(32), default="")
    birth_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    gender: Mapped[str] = mapped_column(String(8), default="")
    warnings: Mapped[list[str]] = mapped_column(JSON, default=list)
    branch_id: Mapped[str] = mapped_column(String(36))
    managing_officer_id: Mapped[str] = mapped_column(String(36), index=True)
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    id_type: Mapped[str] = mapped_column(String(32), server_default="RESIDENT_ID", default="RESIDENT_ID")
    address: Mapped[str] = mapped_column(String(200), server_default="", default="")
    region_code: Mapped[str] = mapped_column(String(12), server_default="", default="", index=True)
    occupation: Mapped[str] = mapped_column(String(100), server_default="", default="")
    legal_rep_name: Mapped[str] = mapped_column(String(100), server_default="", default="")
    stage: Mapped[str] = mapped_column(String(20), server_default="prospect", default="prospect", index=True)
    tier_value: Mapped[str] = mapped_column(String(16), server_default="", default="")
    tier_activity: Mapped[str] = mapped_column(String(16), server_default="", default="")
    tier_risk: Mapped[str] = mapped_column(String(16), server_default="", default="")
    merged_into_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    import_batch_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    import_file: Mapped[str | None] = mapped_column(String(200), nullable=True)
    import_row: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class RegionRow(Base):
    """12-digit statistical division codes: province, city, county, township, village."""

    __tablename__ = "regions"

    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[int] = mapped_column(Integer)
    parent_code: Mapped[str | None] = mapped_column(String(12), nullable=True, index=True)
    # WGS-84 centroid; empty for divisions not located yet.
    latitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    longitude: Mapped[float | None] = mapped_column(Float, nullable=True)


class StaffRegionRow(Base):
    __tablename__ = "staff_regions"

    staff_id: Mapped[str] = mapped_column(ForeignKey("staff.id"), primary_key=True)
    region_code: Mapped[str] = mapped_column(String(12), primary_key=True)


class PartyTagRow(Base):
    __tablename__ = "party_tags"

    party_id: Mapped[str] = mapped_column(ForeignKey("parties.id"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(50), primary_key=True, index=True)


class StageHistoryRow(Base):
    __tablename__ = "party_stage_history"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    party_id: Mapped[str] = mapped_column(ForeignKey("parties.id"), index=True)
    from_stage: Mapped[str] = mapped_column(String(20))
    to_stage: Mapped[str] = mapped_column(String(20), index=True)
    reason: Mapped[str] = mapped_column(String(200))
    changed_by: Mapped[str] = mapped_column(String(80))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RelationRow(Base):
    __tablename__ = "party_relations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    party_id: Mapped[str] = mapped_column(ForeignKey("parties.id"), index=True)
    related_party_id: Mapped[str] = mapped_column(ForeignKey("parties.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    share_percent: Mapped[Decimal | None] = mapped_column(Numeric(7, 4), nullable=True)
    valid_from: Mapped[date | None] = mapped_column(Date, nullable=True)
    valid_to: Mapped[date | None] = mapped_column(Date, nullable=True)
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class HouseholdRow(Base):
    __tablename__ = "households"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    head_party_id: Mapped[str] = mapped_column(ForeignKey("parties.id"), index=True)
    village_code: Mapped[str] = mapped_column(String(12), index=True)
    land_mu: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    labour_count: Mapped[int] = mapped_column(Integer)
    main_income: Mapped[str] = mapped_column(String(100))
    annual_income: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    rating: Mapped[str] = mapped_column(String(16))
    branch_id: Mapped[str] = mapped_column(String(36))
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class HouseholdMemberRow(Base):
    __tablename__ = "household_members"

    household_id: Mapped[str] = mapped_column(ForeignKey("households.id"), primary_key=True)
    party_id: Mapped[str] = mapped_column(ForeignKey("parties.id"), primary_key=True, index=True)
    relation: Mapped[str] = mapped_column(String(16))
    co_borrower: Mapped[bool] = mapped_column(Boolean)


class FinancialItemRow(Base):
    __tablename__ = "financial_items"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    party_id: Mapped[str] = mapped_column(ForeignKey("parties.id"), index=True)
    category: Mapped[str] = mapped_column(String(16))
    item_type: Mapped[str] = mapped_column(String(50))
    value: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    valuation_date: Mapped[date] = mapped_column(Date)
    verified_by_visit: Mapped[bool] = mapped_column(Boolean)
    description: Mapped[str] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ConsentRow(Base):
    __tablename__ = "consents"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    party_id: Mapped[str] = mapped_column(ForeignKey("parties.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(50))
    scope: Mapped[str] = mapped_column(String(200))
    granted: Mapped[bool] = mapped_column(Boolean)
    granted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    document_ref: Mapped[str] = mapped_column(String(200))
    recorded_by: Mapped[str] = mapped_column(String(80))


class CreditReportRow(Base):
    __tablename__ = "credit_reports"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    party_id: Mapped[str] = mapped_column(ForeignKey("parties.id"), index=True)
    bureau: Mapped[str] = mapped_column(String(50))
    consent_id: Mapped[str] = mapped_column(ForeignKey("consents.id"))
    purpose: Mapped[str] = mapped_column(String(50))
    queried_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    summary: Mapped[dict[str, str]] = mapped_column(JSON)
    document_ref: Mapped[str] = mapped_column(String(200))
    external_ref: Mapped[str] = mapped_column(String(100), unique=True)
    recorded_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class InteractionRow(Base):
    __tablename__ = "interactions"
    __table_args__ = (Index("ix_interactions_party_time", "party_id", "occurred_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    party_id: Mapped[str] = mapped_column(ForeignKey("parties.id"))
    kind: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[str] = mapped_column(String(80))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    summary: Mapped[str] = mapped_column(String(1000))
    linked_task_id: Mapped[str] = mapped_column(String(36))
    linked_application_id: Mapped[str] = mapped_column(String(36))


class PartyChangeRow(Base):
    """A requested key-data change; the new value sealed, before/after kept masked for history."""

    __tablename__ = "party_changes"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    party_id: Mapped[str] = mapped_column(ForeignKey("parties.id"), index=True)
    field: Mapped[str] = mapped_column(String(32))
    new_value_cipher: Mapped[bytes] = mapped_column(LargeBinary)
    before_masked: Mapped[str] = mapped_column(String(120))
    after_masked: Mapped[str] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(200))
    requested_by: Mapped[str] = mapped_column(String(80))
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str | None] = mapped_column(String(80), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    comment: Mapped[str] = mapped_column(String(500))


class PartyMergeRow(Base):
    __tablename__ = "party_merges"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    survivor_id: Mapped[str] = mapped_column(ForeignKey("parties.id"), index=True)
    duplicate_id: Mapped[str] = mapped_column(ForeignKey("parties.id"), unique=True)
    reason: Mapped[str] = mapped_column(String(200))
    moved: Mapped[dict[str, int]] = mapped_column(JSON)
    merged_by: Mapped[str] = mapped_column(String(80))
    merged_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LeadRow(Base):
    __tablename__ = "leads"
    __table_args__ = (Index("ix_leads_officer_stage", "assigned_officer_id", "stage"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    mobile_cipher: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    mobile_index: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    mobile_masked: Mapped[str] = mapped_column(String(32))
    region_code: Mapped[str] = mapped_column(String(12))
    channel: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(100))
    stage: Mapped[str] = mapped_column(String(16))
    max_stage_rank: Mapped[int] = mapped_column(Integer)
    assigned_officer_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    branch_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    next_follow_up: Mapped[date | None] = mapped_column(Date, nullable=True)
    party_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    note: Mapped[str] = mapped_column(String(500))
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    converted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ImportBatchRow(Base):
    __tablename__ = "import_batches"
    __table_args__ = (UniqueConstraint("file_sha256", name="uq_import_batches_file_sha256"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    file_name: Mapped[str] = mapped_column(String(200))
    file_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20))
    total_rows: Mapped[int] = mapped_column(Integer)
    created_count: Mapped[int] = mapped_column(Integer)
    duplicate_count: Mapped[int] = mapped_column(Integer)
    errors: Mapped[list[dict[str, object]]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PartyLoanRow(Base):
    """Loans the credit service reported disbursed to a party: the borrower / repeat borrower stage."""

    __tablename__ = "party_loans"

    loan_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    party_id: Mapped[str] = mapped_column(ForeignKey("parties.id"), index=True)
    application_id: Mapped[str] = mapped_column(String(64))
    disbursed_on: Mapped[str] = mapped_column(String(10))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
