"""Queries of the credit service's aggregates. Repositories never commit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.credit.domain.collection import CURED_WITHIN_DAYS, EpisodeCounts
from services.credit.domain.portfolio import (
    PAR_DAYS,
    PASSED_STATUSES,
    REJECTED_STATUSES,
    ApplicationCounts,
    DisbursementCounts,
    LoanAggregate,
)
from services.credit.models import (
    ApplicationRow,
    ApprovalOpinionRow,
    BusinessDateRow,
    CampaignHouseholdRow,
    CobRunRow,
    ContractRow,
    ContractTemplateRow,
    CreditLineRow,
    ESignReceiptRow,
    InstallmentRow,
    LoanRow,
    OverdueEpisodeRow,
    ProductRow,
    RepaymentRow,
    VillageCampaignRow,
)


@dataclass(slots=True)
class CobLoan:
    """The columns close of business reads and may change on a loan, without ORM tracking."""

    id: str
    party_id: str
    managing_officer_id: str
    branch_id: str
    penalty_rate: Decimal
    day_count: str
    outstanding_principal: Decimal
    overdue_amount: Decimal
    dpd: int
    bucket: str
    classification: str
    override_class: str
    override_status: str
    last_cob_date: date | None


@dataclass(slots=True)
class CobInstallment:
    id: str
    loan_id: str
    number: int
    due_date: date
    principal: Decimal
    interest: Decimal
    penalty: Decimal
    principal_paid: Decimal
    interest_paid: Decimal
    penalty_paid: Decimal
    reminded_on: date | None


def _columns(table: Any, record: type) -> list[Any]:
    return [table.c[f.name] for f in fields(record)]


class ProductRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, product: ProductRow) -> None:
        self._session.add(product)

    async def get(self, product_id: str) -> ProductRow | None:
        return await self._session.get(ProductRow, product_id)

    async def latest_version(self, code: str) -> int:
        """Highest version of ``code`` so far; 0 when the code is new."""
        latest = await self._session.scalar(select(func.max(ProductRow.version)).where(ProductRow.code == code))
        return int(latest or 0)

    async def list(self, *, all_versions: bool, code: str) -> list[ProductRow]:
        stmt = select(ProductRow)
        if code:
            stmt = stmt.where(ProductRow.code == code)
        if not all_versions:
            latest = (
                select(ProductRow.code, func.max(ProductRow.version).label("v")).group_by(ProductRow.code).subquery()
            )
            stmt = stmt.join(latest, and_(ProductRow.code == latest.c.code, ProductRow.version == latest.c.v))
        return list((await self._session.scalars(stmt.order_by(ProductRow.code, ProductRow.version))).all())


class ApplicationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, row: ApplicationRow | ApprovalOpinionRow) -> None:
        self._session.add(row)

    async def get(self, application_id: str, *, for_update: bool = False) -> ApplicationRow | None:
        return await self._session.get(ApplicationRow, application_id, with_for_update=for_update)

    async def by_key(self, key: str) -> ApplicationRow | None:
        return await self._session.scalar(select(ApplicationRow).where(ApplicationRow.idempotency_key == key))

    async def opinions(self, application_id: str) -> list[ApprovalOpinionRow]:
        stmt = (
            select(ApprovalOpinionRow)
            .where(ApprovalOpinionRow.application_id == application_id)
            .order_by(ApprovalOpinionRow.seq)
        )
        return list((await self._session.scalars(stmt)).all())

    async def opinion_by_request(self, application_id: str, request_key: str) -> ApprovalOpinionRow | None:
        return await self._session.scalar(
            select(ApprovalOpinionRow).where(
                ApprovalOpinionRow.application_id == application_id, ApprovalOpinionRow.request_key == request_key
            )
        )

    async def next_opinion_seq(self, application_id: str) -> int:
        seq = await self._session.scalar(
            select(func.max(ApprovalOpinionRow.seq)).where(ApprovalOpinionRow.application_id == application_id)
        )
        return int(seq or 0) + 1

    async def page(
        self, *, branch_id: str | None, status: str, party_id: str, after: tuple[str, str] | None, limit: int
    ) -> list[ApplicationRow]:
        stmt = select(ApplicationRow)
        if branch_id is not None:
            stmt = stmt.where(ApplicationRow.branch_id == branch_id)
        if status:
            stmt = stmt.where(ApplicationRow.status == status)
        if party_id:
            stmt = stmt.where(ApplicationRow.party_id == party_id)
        if after:
            stmt = stmt.where(ApplicationRow.id > after[1])
        return list((await self._session.scalars(stmt.order_by(ApplicationRow.id).limit(limit))).all())


class LineRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, row: Any) -> None:
        self._session.add(row)

    async def get(self, line_id: str, *, for_update: bool = False) -> CreditLineRow | None:
        return await self._session.get(CreditLineRow, line_id, with_for_update=for_update)

    async def page(
        self, *, branch_id: str | None, party_id: str, household_id: str, campaign_id: str, after: str, limit: int
    ) -> list[CreditLineRow]:
        stmt = select(CreditLineRow)
        if branch_id is not None:
            stmt = stmt.where(CreditLineRow.branch_id == branch_id)
        if party_id:
            stmt = stmt.where(CreditLineRow.party_id == party_id)
        if household_id:
            stmt = stmt.where(CreditLineRow.household_id == household_id)
        if campaign_id:
            stmt = stmt.where(CreditLineRow.campaign_id == campaign_id)
        if after:
            stmt = stmt.where(CreditLineRow.id > after)
        return list((await self._session.scalars(stmt.order_by(CreditLineRow.id).limit(limit))).all())

    async def unused_limits(self, *, party_id: str, household_id: str, on: date) -> Decimal:
        holder = _holder(CreditLineRow.party_id, CreditLineRow.household_id, party_id, household_id)
        total = await self._session.scalar(
            select(func.coalesce(func.sum(CreditLineRow.limit - CreditLineRow.used), 0)).where(
                holder, CreditLineRow.status == "active", CreditLineRow.valid_until >= on
            )
        )
        return Decimal(total or 0)

    async def campaign(self, campaign_id: str, *, for_update: bool = False) -> VillageCampaignRow | None:
        return await self._session.get(VillageCampaignRow, campaign_id, with_for_update=for_update)

    async def campaign_households(self, campaign_id: str) -> list[CampaignHouseholdRow]:
        stmt = (
            select(CampaignHouseholdRow)
            .where(CampaignHouseholdRow.campaign_id == campaign_id)
            .order_by(CampaignHouseholdRow.seq)
        )
        return list((await self._session.scalars(stmt)).all())


def _holder(party_col: Any, household_col: Any, party_id: str, household_id: str) -> ColumnElement[bool]:
    conditions = []
    if party_id:
        conditions.append(party_col == party_id)
    if household_id:
        conditions.append(household_col == household_id)
    return or_(*conditions)


class ContractRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, row: Any) -> None:
        self._session.add(row)

    async def latest_template(self, code: str) -> ContractTemplateRow | None:
        stmt = (
            select(ContractTemplateRow)
            .where(ContractTemplateRow.code == code)
            .order_by(ContractTemplateRow.version.desc())
            .limit(1)
        )
        return await self._session.scalar(stmt)

    async def get(self, contract_id: str, *, for_update: bool = False) -> ContractRow | None:
        return await self._session.get(ContractRow, contract_id, with_for_update=for_update)

    async def esign_receipt(self, provider: str, external_ref: str) -> ESignReceiptRow | None:
        stmt = select(ESignReceiptRow).where(
            ESignReceiptRow.provider == provider, ESignReceiptRow.external_ref == external_ref
        )
        return await self._session.scalar(stmt)

    async def esign_receipts(self, contract_id: str) -> list[ESignReceiptRow]:
        stmt = (
            select(ESignReceiptRow)
            .where(ESignReceiptRow.contract_id == contract_id)
            .order_by(ESignReceiptRow.received_at, ESignReceiptRow.id)
        )
        return list((await self._session.scalars(stmt)).all())

    async def signed_for(self, application_id: str) -> ContractRow | None:
        stmt = select(ContractRow).where(ContractRow.application_id == application_id, ContractRow.status == "signed")
        return await self._session.scalar(stmt.limit(1))


class LoanRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, row: Any) -> None:
        self._session.add(row)

    def add_all(self, rows: Sequence[Any]) -> None:
        self._session.add_all(rows)

    async def get(self, loan_id: str, *, for_update: bool = False) -> LoanRow | None:
        return await self._session.get(LoanRow, loan_id, with_for_update=for_update)

    async def for_application(self, application_id: str) -> LoanRow | None:
        return await self._session.scalar(select(LoanRow).where(LoanRow.application_id == application_id))

    async def installments(self, loan_id: str) -> list[InstallmentRow]:
        stmt = select(InstallmentRow).where(InstallmentRow.loan_id == loan_id).order_by(InstallmentRow.number)
        return list((await self._session.scalars(stmt)).all())

    async def repayments(self, loan_id: str) -> list[RepaymentRow]:
        stmt = select(RepaymentRow).where(RepaymentRow.loan_id == loan_id).order_by(RepaymentRow.seq)
        return list((await self._session.scalars(stmt)).all())

    async def repayment(self, repayment_id: str) -> RepaymentRow | None:
        return await self._session.get(RepaymentRow, repayment_id)

    async def repayment_by_ref(self, external_ref: str) -> RepaymentRow | None:
        return await self._session.scalar(select(RepaymentRow).where(RepaymentRow.external_ref == external_ref))

    async def outstanding(self, *, party_id: str, household_id: str) -> Decimal:
        holder = _holder(LoanRow.party_id, LoanRow.household_id, party_id, household_id)
        total = await self._session.scalar(
            select(func.coalesce(func.sum(LoanRow.outstanding_principal), 0)).where(holder, LoanRow.status == "active")
        )
        return Decimal(total or 0)

    async def due_for_cob(self, business_date: date, limit: int) -> list[CobLoan]:
        """The next loans not yet closed for ``business_date``, locked (skip those another run holds).

        Plain records read with one Core query, not ORM instances (whose construction and change
        tracking cost more than the arithmetic): close of business computes on them and writes
        back only what changed with :meth:`save_close_of_business`.
        """
        table = LoanRow.__table__
        stmt = (
            select(*_columns(table, CobLoan))
            .where(
                table.c.status == "active",
                table.c.disbursed_on <= business_date,
                or_(table.c.last_cob_date.is_(None), table.c.last_cob_date < business_date),
            )
            .order_by(table.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [CobLoan(*row) for row in (await self._session.execute(stmt)).all()]

    async def close_quiet_loans(self, business_date: date, *, reminder_horizon: date, limit: int) -> int:
        """Sets ``last_cob_date`` with one UPDATE on up to ``limit`` loans for which close of
        business has nothing to compute: current, normal, no approved override, nothing overdue,
        and no unpaid installment due by ``reminder_horizon`` still waiting for its reminder.
        Returns how many. For such a loan the per-loan arithmetic would change nothing else and
        raise no event, so this is the same result without reading its installments."""
        candidate = LoanRow.__table__.alias("candidate")
        i = InstallmentRow.__table__
        owed = (
            (i.c.principal - i.c.principal_paid) + (i.c.interest - i.c.interest_paid) + (i.c.penalty - i.c.penalty_paid)
        )
        busy = (
            select(i.c.id)
            .where(
                i.c.loan_id == candidate.c.id,
                i.c.due_date <= reminder_horizon,
                owed > 0,
                or_(i.c.due_date < business_date, i.c.reminded_on.is_(None)),
            )
            .exists()
        )
        quiet = (
            select(candidate.c.id)
            .where(
                candidate.c.status == "active",
                candidate.c.disbursed_on <= business_date,
                or_(candidate.c.last_cob_date.is_(None), candidate.c.last_cob_date < business_date),
                candidate.c.dpd == 0,
                candidate.c.bucket == "current",
                candidate.c.classification == "normal",
                candidate.c.override_status != "approved",
                candidate.c.overdue_amount == 0,
                ~busy,
            )
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        result = await self._session.execute(
            update(LoanRow)
            .where(LoanRow.id.in_(quiet))
            .values(last_cob_date=business_date)
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def installments_of(self, loan_ids: list[str]) -> dict[str, list[CobInstallment]]:
        """The loans' installments as plain records, by loan, in number order (see :meth:`due_for_cob`)."""
        table = InstallmentRow.__table__
        stmt = (
            select(*_columns(table, CobInstallment))
            .where(table.c.loan_id.in_(loan_ids))
            .order_by(table.c.loan_id, table.c.number)
        )
        grouped: dict[str, list[CobInstallment]] = {i: [] for i in loan_ids}
        for row in (await self._session.execute(stmt)).all():
            record = CobInstallment(*row)
            grouped[record.loan_id].append(record)
        return grouped

    async def save_close_of_business(
        self,
        business_date: date,
        *,
        unchanged_loan_ids: Sequence[str],
        loan_changes: Sequence[dict[str, Any]],
        installment_changes: Sequence[dict[str, Any]],
    ) -> None:
        """Writes a COB batch: one UPDATE for loans whose position did not move, one executemany
        each for changed loans and changed installments (every dict has the same keys)."""
        if unchanged_loan_ids:
            await self._session.execute(
                update(LoanRow)
                .where(LoanRow.id.in_(unchanged_loan_ids))
                .values(last_cob_date=business_date)
                .execution_options(synchronize_session=False)
            )
        if loan_changes:
            await self._session.execute(update(LoanRow), list(loan_changes))
        if installment_changes:
            await self._session.execute(update(InstallmentRow), list(installment_changes))

    async def page(
        self,
        *,
        branch_id: str | None,
        filters: dict[str, str],
        min_dpd: int,
        after: str,
        limit: int,
    ) -> list[LoanRow]:
        stmt = select(LoanRow)
        if branch_id is not None:
            stmt = stmt.where(LoanRow.branch_id == branch_id)
        for name, value in filters.items():
            if value:
                stmt = stmt.where(getattr(LoanRow, name) == value)
        if min_dpd:
            stmt = stmt.where(LoanRow.dpd >= min_dpd)
        if after:
            stmt = stmt.where(LoanRow.id > after)
        return list((await self._session.scalars(stmt.order_by(LoanRow.id).limit(limit))).all())


class CalendarRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def business_date(self) -> BusinessDateRow | None:
        return await self._session.get(BusinessDateRow, 1)

    def add(self, row: Any) -> None:
        self._session.add(row)

    async def cob_run(self, business_date: date) -> CobRunRow | None:
        return await self._session.get(CobRunRow, business_date)


class PortfolioRepository:
    """Set-based sums for dashboards: the database groups, Python only names and orders."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def loan_aggregates(
        self, *group_by: Any, branch_id: str | None
    ) -> list[tuple[tuple[str, ...], LoanAggregate]]:
        """Active loans grouped by ``group_by`` columns: (group values, sums)."""
        stmt = select(
            *group_by,
            func.count(),
            func.coalesce(func.sum(LoanRow.outstanding_principal), 0),
            func.coalesce(func.sum(case((LoanRow.dpd >= 1, LoanRow.outstanding_principal), else_=0)), 0),
            func.coalesce(func.sum(case((LoanRow.dpd > PAR_DAYS, LoanRow.outstanding_principal), else_=0)), 0),
        ).where(LoanRow.status == "active")
        if branch_id is not None:
            stmt = stmt.where(LoanRow.branch_id == branch_id)
        if group_by:
            stmt = stmt.group_by(*group_by)
        width = len(group_by)
        result = []
        for row in (await self._session.execute(stmt)).all():
            keys = tuple(str(v) for v in row[:width])
            count, outstanding, overdue, par = row[width:]
            result.append(
                (keys, LoanAggregate("|".join(keys), int(count), Decimal(outstanding), Decimal(overdue), Decimal(par)))
            )
        return result

    async def product_names(self) -> dict[str, tuple[str, str]]:
        """product id → (code, name of the latest version of that code)."""
        rows = (
            await self._session.execute(select(ProductRow.id, ProductRow.code, ProductRow.name, ProductRow.version))
        ).all()
        latest: dict[str, tuple[int, str]] = {}
        for r in rows:
            if r.code not in latest or r.version > latest[r.code][0]:
                latest[r.code] = (r.version, r.name)
        return {r.id: (r.code, latest[r.code][1]) for r in rows}

    async def application_counts(
        self, *, branch_id: str | None, start: date | None, end: date | None
    ) -> list[ApplicationCounts]:
        """Non-draft applications per (officer, branch) created in [start, end] (UTC dates)."""
        stmt = select(
            ApplicationRow.managing_officer_id,
            ApplicationRow.branch_id,
            func.count(),
            func.coalesce(func.sum(case((ApplicationRow.status.in_(PASSED_STATUSES), 1), else_=0)), 0),
            func.coalesce(func.sum(case((ApplicationRow.status.in_(REJECTED_STATUSES), 1), else_=0)), 0),
        ).where(ApplicationRow.status != "draft")
        if branch_id is not None:
            stmt = stmt.where(ApplicationRow.branch_id == branch_id)
        if start is not None:
            stmt = stmt.where(ApplicationRow.created_at >= datetime.combine(start, time(), UTC))
        if end is not None:
            stmt = stmt.where(ApplicationRow.created_at < datetime.combine(end + timedelta(days=1), time(), UTC))
        stmt = stmt.group_by(ApplicationRow.managing_officer_id, ApplicationRow.branch_id)
        return [
            ApplicationCounts(r[0], r[1], int(r[2]), int(r[3]), int(r[4]))
            for r in (await self._session.execute(stmt)).all()
        ]

    def _disbursed(self, stmt: Any, branch_id: str | None, start: date | None, end: date | None) -> Any:
        if branch_id is not None:
            stmt = stmt.where(LoanRow.branch_id == branch_id)
        if start is not None:
            stmt = stmt.where(LoanRow.disbursed_on >= start)
        if end is not None:
            stmt = stmt.where(LoanRow.disbursed_on <= end)
        return stmt

    async def disbursement_counts(
        self, *, branch_id: str | None, start: date | None, end: date | None
    ) -> list[DisbursementCounts]:
        stmt = select(
            LoanRow.managing_officer_id, LoanRow.branch_id, func.count(), func.coalesce(func.sum(LoanRow.principal), 0)
        )
        stmt = self._disbursed(stmt, branch_id, start, end).group_by(LoanRow.managing_officer_id, LoanRow.branch_id)
        return [
            DisbursementCounts(r[0], r[1], int(r[2]), Decimal(r[3])) for r in (await self._session.execute(stmt)).all()
        ]

    async def disbursement_days(
        self, *, branch_id: str | None, start: date | None, end: date | None
    ) -> list[tuple[date, int, Decimal]]:
        stmt = select(LoanRow.disbursed_on, func.count(), func.coalesce(func.sum(LoanRow.principal), 0))
        stmt = self._disbursed(stmt, branch_id, start, end).group_by(LoanRow.disbursed_on)
        return [(r[0], int(r[1]), Decimal(r[2])) for r in (await self._session.execute(stmt)).all()]


class CollectionRepository:
    """Overdue episodes: the few open ones close of business tracks, and the sums for the
    collection success rate."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, row: OverdueEpisodeRow) -> None:
        self._session.add(row)

    async def open_for(self, loan_ids: Sequence[str]) -> dict[str, OverdueEpisodeRow]:
        """The open episode of each loan that has one."""
        if not loan_ids:
            return {}
        stmt = select(OverdueEpisodeRow).where(
            OverdueEpisodeRow.loan_id.in_(loan_ids), OverdueEpisodeRow.status == "open"
        )
        return {row.loan_id: row for row in (await self._session.scalars(stmt)).all()}

    async def of_loan(self, loan_id: str) -> list[OverdueEpisodeRow]:
        """A loan's episodes in the order they were opened."""
        stmt = (
            select(OverdueEpisodeRow)
            .where(OverdueEpisodeRow.loan_id == loan_id)
            .order_by(OverdueEpisodeRow.opened_on, OverdueEpisodeRow.created_at, OverdueEpisodeRow.id)
        )
        return list((await self._session.scalars(stmt)).all())

    async def last_repayment_seqs(self, loan_ids: Sequence[str]) -> dict[str, int]:
        """The highest repayment ``seq`` of each loan (loans without repayments are absent)."""
        if not loan_ids:
            return {}
        stmt = (
            select(RepaymentRow.loan_id, func.max(RepaymentRow.seq))
            .where(RepaymentRow.loan_id.in_(loan_ids))
            .group_by(RepaymentRow.loan_id)
        )
        return {loan_id: int(seq or 0) for loan_id, seq in (await self._session.execute(stmt)).all()}

    async def counts(self, *, branch_id: str | None, start: date | None, end: date | None) -> list[EpisodeCounts]:
        """Episodes (merged ones excluded) started in [start, end], per (branch, officer)."""
        e = OverdueEpisodeRow
        cured = e.status == "cured"
        stmt = select(
            e.branch_id,
            e.managing_officer_id,
            func.count(),
            func.coalesce(func.sum(case((cured, 1), else_=0)), 0),
            func.coalesce(func.sum(case((and_(cured, e.days_to_cure < CURED_WITHIN_DAYS), 1), else_=0)), 0),
            func.coalesce(func.sum(case((e.status == "open", 1), else_=0)), 0),
            func.coalesce(func.sum(e.overdue_at_start), 0),
            func.coalesce(func.sum(case((cured, e.recovered), else_=0)), 0),
        ).where(e.status != "merged")
        if branch_id is not None:
            stmt = stmt.where(e.branch_id == branch_id)
        if start is not None:
            stmt = stmt.where(e.started_on >= start)
        if end is not None:
            stmt = stmt.where(e.started_on <= end)
        stmt = stmt.group_by(e.branch_id, e.managing_officer_id)
        return [
            EpisodeCounts(r[0], r[1], int(r[2]), int(r[3]), int(r[4]), int(r[5]), Decimal(r[6]), Decimal(r[7]))
            for r in (await self._session.execute(stmt)).all()
        ]
