"""Credit use cases: one function per command or query, one commit per command.

Close of business is the one batch use case: it commits once per batch of loans so that an
interrupted run resumes where it stopped (loans already closed for the date are skipped).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Protocol

from granary.v1 import credit_pb2
from sqlalchemy.exc import IntegrityError

from services.common.clock import new_id, utcnow
from services.common.errors import (
    AlreadyExists,
    Conflict,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from services.common.idempotency import received_key
from services.common.identity import Caller
from services.common.pagination import decode_cursor, encode_cursor, page_size
from services.common.uow import UnitOfWork
from services.credit.domain import collection, delinquency, portfolio
from services.credit.domain.application import (
    EVENT_FOR_STATUS,
    OPINION_DECISIONS,
    PUBLIC_ACTIONS,
    check_application,
    next_status,
)
from services.credit.domain.contract import check_template, render_contract
from services.credit.domain.product import (
    ProductTerms,
    check_amount,
    check_code,
    check_product,
    check_rate,
    method_from_column,
    method_to_column,
)
from services.credit.domain.repayment import Due, Payment, allocate
from services.credit.domain.schedule import (
    DayCount,
    Frequency,
    RepaymentMethod,
    Schedule,
    ScheduleTerms,
    generate_schedule,
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
from services.credit.repository import (
    ApplicationRepository,
    CalendarRepository,
    CollectionRepository,
    ContractRepository,
    LineRepository,
    LoanRepository,
    PortfolioRepository,
    ProductRepository,
)

# Products are the lender's policy: only those who own the process define them.
PRODUCT_WRITERS = ("admin", "process_owner", "system")
ALL_BRANCHES_ROLES = ("admin", "auditor", "risk_director", "system")
FRONT_OFFICE = ("officer", "supervisor", "president", "admin", "system")
APPROVERS = ("supervisor", "president", "risk_director", "committee_member", "admin", "system")
LINE_GRANTERS = ("supervisor", "president", "risk_director", "admin", "system")
CAMPAIGN_APPROVERS = ("president", "risk_director", "admin", "system")
DISBURSERS = ("supervisor", "president", "admin", "system")
REVERSERS = ("supervisor", "president", "admin", "system")
OVERRIDE_REQUESTERS = ("officer", "supervisor", "president", "risk_director", "admin")
OVERRIDE_APPROVERS = ("risk_director", "admin")
OPERATORS = ("admin", "system")
PORTFOLIO_READERS = ("officer", "supervisor", "president", "risk_director", "auditor", "admin", "system")
_ROLE_PREFERENCE = (
    "risk_director",
    "president",
    "committee_member",
    "supervisor",
    "officer",
    "process_owner",
    "admin",
    "system",
)
ZERO = Decimal("0.00")


class CreditUnitOfWork(UnitOfWork):
    @property
    def products(self) -> ProductRepository:
        return ProductRepository(self.session)

    @property
    def applications(self) -> ApplicationRepository:
        return ApplicationRepository(self.session)

    @property
    def lines(self) -> LineRepository:
        return LineRepository(self.session)

    @property
    def contracts(self) -> ContractRepository:
        return ContractRepository(self.session)

    @property
    def loans(self) -> LoanRepository:
        return LoanRepository(self.session)

    @property
    def calendar(self) -> CalendarRepository:
        return CalendarRepository(self.session)

    @property
    def portfolio(self) -> PortfolioRepository:
        return PortfolioRepository(self.session)

    @property
    def collections(self) -> CollectionRepository:
        return CollectionRepository(self.session)


class ProductNotFound(NotFound):
    reason = "PRODUCT_NOT_FOUND"


class ProductVersionConflict(Conflict):
    reason = "PRODUCT_VERSION_CONFLICT"


class ApplicationNotFound(NotFound):
    reason = "APPLICATION_NOT_FOUND"


class CreditLineNotFound(NotFound):
    reason = "CREDIT_LINE_NOT_FOUND"


class CampaignNotFound(NotFound):
    reason = "CAMPAIGN_NOT_FOUND"


class ContractNotFound(NotFound):
    reason = "CONTRACT_NOT_FOUND"


class TemplateNotFound(NotFound):
    reason = "TEMPLATE_NOT_FOUND"


class LoanNotFound(NotFound):
    reason = "LOAN_NOT_FOUND"


class RepaymentNotFound(NotFound):
    reason = "REPAYMENT_NOT_FOUND"


@dataclass(frozen=True)
class CobPolicy:
    """Close-of-business rules, configurable per deployment (GRANARY_CREDIT_* settings)."""

    bucket_edges: tuple[int, ...] = delinquency.DEFAULT_BUCKET_EDGES
    overdue_thresholds: tuple[int, ...] = delinquency.DEFAULT_OVERDUE_THRESHOLDS
    due_soon_days: int = delinquency.DEFAULT_DUE_SOON_DAYS


# --------------------------------------------------------------------------- helpers


def _require(caller: Caller, roles: tuple[str, ...], what: str) -> None:
    if not (caller.is_system or caller.has_role(*roles)):
        raise PermissionDenied(f"your roles do not allow you to {what}")


def _scope(caller: Caller) -> str | None:
    """The branch the caller is limited to; None for roles that see every branch."""
    if caller.is_system or caller.has_role(*ALL_BRANCHES_ROLES):
        return None
    return caller.branch_id


def _visible(caller: Caller, branch_id: str) -> bool:
    scope = _scope(caller)
    return scope is None or scope == branch_id


def _role_of(caller: Caller) -> str:
    for role in _ROLE_PREFERENCE:
        if role in caller.roles:
            return role
    return "system" if caller.is_system else ""


def parse_date(field_name: str, text: str) -> date | None:
    cleaned = text.strip()
    if not cleaned:
        return None
    try:
        return date.fromisoformat(cleaned)
    except ValueError:
        raise InvalidArgument.for_field(field_name, "must be a date like 2026-03-15") from None


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


async def _business_date(uow: CreditUnitOfWork) -> date:
    row = await uow.calendar.business_date()
    return row.business_date if row is not None else utcnow().date()


# --------------------------------------------------------------------------- products


@dataclass(frozen=True)
class NewProduct:
    """A product as requested: amounts and rate are decimal strings, never floats."""

    code: str
    name: str
    min_amount: str
    max_amount: str
    min_term_months: int
    max_term_months: int
    annual_rate: str
    repayment_method: RepaymentMethod | None
    purpose: str = ""
    rate_type: str = ""
    lpr: str = ""
    spread: str = ""
    day_count: str = ""
    frequency: str = ""
    principal_grace_periods: int = 0
    interest_grace_periods: int = 0
    penalty_markup: str = ""
    guarantee_types: tuple[str, ...] = ()
    rounding_scale: int | None = None
    rounding_mode: str = ""
    allocation_order: tuple[str, ...] = ()


def product_terms(row: ProductRow) -> ProductTerms:
    """The validated terms of a stored product version."""
    return ProductTerms(
        code=row.code,
        name=row.name,
        purpose=row.purpose,
        min_amount=row.min_amount,
        max_amount=row.max_amount,
        min_term_months=row.min_term_months,
        max_term_months=row.max_term_months,
        annual_rate=row.annual_rate,
        repayment_method=method_from_column(row.repayment_method),
        rate_type=row.rate_type,
        lpr=row.lpr,
        spread=row.spread,
        day_count=DayCount[row.day_count],
        frequency=Frequency[row.frequency],
        principal_grace_periods=row.principal_grace_periods,
        interest_grace_periods=row.interest_grace_periods,
        penalty_markup=row.penalty_markup,
        guarantee_types=tuple(t for t in row.guarantee_types.split(",") if t),
        rounding_scale=row.rounding_scale,
        rounding_mode=row.rounding_mode,
        allocation_order=tuple(row.allocation_order.split(",")),
    )


async def create_product(*, uow: CreditUnitOfWork, caller: Caller, new: NewProduct) -> ProductRow:
    """Creates the next version of a product code (version 1 for a new code)."""
    if not caller.has_role(*PRODUCT_WRITERS):
        raise PermissionDenied("only process owners and administrators define products")
    terms = check_product(
        code=new.code,
        name=new.name,
        purpose=new.purpose,
        min_amount=new.min_amount,
        max_amount=new.max_amount,
        min_term_months=new.min_term_months,
        max_term_months=new.max_term_months,
        annual_rate=new.annual_rate,
        repayment_method=new.repayment_method,
        rate_type=new.rate_type,
        lpr=new.lpr,
        spread=new.spread,
        day_count=new.day_count,
        frequency=new.frequency,
        principal_grace_periods=new.principal_grace_periods,
        interest_grace_periods=new.interest_grace_periods,
        penalty_markup=new.penalty_markup,
        guarantee_types=new.guarantee_types,
        rounding_scale=new.rounding_scale,
        rounding_mode=new.rounding_mode,
        allocation_order=new.allocation_order,
    )
    async with uow:
        version = await uow.products.latest_version(terms.code) + 1
        product = ProductRow(
            id=new_id(),
            code=terms.code,
            version=version,
            name=terms.name,
            purpose=terms.purpose,
            min_amount=terms.min_amount,
            max_amount=terms.max_amount,
            min_term_months=terms.min_term_months,
            max_term_months=terms.max_term_months,
            annual_rate=terms.annual_rate,
            repayment_method=method_to_column(terms.repayment_method),
            created_by=caller.user_id,
            created_at=utcnow(),
            rate_type=terms.rate_type,
            lpr=terms.lpr,
            spread=terms.spread,
            day_count=terms.day_count.name,
            frequency=terms.frequency.name,
            principal_grace_periods=terms.principal_grace_periods,
            interest_grace_periods=terms.interest_grace_periods,
            penalty_markup=terms.penalty_markup,
            guarantee_types=",".join(terms.guarantee_types),
            rounding_scale=terms.rounding_scale,
            rounding_mode=terms.rounding_mode,
            allocation_order=",".join(terms.allocation_order),
        )
        uow.products.add(product)
        uow.record(
            "credit.product.created",
            product.id,
            credit_pb2.ProductCreated(product_id=product.id, code=product.code, version=product.version),
        )
        uow.audit("product.create", "product", product.id, {"code": product.code, "version": version})
        try:
            await uow.commit()
        except IntegrityError as exc:
            # Another creation of the same code took this version first; a retry gets the next.
            raise ProductVersionConflict(
                f"product {terms.code} version {version} was created concurrently; retry",
                metadata={"code": terms.code},
            ) from exc
    return product


async def get_product(*, uow: CreditUnitOfWork, caller: Caller, product_id: str) -> ProductRow:
    # Products are published terms: every authenticated caller may read them.
    async with uow:
        product = await uow.products.get(product_id)
    if product is None:
        raise ProductNotFound(f"product {product_id} not found")
    return product


async def list_products(*, uow: CreditUnitOfWork, caller: Caller, all_versions: bool, code: str) -> list[ProductRow]:
    async with uow:
        return await uow.products.list(all_versions=all_versions, code=code.strip().upper())


@dataclass(frozen=True)
class QuoteRequest:
    product_id: str
    amount: str
    term_months: int
    start_date: str
    annual_rate: str = ""
    day_count: str = ""


def schedule_for(
    terms: ProductTerms, *, principal: Decimal, term_months: int, start: date, rate: Decimal, day_count: DayCount
) -> Schedule:
    return generate_schedule(
        ScheduleTerms(
            principal=principal,
            annual_rate=rate,
            term_months=term_months,
            start_date=start,
            method=terms.repayment_method,
            frequency=terms.frequency,
            day_count=day_count,
            rounding=terms.rounding,
            principal_grace_periods=terms.principal_grace_periods,
            interest_grace_periods=terms.interest_grace_periods,
        )
    )


async def quote_schedule(*, uow: CreditUnitOfWork, caller: Caller, request: QuoteRequest) -> Schedule:
    """The loan calculator: the product's schedule for an amount and term. Nothing is stored."""
    product = await get_product(uow=uow, caller=caller, product_id=request.product_id)
    terms = product_terms(product)
    amount = check_amount("amount", request.amount)
    if not terms.min_amount <= amount <= terms.max_amount:
        raise InvalidArgument.for_field("amount", f"must be between {terms.min_amount} and {terms.max_amount}")
    if not terms.min_term_months <= request.term_months <= terms.max_term_months:
        raise InvalidArgument.for_field(
            "term_months", f"must be between {terms.min_term_months} and {terms.max_term_months} months"
        )
    start = parse_date("start_date", request.start_date) or utcnow().date()
    rate = check_rate(request.annual_rate) if request.annual_rate.strip() else terms.annual_rate
    day_count = terms.day_count
    if request.day_count.strip():
        try:
            day_count = DayCount[request.day_count.strip().upper()]
        except KeyError:
            raise InvalidArgument.for_field("day_count", "must be one of ACT_360, ACT_365, THIRTY_360") from None
    return schedule_for(
        terms, principal=amount, term_months=request.term_months, start=start, rate=rate, day_count=day_count
    )


# --------------------------------------------------------------------------- applications


@dataclass(frozen=True)
class NewApplication:
    party_id: str
    product_id: str
    amount: str
    term_months: int
    guarantee_method: str
    idempotency_key: str
    household_id: str = ""
    purpose: str = ""
    guarantor_ids: tuple[str, ...] = ()
    collateral: tuple[str, ...] = ()
    draft: bool = False
    credit_line_id: str = ""
    branch_id: str = ""
    managing_officer_id: str = ""


@dataclass
class ApplicationView:
    application: ApplicationRow
    opinions: list[ApprovalOpinionRow] = field(default_factory=list)
    product: ProductRow | None = None


def _application_event(app: ApplicationRow) -> credit_pb2.ApplicationChanged:
    return credit_pb2.ApplicationChanged(
        application_id=app.id,
        party_id=app.party_id,
        product_id=app.product_id,
        amount=_money(app.amount),
        managing_officer_id=app.managing_officer_id,
        branch_id=app.branch_id,
        status=app.status,
        household_id=app.household_id,
    )


async def _line_for_draw(
    uow: CreditUnitOfWork, line_id: str, *, party_id: str, household_id: str, amount: Decimal, on: date
) -> CreditLineRow:
    line = await uow.lines.get(line_id, for_update=True)
    if line is None:
        raise InvalidArgument.for_field("credit_line_id", "no such credit line")
    if not ((line.party_id and line.party_id == party_id) or (line.household_id and line.household_id == household_id)):
        raise InvalidArgument.for_field("credit_line_id", "belongs to another party or household")
    if line.status != "active" or not line.valid_from <= on <= line.valid_until:
        raise InvalidArgument.for_field(
            "credit_line_id", f"is not usable on {on.isoformat()} (valid {line.valid_from} to {line.valid_until})"
        )
    available = line.limit - line.used
    if amount > available:
        raise InvalidArgument.for_field("amount", f"must be at most {_money(available)}, the line's available amount")
    return line


async def submit_application(
    *, uow: CreditUnitOfWork, caller: Caller, new: NewApplication
) -> tuple[ApplicationView, bool]:
    """Creates an application (submitted, or a draft); the same idempotency key replays it."""
    _require(caller, FRONT_OFFICE, "submit applications")
    key = new.idempotency_key.strip()
    if not key:
        raise InvalidArgument.for_field("idempotency_key", "is required")
    if len(key) > 100:
        raise InvalidArgument.for_field("idempotency_key", "must be at most 100 characters")
    async with uow:
        existing = await uow.applications.by_key(key)
        if existing is not None:
            if not _visible(caller, existing.branch_id):
                raise AlreadyExists("this idempotency key was used by another branch", reason="IDEMPOTENCY_KEY_USED")
            return ApplicationView(existing, await uow.applications.opinions(existing.id)), True
        product = await uow.products.get(new.product_id)
        if product is None:
            raise InvalidArgument.for_field("product_id", "no such product")
        terms = check_application(
            product_terms(product),
            party_id=new.party_id,
            amount=new.amount,
            term_months=new.term_months,
            guarantee_method=new.guarantee_method,
            guarantor_ids=new.guarantor_ids,
            collateral=new.collateral,
            purpose=new.purpose,
        )
        today = await _business_date(uow)
        if new.credit_line_id:
            await _line_for_draw(
                uow,
                new.credit_line_id,
                party_id=new.party_id,
                household_id=new.household_id,
                amount=terms.amount,
                on=today,
            )
        branch = new.branch_id.strip() or caller.branch_id
        if not branch:
            raise InvalidArgument.for_field("branch_id", "is required for callers without a branch")
        if not _visible(caller, branch):
            raise PermissionDenied("you may only submit applications for your own branch")
        now = utcnow()
        app = ApplicationRow(
            id=new_id(),
            idempotency_key=key,
            party_id=new.party_id.strip(),
            household_id=new.household_id.strip(),
            product_id=product.id,
            amount=terms.amount,
            term_months=terms.term_months,
            purpose=terms.purpose,
            guarantee_method=terms.guarantee_method,
            guarantor_ids=",".join(terms.guarantor_ids),
            collateral=json.dumps(list(terms.collateral), ensure_ascii=False),
            credit_line_id=new.credit_line_id,
            status="draft" if new.draft else "submitted",
            branch_id=branch,
            managing_officer_id=new.managing_officer_id.strip() or caller.user_id,
            created_by=caller.user_id,
            created_at=now,
            updated_at=now,
        )
        uow.applications.add(app)
        if app.status == "submitted":
            uow.record(EVENT_FOR_STATUS["submitted"], app.id, _application_event(app))
        uow.audit("application.submit", "application", app.id, {"status": app.status, "amount": _money(app.amount)})
        try:
            await uow.commit()
        except IntegrityError:
            replay = None
        else:
            return ApplicationView(app, [], product), False
    # Lost a race on the same key: the winner's application is the answer.
    async with uow:
        replay = await uow.applications.by_key(key)
        if replay is None:  # pragma: no cover - the integrity error was something else
            raise Conflict("the application could not be stored; retry")
        return ApplicationView(replay, await uow.applications.opinions(replay.id)), True


async def _visible_application(
    uow: CreditUnitOfWork, caller: Caller, application_id: str, *, for_update: bool = False
) -> ApplicationRow:
    app = await uow.applications.get(application_id, for_update=for_update)
    if app is None or not _visible(caller, app.branch_id):
        raise ApplicationNotFound(f"application {application_id} not found")
    return app


async def get_application(*, uow: CreditUnitOfWork, caller: Caller, application_id: str) -> ApplicationView:
    async with uow:
        app = await _visible_application(uow, caller, application_id)
        return ApplicationView(app, await uow.applications.opinions(app.id), await uow.products.get(app.product_id))


async def list_applications(
    *, uow: CreditUnitOfWork, caller: Caller, status: str, party_id: str, size: int, token: str
) -> tuple[list[ApplicationRow], str]:
    limit = page_size(size)
    cursor = decode_cursor(token, 1)
    async with uow:
        rows = await uow.applications.page(
            branch_id=_scope(caller),
            status=status,
            party_id=party_id,
            after=("", str(cursor[0])) if cursor else None,
            limit=limit + 1,
        )
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor([rows[-1].id]) if more else ""


def _opinion(
    app: ApplicationRow,
    caller: Caller,
    seq: int,
    node: str,
    decision: str,
    comment: str,
    on_behalf: tuple[str, str] | None = None,
) -> ApprovalOpinionRow:
    return ApprovalOpinionRow(
        id=new_id(),
        application_id=app.id,
        seq=seq,
        node=node.strip()[:100] or "-",
        actor_id=on_behalf[0] if on_behalf else caller.user_id,
        role=on_behalf[1] if on_behalf else _role_of(caller),
        decision=decision,
        comment=comment.strip(),
        created_at=utcnow(),
    )


def _on_behalf(caller: Caller, actor_id: str, actor_role: str) -> tuple[str, str] | None:
    """The user a service records a decision for (the process engine passes who decided)."""
    if not actor_id.strip() and not actor_role.strip():
        return None
    if not caller.is_system:
        raise PermissionDenied("only services may record a decision on behalf of another user")
    if not actor_id.strip():
        raise InvalidArgument.for_field("actor_id", "names the user who decided")
    if actor_role.strip() not in (*APPROVERS, "officer"):
        raise InvalidArgument.for_field("actor_role", f"must be one of {', '.join((*APPROVERS, 'officer'))}")
    return actor_id.strip()[:80], actor_role.strip()


async def transition_application(
    *,
    uow: CreditUnitOfWork,
    caller: Caller,
    application_id: str,
    action: str,
    node: str,
    comment: str,
    actor_id: str = "",
    actor_role: str = "",
) -> ApplicationView:
    """Moves an application along its status machine; decisions append an opinion."""
    on_behalf = _on_behalf(caller, actor_id, actor_role)
    action = action.strip().lower()
    if action not in PUBLIC_ACTIONS:
        raise InvalidArgument.for_field("action", f"must be one of {', '.join(PUBLIC_ACTIONS)}")
    if action in ("submit", "withdraw"):
        _require(caller, FRONT_OFFICE, f"{action} applications")
    else:
        _require(caller, APPROVERS, f"{action.replace('_', ' ')} applications")
    if action in ("reject", "return") and not comment.strip():
        raise InvalidArgument.for_field("comment", f"is required to {action} an application")
    request_key = received_key()
    async with uow:
        app = await _visible_application(uow, caller, application_id, for_update=True)
        decided = action in ("approve", "reject", "return")
        # A retry of a decision that was committed but whose answer was lost is done already.
        if not (decided and request_key and await uow.applications.opinion_by_request(app.id, request_key)):
            previous = app.status
            app.status = next_status(app.status, action)
            app.updated_at = utcnow()
            if decided:
                seq = await uow.applications.next_opinion_seq(app.id)
                opinion = _opinion(app, caller, seq, node, action, comment, on_behalf)
                opinion.request_key = request_key
                uow.applications.add(opinion)
            event = EVENT_FOR_STATUS.get(app.status)
            if event:
                uow.record(event, app.id, _application_event(app))
            uow.audit(f"application.{action}", "application", app.id, {"from": previous, "to": app.status})
            await uow.commit()
    return await get_application(uow=uow, caller=caller, application_id=application_id)


async def add_approval_opinion(
    *,
    uow: CreditUnitOfWork,
    caller: Caller,
    application_id: str,
    node: str,
    decision: str,
    comment: str,
    actor_id: str = "",
    actor_role: str = "",
) -> ApprovalOpinionRow:
    """Appends one opinion (for multi-node approvals); opinions are never changed."""
    _require(caller, APPROVERS, "record approval opinions")
    on_behalf = _on_behalf(caller, actor_id, actor_role)
    decision = decision.strip().lower()
    if decision not in OPINION_DECISIONS:
        raise InvalidArgument.for_field("decision", f"must be one of {', '.join(OPINION_DECISIONS)}")
    if not node.strip():
        raise InvalidArgument.for_field("node", "is required")
    request_key = received_key()
    async with uow:
        app = await _visible_application(uow, caller, application_id, for_update=True)
        if request_key:
            # A retry of a request whose opinion was committed but whose answer was lost.
            earlier = await uow.applications.opinion_by_request(app.id, request_key)
            if earlier is not None:
                return earlier
        if app.status not in ("submitted", "in_review"):
            raise FailedPrecondition(
                f"opinions can be recorded only while the application is submitted or in_review, not {app.status}",
                reason="ILLEGAL_TRANSITION",
            )
        seq = await uow.applications.next_opinion_seq(app.id)
        opinion = _opinion(app, caller, seq, node, decision, comment, on_behalf)
        opinion.request_key = request_key
        uow.applications.add(opinion)
        uow.audit("application.opinion", "application", app.id, {"node": opinion.node, "decision": decision})
        await uow.commit()
    return opinion


@dataclass(frozen=True)
class Exposure:
    outstanding: Decimal
    line_limits: Decimal
    additional: Decimal

    @property
    def total(self) -> Decimal:
        return self.outstanding + self.line_limits + self.additional


async def get_party_exposure(
    *, uow: CreditUnitOfWork, caller: Caller, party_id: str, household_id: str, additional_amount: str
) -> Exposure:
    """Outstanding principal of active loans + unused part of valid active lines + this amount.

    Only the unused part of a line counts: the used part is already in the outstanding
    principal of the loans drawn on it, and counting both would double it.
    """
    if not party_id.strip() and not household_id.strip():
        raise InvalidArgument.for_field("party_id", "party_id or household_id is required")
    additional = check_amount("additional_amount", additional_amount) if additional_amount.strip() else ZERO
    async with uow:
        today = await _business_date(uow)
        outstanding = await uow.loans.outstanding(party_id=party_id.strip(), household_id=household_id.strip())
        lines = await uow.lines.unused_limits(party_id=party_id.strip(), household_id=household_id.strip(), on=today)
    return Exposure(Decimal(outstanding).quantize(ZERO), Decimal(lines).quantize(ZERO), additional)


# --------------------------------------------------------------------------- credit lines


def _check_validity(valid_from: str, valid_until: str, default_from: date) -> tuple[date, date]:
    start = parse_date("valid_from", valid_from) or default_from
    end = parse_date("valid_until", valid_until)
    if end is None:
        raise InvalidArgument.for_field("valid_until", "is required")
    if end <= start:
        raise InvalidArgument.for_field("valid_until", f"must be after valid_from ({start.isoformat()})")
    return start, end


def _line_event(line: CreditLineRow) -> credit_pb2.CreditLineGranted:
    return credit_pb2.CreditLineGranted(
        credit_line_id=line.id,
        party_id=line.party_id,
        household_id=line.household_id,
        limit=_money(line.limit),
        campaign_id=line.campaign_id,
        branch_id=line.branch_id,
    )


@dataclass(frozen=True)
class NewCreditLine:
    party_id: str
    household_id: str
    limit: str
    valid_until: str
    valid_from: str = ""
    revolving: bool = False
    branch_id: str = ""


async def create_credit_line(*, uow: CreditUnitOfWork, caller: Caller, new: NewCreditLine) -> CreditLineRow:
    _require(caller, LINE_GRANTERS, "grant credit lines")
    if not new.party_id.strip() and not new.household_id.strip():
        raise InvalidArgument.for_field("party_id", "party_id or household_id is required")
    limit = check_amount("limit", new.limit)
    branch = new.branch_id.strip() or caller.branch_id
    if not branch:
        raise InvalidArgument.for_field("branch_id", "is required for callers without a branch")
    if not _visible(caller, branch):
        raise PermissionDenied("you may only grant lines in your own branch")
    async with uow:
        start, end = _check_validity(new.valid_from, new.valid_until, await _business_date(uow))
        line = CreditLineRow(
            id=new_id(),
            party_id=new.party_id.strip(),
            household_id=new.household_id.strip(),
            limit=limit,
            used=ZERO,
            valid_from=start,
            valid_until=end,
            revolving=new.revolving,
            status="active",
            branch_id=branch,
            campaign_id="",
            created_by=caller.user_id,
            created_at=utcnow(),
        )
        uow.lines.add(line)
        uow.record("credit.credit_line.created", line.id, _line_event(line))
        uow.audit("credit_line.create", "credit_line", line.id, {"limit": _money(limit)})
        await uow.commit()
    return line


async def get_credit_line(*, uow: CreditUnitOfWork, caller: Caller, credit_line_id: str) -> CreditLineRow:
    async with uow:
        line = await uow.lines.get(credit_line_id)
    if line is None or not _visible(caller, line.branch_id):
        raise CreditLineNotFound(f"credit line {credit_line_id} not found")
    return line


async def list_credit_lines(
    *, uow: CreditUnitOfWork, caller: Caller, party_id: str, household_id: str, campaign_id: str, size: int, token: str
) -> tuple[list[CreditLineRow], str]:
    limit = page_size(size)
    cursor = decode_cursor(token, 1)
    async with uow:
        rows = await uow.lines.page(
            branch_id=_scope(caller),
            party_id=party_id,
            household_id=household_id,
            campaign_id=campaign_id,
            after=str(cursor[0]) if cursor else "",
            limit=limit + 1,
        )
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor([rows[-1].id]) if more else ""


@dataclass(frozen=True)
class ProposedHousehold:
    household_id: str
    party_id: str
    rating: str
    proposed_limit: str


@dataclass(frozen=True)
class NewCampaign:
    village_code: str
    village_name: str
    households: tuple[ProposedHousehold, ...]
    valid_until: str
    valid_from: str = ""
    revolving: bool = True
    branch_id: str = ""


MAX_CAMPAIGN_HOUSEHOLDS = 5000


async def create_village_campaign(
    *, uow: CreditUnitOfWork, caller: Caller, new: NewCampaign
) -> tuple[VillageCampaignRow, list[CampaignHouseholdRow]]:
    """整村授信: a village's rated households with proposed limits, to be approved as one batch."""
    _require(caller, FRONT_OFFICE, "prepare village campaigns")
    if not new.village_code.strip():
        raise InvalidArgument.for_field("village_code", "is required")
    if not new.households:
        raise InvalidArgument.for_field("households", "must list at least one household")
    if len(new.households) > MAX_CAMPAIGN_HOUSEHOLDS:
        raise InvalidArgument.for_field("households", f"must list at most {MAX_CAMPAIGN_HOUSEHOLDS} households")
    seen: set[str] = set()
    checked: list[tuple[ProposedHousehold, Decimal]] = []
    for index, h in enumerate(new.households):
        prefix = f"households[{index}]"
        if not h.household_id.strip():
            raise InvalidArgument.for_field(f"{prefix}.household_id", "is required")
        if h.household_id in seen:
            raise InvalidArgument.for_field(f"{prefix}.household_id", "is listed twice")
        seen.add(h.household_id)
        if not h.party_id.strip():
            raise InvalidArgument.for_field(f"{prefix}.party_id", "is required (the household's borrower)")
        checked.append((h, check_amount(f"{prefix}.proposed_limit", h.proposed_limit)))
    branch = new.branch_id.strip() or caller.branch_id
    if not branch or not _visible(caller, branch):
        raise PermissionDenied("you may only prepare campaigns in your own branch")
    async with uow:
        start, end = _check_validity(new.valid_from, new.valid_until, await _business_date(uow))
        campaign = VillageCampaignRow(
            id=new_id(),
            village_code=new.village_code.strip(),
            village_name=new.village_name.strip(),
            branch_id=branch,
            status="draft",
            valid_from=start,
            valid_until=end,
            revolving=new.revolving,
            created_by=caller.user_id,
            approved_by="",
            created_at=utcnow(),
        )
        uow.lines.add(campaign)
        rows = [
            CampaignHouseholdRow(
                id=new_id(),
                campaign_id=campaign.id,
                seq=i,
                household_id=h.household_id.strip(),
                party_id=h.party_id.strip(),
                rating=h.rating.strip()[:8],
                proposed_limit=limit,
                credit_line_id="",
            )
            for i, (h, limit) in enumerate(checked)
        ]
        for row in rows:
            uow.lines.add(row)
        uow.audit("village_campaign.create", "village_campaign", campaign.id, {"households": len(rows)})
        await uow.commit()
    return campaign, rows


async def get_village_campaign(
    *, uow: CreditUnitOfWork, caller: Caller, campaign_id: str
) -> tuple[VillageCampaignRow, list[CampaignHouseholdRow]]:
    async with uow:
        campaign = await uow.lines.campaign(campaign_id)
        if campaign is None or not _visible(caller, campaign.branch_id):
            raise CampaignNotFound(f"village campaign {campaign_id} not found")
        return campaign, await uow.lines.campaign_households(campaign_id)


async def approve_village_campaign(
    *, uow: CreditUnitOfWork, caller: Caller, campaign_id: str, comment: str
) -> tuple[VillageCampaignRow, list[CampaignHouseholdRow]]:
    """One batch approval: every household of the campaign gets its line in one transaction."""
    _require(caller, CAMPAIGN_APPROVERS, "approve village campaigns")
    async with uow:
        campaign = await uow.lines.campaign(campaign_id, for_update=True)
        if campaign is None or not _visible(caller, campaign.branch_id):
            raise CampaignNotFound(f"village campaign {campaign_id} not found")
        if campaign.status != "draft":
            raise FailedPrecondition(f"the campaign is already {campaign.status}", reason="ILLEGAL_TRANSITION")
        if campaign.created_by == caller.user_id:
            raise PermissionDenied("the campaign must be approved by someone other than who prepared it")
        households = await uow.lines.campaign_households(campaign_id)
        now = utcnow()
        for h in households:
            line = CreditLineRow(
                id=new_id(),
                party_id=h.party_id,
                household_id=h.household_id,
                limit=h.proposed_limit,
                used=ZERO,
                valid_from=campaign.valid_from,
                valid_until=campaign.valid_until,
                revolving=campaign.revolving,
                status="active",
                branch_id=campaign.branch_id,
                campaign_id=campaign.id,
                created_by=caller.user_id,
                created_at=now,
            )
            uow.lines.add(line)
            h.credit_line_id = line.id
            uow.record("credit.credit_line.created", line.id, _line_event(line))
        campaign.status = "approved"
        campaign.approved_by = caller.user_id
        uow.record(
            "credit.village_campaign.approved",
            campaign.id,
            credit_pb2.CreditLineGranted(
                campaign_id=campaign.id,
                branch_id=campaign.branch_id,
                limit=_money(sum((h.proposed_limit for h in households), ZERO)),
            ),
        )
        uow.audit(
            "village_campaign.approve",
            "village_campaign",
            campaign.id,
            {"lines": len(households), "comment": comment.strip()[:200]},
        )
        await uow.commit()
    return campaign, households


# --------------------------------------------------------------------------- contracts


async def create_contract_template(
    *, uow: CreditUnitOfWork, caller: Caller, code: str, body: str
) -> ContractTemplateRow:
    if not caller.has_role(*PRODUCT_WRITERS):
        raise PermissionDenied("only process owners and administrators edit contract templates")
    checked_code = check_code(code)
    checked_body = check_template(body)
    async with uow:
        latest = await uow.contracts.latest_template(checked_code)
        row = ContractTemplateRow(
            id=new_id(),
            code=checked_code,
            version=(latest.version if latest else 0) + 1,
            body=checked_body,
            created_by=caller.user_id,
            created_at=utcnow(),
        )
        uow.contracts.add(row)
        uow.audit("contract_template.create", "contract_template", row.id, {"code": row.code, "version": row.version})
        try:
            await uow.commit()
        except IntegrityError as exc:
            raise Conflict(f"template {checked_code} changed concurrently; retry") from exc
    return row


_METHOD_LABELS = {
    RepaymentMethod.EQUAL_INSTALLMENT: "等额本息",
    RepaymentMethod.EQUAL_PRINCIPAL: "等额本金",
    RepaymentMethod.INTEREST_FIRST: "先息后本",
    RepaymentMethod.BULLET: "利随本清",
}


async def generate_contract(
    *, uow: CreditUnitOfWork, caller: Caller, application_id: str, template_code: str
) -> ContractRow:
    """Renders the latest version of the template with the application's agreed terms."""
    _require(caller, FRONT_OFFICE, "generate contracts")
    async with uow:
        app = await _visible_application(uow, caller, application_id)
        if app.status != "approved":
            raise FailedPrecondition(
                f"a contract can be generated only for an approved application, not {app.status}",
                reason="ILLEGAL_TRANSITION",
            )
        template = await uow.contracts.latest_template(check_code(template_code))
        if template is None:
            raise TemplateNotFound(f"contract template {template_code} not found")
        product = await uow.products.get(app.product_id)
        assert product is not None
        terms = product_terms(product)
        today = await _business_date(uow)
        schedule = schedule_for(
            terms,
            principal=app.amount,
            term_months=app.term_months,
            start=today,
            rate=terms.annual_rate,
            day_count=terms.day_count,
        )
        contract_no = f"GR{today:%Y%m%d}{new_id().replace('-', '')[:10].upper()}"
        text, digest = render_contract(
            template.body,
            {
                "contract_no": contract_no,
                "party_id": app.party_id,
                "household_id": app.household_id,
                "amount": _money(app.amount),
                "term_months": app.term_months,
                "annual_rate": format(terms.annual_rate.normalize(), "f"),
                "repayment_method": _METHOD_LABELS[terms.repayment_method],
                "guarantee_method": app.guarantee_method,
                "guarantor_ids": [g for g in app.guarantor_ids.split(",") if g],
                "collateral": json.loads(app.collateral or "[]"),
                "purpose": app.purpose,
                "product": {"code": product.code, "name": product.name, "version": product.version},
                "installments": [
                    {
                        "number": i.number,
                        "due_date": i.due_date.isoformat(),
                        "principal": _money(i.principal),
                        "interest": _money(i.interest),
                        "total": _money(i.total),
                    }
                    for i in schedule.installments
                ],
                "total_interest": _money(schedule.total_interest),
            },
        )
        contract = ContractRow(
            id=new_id(),
            contract_no=contract_no,
            application_id=app.id,
            template_id=template.id,
            template_version=template.version,
            content=text,
            content_hash=digest,
            status="pending_signature",
            signature_method="",
            evidence_ref="",
            signed_by="",
            signed_at=None,
            created_by=caller.user_id,
            created_at=utcnow(),
        )
        uow.contracts.add(contract)
        uow.record(
            "credit.contract.generated",
            contract.id,
            credit_pb2.ContractChanged(
                contract_id=contract.id, application_id=app.id, content_hash=digest, status=contract.status
            ),
        )
        uow.audit("contract.generate", "contract", contract.id, {"application_id": app.id, "hash": digest})
        await uow.commit()
    return contract


async def get_contract(*, uow: CreditUnitOfWork, caller: Caller, contract_id: str) -> ContractRow:
    async with uow:
        contract = await uow.contracts.get(contract_id)
        if contract is None:
            raise ContractNotFound(f"contract {contract_id} not found")
        app = await uow.applications.get(contract.application_id)
        if app is None or not _visible(caller, app.branch_id):
            raise ContractNotFound(f"contract {contract_id} not found")
    return contract


SIGNATURE_METHODS = ("manual", "electronic")


async def sign_contract(
    *, uow: CreditUnitOfWork, caller: Caller, contract_id: str, method: str, evidence_ref: str, content_hash: str
) -> ContractRow:
    """Marks a contract signed (paper with evidence, or an e-signature provider's callback)."""
    _require(caller, FRONT_OFFICE, "record contract signatures")
    method = method.strip().lower()
    if method not in SIGNATURE_METHODS:
        raise InvalidArgument.for_field("method", "must be manual or electronic")
    if not evidence_ref.strip():
        raise InvalidArgument.for_field(
            "evidence_ref", "is required: the scanned signed copy or the e-signature transaction id"
        )
    async with uow:
        contract = await uow.contracts.get(contract_id, for_update=True)
        app = await uow.applications.get(contract.application_id, for_update=True) if contract else None
        if contract is None or app is None or not _visible(caller, app.branch_id):
            raise ContractNotFound(f"contract {contract_id} not found")
        if contract.status != "pending_signature":
            raise FailedPrecondition(f"the contract is already {contract.status}", reason="ILLEGAL_TRANSITION")
        if content_hash.strip().lower() != contract.content_hash:
            raise InvalidArgument.for_field("content_hash", "does not match the generated contract's SHA-256")
        app.status = next_status(app.status, "contract")
        app.updated_at = utcnow()
        contract.status = "signed"
        contract.signature_method = method
        contract.evidence_ref = evidence_ref.strip()[:500]
        contract.signed_by = caller.user_id
        contract.signed_at = utcnow()
        uow.record(
            "credit.contract.signed",
            contract.id,
            credit_pb2.ContractChanged(
                contract_id=contract.id, application_id=app.id, content_hash=contract.content_hash, status="signed"
            ),
        )
        uow.record(EVENT_FOR_STATUS["contracted"], app.id, _application_event(app))
        uow.audit("contract.sign", "contract", contract.id, {"method": method, "evidence_ref": contract.evidence_ref})
        await uow.commit()
    return contract


@dataclass(frozen=True)
class ESignature:
    """An e-signature provider's report that a contract was signed (``connector.esign.signed``)."""

    event_id: str
    contract_id: str
    content_hash: str
    signer: str
    signed_at: datetime | None
    provider: str
    external_ref: str


def _esign_problem(signature: ESignature) -> str:
    if not signature.provider.strip() or not signature.external_ref.strip():
        return "INVALID: provider and external_ref are required"
    if not signature.contract_id.strip():
        return "INVALID: contract_id is required"
    digest = signature.content_hash.strip().lower()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        return "INVALID: content_hash must be a hex SHA-256"
    return ""


async def apply_esignature(*, uow: UnitOfWork, caller: Caller, signature: ESignature) -> ESignReceiptRow:
    """Marks a contract signed from a provider's report when its hash matches; otherwise refuses
    and records why. Runs inside the consumer's unit of work (the consumer commits).

    Applied once per (provider, external_ref): a provider redelivering the same report under a
    new event id gets the first receipt back. Refusals are final (they are recorded, audited and
    announced with ``credit.contract.signature_refused``), never retried.
    """
    _require(caller, OPERATORS, "apply e-signature reports")
    contracts, applications = ContractRepository(uow.session), ApplicationRepository(uow.session)
    provider, ref = signature.provider.strip()[:40], signature.external_ref.strip()[:100]
    existing = await contracts.esign_receipt(provider, ref) if provider and ref else None
    if existing is not None:
        return existing
    receipt = ESignReceiptRow(
        id=new_id(),
        provider=provider,
        external_ref=ref,
        contract_id=signature.contract_id.strip()[:36],
        content_hash=signature.content_hash.strip().lower()[:64],
        signer=signature.signer.strip()[:200],
        signed_at=signature.signed_at,
        outcome="refused",
        reason="",
        event_id=signature.event_id[:64],
        received_at=utcnow(),
    )
    problem = _esign_problem(signature)
    contract = app = None
    if not problem:
        contract = await contracts.get(receipt.contract_id, for_update=True)
        app = await applications.get(contract.application_id, for_update=True) if contract else None
        if contract is None or app is None:
            problem = "CONTRACT_NOT_FOUND"
        elif contract.status != "pending_signature":
            problem = f"ALREADY_SIGNED: the contract is {contract.status}"
        elif receipt.content_hash != contract.content_hash:
            problem = "HASH_MISMATCH: the signed document is not the generated contract"
        elif app.status != "approved":
            problem = f"ILLEGAL_TRANSITION: the application is {app.status}"
    if problem or contract is None or app is None:
        receipt.reason = problem[:200]
        contracts.add(receipt)
        uow.record(
            "credit.contract.signature_refused",
            receipt.contract_id or receipt.id,
            credit_pb2.ContractChanged(
                contract_id=receipt.contract_id,
                application_id=app.id if app else "",
                content_hash=receipt.content_hash,
                status="signature_refused",
            ),
        )
        uow.audit(
            "contract.esign_refused",
            "contract",
            receipt.contract_id or "-",
            {"provider": provider, "external_ref": ref, "reason": receipt.reason},
        )
        return receipt
    receipt.outcome = "applied"
    contracts.add(receipt)
    app.status = next_status(app.status, "contract")
    app.updated_at = utcnow()
    contract.status = "signed"
    contract.signature_method = "electronic"
    contract.evidence_ref = f"{provider}:{ref}"[:500]
    contract.signed_by = receipt.signer[:80] or provider
    contract.signed_at = signature.signed_at or utcnow()
    uow.record(
        "credit.contract.signed",
        contract.id,
        credit_pb2.ContractChanged(
            contract_id=contract.id, application_id=app.id, content_hash=contract.content_hash, status="signed"
        ),
    )
    uow.record(EVENT_FOR_STATUS["contracted"], app.id, _application_event(app))
    uow.audit(
        "contract.sign",
        "contract",
        contract.id,
        {"method": "electronic", "provider": provider, "external_ref": ref, "signer": receipt.signer},
    )
    return receipt


# --------------------------------------------------------------------------- loans


@dataclass
class LoanView:
    loan: LoanRow
    installments: list[InstallmentRow] = field(default_factory=list)


class InstallmentState(Protocol):
    """What position and close-of-business arithmetic reads and writes on an installment
    (an ``InstallmentRow`` or the lighter ``CobInstallment`` close of business reads)."""

    number: int
    due_date: date
    principal: Decimal
    interest: Decimal
    penalty: Decimal
    principal_paid: Decimal
    interest_paid: Decimal
    penalty_paid: Decimal
    reminded_on: date | None


class LoanState(Protocol):
    """What position and close-of-business arithmetic reads and writes on a loan."""

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


def _installment_outstanding(row: InstallmentState) -> Decimal:
    return (row.principal - row.principal_paid) + (row.interest - row.interest_paid) + (row.penalty - row.penalty_paid)


def _refresh_position(
    loan: LoanState, installments: Sequence[InstallmentState], business_date: date, edges: tuple[int, ...]
) -> None:
    """Outstanding, overdue amount, DPD and bucket from the installments as they now stand."""
    loan.outstanding_principal = sum((i.principal - i.principal_paid for i in installments), ZERO)
    unpaid = [i for i in installments if (i.principal - i.principal_paid) + (i.interest - i.interest_paid) > 0]
    overdue = [i for i in installments if i.due_date < business_date]
    loan.overdue_amount = sum((_installment_outstanding(i) for i in overdue), ZERO)
    loan.dpd = delinquency.days_past_due([i.due_date for i in unpaid], business_date)
    loan.bucket = delinquency.bucket_for(loan.dpd, edges)


async def disburse_loan(
    *,
    uow: CreditUnitOfWork,
    caller: Caller,
    application_id: str,
    disbursed_on: str,
    external_ref: str,
    policy: CobPolicy | None = None,
) -> LoanView:
    """Creates the loan and its schedule from a contracted application; draws on its line."""
    _require(caller, DISBURSERS, "disburse loans")
    ref = external_ref.strip()
    if not ref:
        raise InvalidArgument.for_field("external_ref", "is required (the transfer reference)")
    edges = (policy or CobPolicy()).bucket_edges
    async with uow:
        app = await _visible_application(uow, caller, application_id, for_update=True)
        existing = await uow.loans.for_application(app.id)
        if existing is not None:
            if existing.external_ref == ref:
                return LoanView(existing, await uow.loans.installments(existing.id))
            raise AlreadyExists(
                f"application {app.id} was already disbursed as loan {existing.id}", reason="ALREADY_DISBURSED"
            )
        contract = await uow.contracts.signed_for(app.id)
        next_status(app.status, "disburse")  # refuses anything but contracted
        if contract is None:  # pragma: no cover - contracted implies a signed contract
            raise FailedPrecondition("the application has no signed contract", reason="CONTRACT_NOT_SIGNED")
        today = await _business_date(uow)
        start = parse_date("disbursed_on", disbursed_on) or today
        if start > today:
            raise InvalidArgument.for_field("disbursed_on", f"must not be after the business date {today.isoformat()}")
        product = await uow.products.get(app.product_id)
        assert product is not None
        terms = product_terms(product)
        schedule = schedule_for(
            terms,
            principal=app.amount,
            term_months=app.term_months,
            start=start,
            rate=terms.annual_rate,
            day_count=terms.day_count,
        )
        if app.credit_line_id:
            line = await _line_for_draw(
                uow,
                app.credit_line_id,
                party_id=app.party_id,
                household_id=app.household_id,
                amount=app.amount,
                on=start,
            )
            line.used += app.amount
        loan = LoanRow(
            id=new_id(),
            application_id=app.id,
            contract_id=contract.id,
            external_ref=ref,
            party_id=app.party_id,
            household_id=app.household_id,
            product_id=product.id,
            credit_line_id=app.credit_line_id,
            principal=app.amount,
            annual_rate=terms.annual_rate,
            penalty_rate=terms.penalty_rate,
            day_count=terms.day_count.name,
            allocation_order=",".join(terms.allocation_order),
            term_months=app.term_months,
            disbursed_on=start,
            maturity_date=schedule.maturity_date,
            status="active",
            outstanding_principal=app.amount,
            overdue_amount=ZERO,
            overpaid=ZERO,
            dpd=0,
            bucket="current",
            classification="normal",
            override_class="",
            override_status="",
            override_reason="",
            override_requested_by="",
            last_cob_date=None,
            branch_id=app.branch_id,
            managing_officer_id=app.managing_officer_id,
            created_at=utcnow(),
        )
        rows = [
            InstallmentRow(
                id=new_id(),
                loan_id=loan.id,
                number=i.number,
                period_start=i.period_start,
                due_date=i.due_date,
                days=i.days,
                opening_principal=i.opening_principal,
                principal=i.principal,
                interest=i.interest,
                penalty=ZERO,
                principal_paid=ZERO,
                interest_paid=ZERO,
                penalty_paid=ZERO,
                reminded_on=None,
            )
            for i in schedule.installments
        ]
        _refresh_position(loan, rows, today, edges)
        uow.loans.add(loan)
        uow.loans.add_all(rows)
        app.status = "disbursed"
        app.updated_at = utcnow()
        uow.record(
            "credit.loan.disbursed",
            loan.id,
            credit_pb2.LoanDisbursed(
                loan_id=loan.id,
                application_id=app.id,
                party_id=loan.party_id,
                amount=_money(loan.principal),
                managing_officer_id=loan.managing_officer_id,
                branch_id=loan.branch_id,
                disbursed_on=start.isoformat(),
                maturity_date=loan.maturity_date.isoformat(),
            ),
        )
        uow.audit(
            "loan.disburse",
            "loan",
            loan.id,
            {"application_id": app.id, "amount": _money(loan.principal), "external_ref": ref},
        )
        await uow.commit()
    return LoanView(loan, rows)


async def _visible_loan(uow: CreditUnitOfWork, caller: Caller, loan_id: str, *, for_update: bool = False) -> LoanRow:
    loan = await uow.loans.get(loan_id, for_update=for_update)
    if loan is None or not _visible(caller, loan.branch_id):
        raise LoanNotFound(f"loan {loan_id} not found")
    return loan


async def get_loan(*, uow: CreditUnitOfWork, caller: Caller, loan_id: str) -> LoanView:
    async with uow:
        loan = await _visible_loan(uow, caller, loan_id)
        return LoanView(loan, await uow.loans.installments(loan.id))


LOAN_FILTERS = ("bucket", "managing_officer_id", "status", "party_id")


async def list_loans(
    *,
    uow: CreditUnitOfWork,
    caller: Caller,
    branch_id: str,
    filters: dict[str, str],
    min_dpd: int,
    size: int,
    token: str,
) -> tuple[list[LoanRow], str]:
    """Loans by branch, bucket, officer, status or party (the overdue list with min_dpd=1)."""
    limit = page_size(size)
    cursor = decode_cursor(token, 1)
    scope = _scope(caller)
    if branch_id and scope is not None and branch_id != scope:
        return [], ""  # another branch's loans look like no loans
    async with uow:
        rows = await uow.loans.page(
            branch_id=branch_id or scope,
            filters={k: filters.get(k, "") for k in LOAN_FILTERS},
            min_dpd=min_dpd,
            after=str(cursor[0]) if cursor else "",
            limit=limit + 1,
        )
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor([rows[-1].id]) if more else ""


def _replay(loan: LoanRow, installments: list[InstallmentRow], repayments: list[RepaymentRow]) -> Decimal:
    """Re-allocates every posted repayment from scratch; returns the principal repaid."""
    dues = [Due(i.number, i.due_date, i.principal, i.interest, i.penalty) for i in installments]
    posted = [r for r in repayments if r.status == "posted"]
    results = allocate(
        dues, [Payment(r.id, r.amount, r.value_date) for r in posted], tuple(loan.allocation_order.split(","))
    )
    by_number = {d.number: d for d in dues}
    for row in installments:
        paid = by_number[row.number].paid
        row.principal_paid, row.interest_paid, row.penalty_paid = paid["principal"], paid["interest"], paid["penalty"]
    for r in repayments:
        if r.status == "posted":
            result = results[r.id]
            r.allocations = json.dumps([[n, c, _money(a)] for n, c, a in result.allocations])
            r.overpaid = result.overpaid
        else:
            r.allocations = "[]"
            r.overpaid = ZERO
    loan.overpaid = sum((r.overpaid for r in repayments), ZERO)
    return sum((i.principal_paid for i in installments), ZERO)


async def _reposition(
    uow: CreditUnitOfWork,
    loan: LoanRow,
    installments: list[InstallmentRow],
    repayments: list[RepaymentRow],
    edges: tuple[int, ...],
) -> tuple[bool, bool]:
    """Replays repayments, moves the revolving line, refreshes the position. (closed now, reopened)"""
    principal_paid_before = sum((i.principal_paid for i in installments), ZERO)
    principal_paid_after = _replay(loan, installments, repayments)
    if loan.credit_line_id:
        line = await uow.lines.get(loan.credit_line_id, for_update=True)
        if line is not None and line.revolving:
            line.used = max(ZERO, line.used - (principal_paid_after - principal_paid_before))
    _refresh_position(loan, installments, await _business_date(uow), edges)
    settled = all(_installment_outstanding(i) <= 0 for i in installments)
    was_closed = loan.status == "closed"
    loan.status = "closed" if settled else "active"
    return settled and not was_closed, was_closed and not settled


def _posted(repayment: RepaymentRow) -> collection.PostedRepayment:
    return collection.PostedRepayment(
        repayment.seq,
        repayment.status,
        [(int(n), str(c), Decimal(a)) for n, c, a in json.loads(repayment.allocations or "[]")],
    )


async def _cure_episode(
    uow: CreditUnitOfWork,
    loan: LoanRow,
    installments: list[InstallmentRow],
    repayments: list[RepaymentRow],
    business_date: date,
    cure_seq: int,
) -> OverdueEpisodeRow | None:
    """Cures the loan's open overdue episode when nothing is overdue any more (current, or paid off)."""
    if loan.overdue_amount > 0 and loan.status != "closed":
        return None
    episode = (await uow.collections.open_for([loan.id])).get(loan.id)
    if episode is None:
        return None
    recovered = collection.recovered_amount(
        [_posted(r) for r in repayments],
        after_seq=episode.repayment_seq_at_open,
        due_dates={i.number: i.due_date for i in installments},
        cured_on=business_date,
    )
    collection.cure(episode, business_date=business_date, cure_seq=cure_seq, recovered=recovered)
    episode.updated_at = utcnow()
    return episode


def _repaid_event(loan: LoanRow, repayment: RepaymentRow) -> credit_pb2.LoanRepaid:
    return credit_pb2.LoanRepaid(
        loan_id=loan.id,
        party_id=loan.party_id,
        repayment_id=repayment.id,
        amount=_money(repayment.amount),
        outstanding_principal=_money(loan.outstanding_principal),
        branch_id=loan.branch_id,
        managing_officer_id=loan.managing_officer_id,
    )


async def post_repayment(
    *,
    uow: CreditUnitOfWork,
    caller: Caller,
    loan_id: str,
    amount: str,
    value_date: str,
    external_ref: str,
    policy: CobPolicy | None = None,
) -> tuple[RepaymentRow, LoanView, bool]:
    """Posts a repayment once per external reference (a repeat returns the first posting)."""
    _require(caller, FRONT_OFFICE, "post repayments")
    ref = external_ref.strip()
    if not ref:
        raise InvalidArgument.for_field("external_ref", "is required (the payment's bank reference)")
    if len(ref) > 100:
        raise InvalidArgument.for_field("external_ref", "must be at most 100 characters")
    value = check_amount("amount", amount)
    edges = (policy or CobPolicy()).bucket_edges
    async with uow:
        loan = await _visible_loan(uow, caller, loan_id, for_update=True)
        existing = await uow.loans.repayment_by_ref(ref)
        if existing is not None:
            if existing.loan_id != loan.id or existing.amount != value:
                raise AlreadyExists(
                    f"external_ref {ref} was already used for a different repayment", reason="EXTERNAL_REF_USED"
                )
            return existing, LoanView(loan, await uow.loans.installments(loan.id)), True
        if loan.status != "active":
            raise FailedPrecondition(f"the loan is {loan.status}: nothing is owed", reason="LOAN_CLOSED")
        today = await _business_date(uow)
        on = parse_date("value_date", value_date) or today
        if on > today:
            raise InvalidArgument.for_field("value_date", f"must not be after the business date {today.isoformat()}")
        if on < loan.disbursed_on:
            raise InvalidArgument.for_field("value_date", f"must not be before the disbursement {loan.disbursed_on}")
        repayments = await uow.loans.repayments(loan.id)
        installments = await uow.loans.installments(loan.id)
        repayment = RepaymentRow(
            id=new_id(),
            loan_id=loan.id,
            seq=len(repayments) + 1,
            amount=value,
            value_date=on,
            external_ref=ref,
            status="posted",
            allocations="[]",
            overpaid=ZERO,
            reversal_reason="",
            created_by=caller.user_id,
            created_at=utcnow(),
        )
        uow.loans.add(repayment)
        repayments.append(repayment)
        # Posting order = value-date order (a back-dated payment takes its place among the others).
        repayments.sort(key=lambda r: (r.value_date, r.seq))
        closed, _ = await _reposition(uow, loan, installments, repayments, edges)
        cured = await _cure_episode(uow, loan, installments, repayments, today, repayment.seq)
        uow.record("credit.loan.repaid", loan.id, _repaid_event(loan, repayment))
        if closed:
            uow.record("credit.loan.closed", loan.id, _repaid_event(loan, repayment))
        details: dict[str, object] = {"repayment_id": repayment.id, "amount": _money(value), "external_ref": ref}
        if cured is not None:
            details |= {"episode_cured": cured.id, "recovered": _money(cured.recovered)}
        uow.audit("loan.repay", "loan", loan.id, details)
        try:
            await uow.commit()
        except IntegrityError as exc:
            raise Conflict(f"external_ref {ref} was posted concurrently; retry to get it") from exc
    return repayment, LoanView(loan, installments), False


async def reverse_repayment(
    *, uow: CreditUnitOfWork, caller: Caller, repayment_id: str, reason: str, policy: CobPolicy | None = None
) -> tuple[RepaymentRow, LoanView]:
    """Reverses a posted repayment and re-allocates the others as if it had never been posted."""
    _require(caller, REVERSERS, "reverse repayments")
    if not reason.strip():
        raise InvalidArgument.for_field("reason", "is required to reverse a repayment")
    edges = (policy or CobPolicy()).bucket_edges
    async with uow:
        found = await uow.loans.repayment(repayment_id)
        if found is None:
            raise RepaymentNotFound(f"repayment {repayment_id} not found")
        loan = await uow.loans.get(found.loan_id, for_update=True)
        if loan is None or not _visible(caller, loan.branch_id):
            raise RepaymentNotFound(f"repayment {repayment_id} not found")
        repayments = await uow.loans.repayments(loan.id)
        repayment = next(r for r in repayments if r.id == repayment_id)
        if repayment.status != "posted":
            raise FailedPrecondition("the repayment is already reversed", reason="ALREADY_REVERSED")
        repayment.status = "reversed"
        repayment.reversal_reason = reason.strip()[:500]
        installments = await uow.loans.installments(loan.id)
        repayments.sort(key=lambda r: (r.value_date, r.seq))
        await _reposition(uow, loan, installments, repayments, edges)
        withdrawn = collection.after_reversal(
            await uow.collections.of_loan(loan.id),
            reversed_seq=repayment.seq,
            in_arrears=loan.overdue_amount > 0,
            dpd=loan.dpd,
            edges=edges,
        )
        details: dict[str, object] = {"repayment_id": repayment.id, "reason": reason.strip()}
        if withdrawn.reopened is not None:
            now = utcnow()
            for episode in [withdrawn.reopened, *withdrawn.merged]:
                episode.updated_at = now  # type: ignore[attr-defined]
            details["episode_reopened"] = withdrawn.reopened.id
            if withdrawn.merged:
                details["episodes_merged"] = [e.id for e in withdrawn.merged]
        uow.record("credit.loan.repayment_reversed", loan.id, _repaid_event(loan, repayment))
        uow.audit("loan.reverse_repayment", "loan", loan.id, details)
        await uow.commit()
    return repayment, LoanView(loan, installments)


async def list_repayments(*, uow: CreditUnitOfWork, caller: Caller, loan_id: str) -> list[RepaymentRow]:
    async with uow:
        loan = await _visible_loan(uow, caller, loan_id)
        return await uow.loans.repayments(loan.id)


# --------------------------------------------------------------------------- classification override


def _class_event(loan: LoanState, previous: str, business_date: date) -> credit_pb2.LoanClassChanged:
    return credit_pb2.LoanClassChanged(
        loan_id=loan.id,
        party_id=loan.party_id,
        previous_class=previous,
        classification=loan.classification,
        dpd=loan.dpd,
        branch_id=loan.branch_id,
        business_date=business_date.isoformat(),
    )


async def request_class_override(
    *, uow: CreditUnitOfWork, caller: Caller, loan_id: str, classification: str, reason: str
) -> LoanView:
    _require(caller, OVERRIDE_REQUESTERS, "request classification overrides")
    wanted = classification.strip().lower()
    if wanted not in delinquency.CLASSES:
        raise InvalidArgument.for_field("classification", f"must be one of {', '.join(delinquency.CLASSES)}")
    if not reason.strip():
        raise InvalidArgument.for_field("reason", "is required for a manual classification")
    async with uow:
        loan = await _visible_loan(uow, caller, loan_id, for_update=True)
        floor = delinquency.class_floor(loan.dpd)
        if delinquency.CLASSES.index(wanted) < delinquency.CLASSES.index(floor):
            raise InvalidArgument.for_field(
                "classification", f"must not be better than the floor {floor} for {loan.dpd} days past due"
            )
        loan.override_class = wanted
        loan.override_status = "pending"
        loan.override_reason = reason.strip()[:500]
        loan.override_requested_by = caller.user_id
        uow.audit("loan.class_override.request", "loan", loan.id, {"classification": wanted, "reason": reason.strip()})
        await uow.commit()
        return LoanView(loan, await uow.loans.installments(loan.id))


async def approve_class_override(
    *, uow: CreditUnitOfWork, caller: Caller, loan_id: str, approve: bool, comment: str
) -> LoanView:
    _require(caller, OVERRIDE_APPROVERS, "approve classification overrides")
    async with uow:
        loan = await _visible_loan(uow, caller, loan_id, for_update=True)
        if loan.override_status != "pending":
            raise FailedPrecondition("there is no pending classification override", reason="ILLEGAL_TRANSITION")
        if loan.override_requested_by == caller.user_id:
            raise PermissionDenied("an override must be approved by someone other than who requested it")
        previous = loan.classification
        loan.override_status = "approved" if approve else "rejected"
        loan.classification = delinquency.effective_class(loan.dpd, loan.override_class if approve else "")
        today = await _business_date(uow)
        if loan.classification != previous:
            uow.record("credit.loan.class_changed", loan.id, _class_event(loan, previous, today))
        uow.audit(
            "loan.class_override.decide",
            "loan",
            loan.id,
            {"approved": approve, "classification": loan.classification, "comment": comment.strip()[:200]},
        )
        await uow.commit()
        return LoanView(loan, await uow.loans.installments(loan.id))


# --------------------------------------------------------------------------- business date and COB


async def get_business_date(*, uow: CreditUnitOfWork, caller: Caller) -> date:
    async with uow:
        return await _business_date(uow)


async def set_business_date(*, uow: CreditUnitOfWork, caller: Caller, business_date: str) -> date:
    """Sets the lender's business date (operators; tests move it to simulate days passing)."""
    _require(caller, OPERATORS, "set the business date")
    value = parse_date("business_date", business_date)
    if value is None:
        raise InvalidArgument.for_field("business_date", "is required")
    async with uow:
        row = await uow.calendar.business_date()
        previous = row.business_date.isoformat() if row else ""
        if row is None:
            uow.calendar.add(BusinessDateRow(id=1, business_date=value, updated_at=utcnow()))
        else:
            row.business_date = value
            row.updated_at = utcnow()
        uow.audit("business_date.set", "business_date", "1", {"from": previous, "to": value.isoformat()})
        await uow.commit()
    return value


@dataclass
class CobResult:
    business_date: date
    loans_processed: int = 0
    events_emitted: int = 0
    completed: bool = False


def close_loan_for_date(
    loan: LoanState, installments: Sequence[InstallmentState], business_date: date, policy: CobPolicy
) -> list[tuple[str, object]]:
    """One loan's close of business for ``business_date``; the events it raises (type, payload).

    Pure over the rows given: penalty accrual, DPD, bucket, class; due-soon once per
    installment, overdue when DPD crosses a threshold, class_changed when the class moves.
    """
    events: list[tuple[str, object]] = []
    quantum = Decimal("0.01")
    day_count = DayCount[loan.day_count]
    for row in installments:
        base = (row.principal - row.principal_paid) + (row.interest - row.interest_paid)
        row.penalty += delinquency.penalty_for(
            overdue_base=base,
            due_date=row.due_date,
            last_cob_date=loan.last_cob_date,
            business_date=business_date,
            penalty_rate=loan.penalty_rate,
            day_count=day_count,
            quantum=quantum,
        )
    previous_dpd, previous_class = loan.dpd, loan.classification
    _refresh_position(loan, installments, business_date, policy.bucket_edges)
    crossed = delinquency.crossed_thresholds(previous_dpd, loan.dpd, policy.overdue_thresholds)
    if crossed:
        events.append(
            (
                "credit.loan.overdue",
                credit_pb2.LoanOverdue(
                    loan_id=loan.id,
                    party_id=loan.party_id,
                    managing_officer_id=loan.managing_officer_id,
                    branch_id=loan.branch_id,
                    dpd=loan.dpd,
                    overdue_amount=_money(loan.overdue_amount),
                    bucket=loan.bucket,
                    threshold=crossed[-1],
                    business_date=business_date.isoformat(),
                ),
            )
        )
    for row in installments:
        owed = _installment_outstanding(row)
        days_left = (row.due_date - business_date).days
        if owed > 0 and row.reminded_on is None and 0 <= days_left <= policy.due_soon_days:
            row.reminded_on = business_date
            events.append(
                (
                    "credit.loan.due_soon",
                    credit_pb2.LoanDueSoon(
                        loan_id=loan.id,
                        party_id=loan.party_id,
                        managing_officer_id=loan.managing_officer_id,
                        branch_id=loan.branch_id,
                        installment_number=row.number,
                        due_date=row.due_date.isoformat(),
                        amount_due=_money(owed),
                        business_date=business_date.isoformat(),
                    ),
                )
            )
            break  # one reminder per loan per business date
    override = loan.override_class if loan.override_status == "approved" else ""
    loan.classification = delinquency.effective_class(loan.dpd, override)
    if loan.classification != previous_class:
        events.append(("credit.loan.class_changed", _class_event(loan, previous_class, business_date)))
    loan.last_cob_date = business_date
    return events


def _cob_position(loan: LoanState) -> tuple[object, ...]:
    """What close of business may change on a loan besides ``last_cob_date``."""
    return (loan.outstanding_principal, loan.overdue_amount, loan.dpd, loan.bucket, loan.classification)


def _cob_loan_change(loan: LoanState) -> dict[str, object]:
    return {
        "id": loan.id,
        "outstanding_principal": loan.outstanding_principal,
        "overdue_amount": loan.overdue_amount,
        "dpd": loan.dpd,
        "bucket": loan.bucket,
        "classification": loan.classification,
        "last_cob_date": loan.last_cob_date,
    }


async def _track_episodes(
    uow: CreditUnitOfWork,
    loans: Sequence[LoanState],
    open_episodes: dict[str, OverdueEpisodeRow],
    business_date: date,
    rules: CobPolicy,
) -> None:
    """After a COB batch is computed: opens an overdue episode for each loan past due without
    one, raises the highest DPD of the open ones (domain/collection.py). Same transaction as the
    loans' ``last_cob_date``, so a rerun or a resumed run opens nothing twice."""
    newly = [loan for loan in loans if loan.dpd > 0 and loan.id not in open_episodes]
    seqs = await uow.collections.last_repayment_seqs([loan.id for loan in newly])
    now = utcnow()
    for loan in loans:
        episode = open_episodes.get(loan.id)
        if episode is not None:
            if collection.track(episode, loan.dpd, rules.bucket_edges):
                episode.updated_at = now
            continue
        opened = collection.opening(
            dpd=loan.dpd,
            bucket=loan.bucket,
            overdue_amount=loan.overdue_amount,
            business_date=business_date,
            has_open_episode=False,
            repayment_seq=seqs.get(loan.id, 0),
        )
        if opened is None:
            continue
        uow.collections.add(
            OverdueEpisodeRow(
                id=new_id(),
                loan_id=loan.id,
                party_id=loan.party_id,
                branch_id=loan.branch_id,
                managing_officer_id=loan.managing_officer_id,
                status="open",
                started_on=opened.started_on,
                opened_on=opened.opened_on,
                overdue_at_start=opened.overdue_amount,
                dpd_at_start=opened.dpd,
                bucket_at_start=opened.bucket,
                max_dpd=opened.dpd,
                max_bucket=opened.bucket,
                repayment_seq_at_open=opened.repayment_seq_at_open,
                cured_on=None,
                cure_seq=0,
                days_to_cure=None,
                recovered=ZERO,
                merged_into="",
                created_at=now,
                updated_at=now,
            )
        )


async def run_close_of_business(
    *,
    uow_factory: Callable[[], CreditUnitOfWork],
    caller: Caller,
    business_date: str,
    max_batches: int = 0,
    batch_size: int = 0,
    policy: CobPolicy | None = None,
) -> CobResult:
    """Closes the business date for every active loan, one committed batch at a time.

    Loans with nothing to compute (current, normal, nothing overdue, no reminder due) are closed
    first, set-based, five batches' worth at a time (one UPDATE each). The others: a batch is read with two
    queries (loans locked with SKIP LOCKED, their installments), computed
    in Python by :func:`close_loan_for_date`, and written back set-based: one UPDATE for the
    loans whose position did not move (only ``last_cob_date``), one executemany for the others
    and one for the installments whose penalty or reminder changed; unchanged installments are
    not written at all. Each loan is closed for a date at most once (``last_cob_date`` moves in the same
    transaction as its events), so a rerun emits nothing new and an interrupted run resumes.
    """
    _require(caller, OPERATORS, "run close of business")
    rules = policy or CobPolicy()
    size = min(max(batch_size or 500, 1), 5000)
    uow = uow_factory()
    async with uow:
        today = await _business_date(uow)
        day = parse_date("business_date", business_date) or today
        if day > today:
            raise InvalidArgument.for_field("business_date", f"must not be after the business date {today.isoformat()}")
        run = await uow.calendar.cob_run(day)
        if run is not None and run.status == "completed":
            return CobResult(day, run.loans_processed, run.events_emitted, True)
        if run is None:
            uow.calendar.add(
                CobRunRow(
                    business_date=day,
                    status="running",
                    loans_processed=0,
                    events_emitted=0,
                    started_at=utcnow(),
                    completed_at=None,
                )
            )
            uow.audit("cob.start", "cob_run", day.isoformat())
            await uow.commit()
    result = CobResult(day)
    batches = 0
    horizon = day + timedelta(days=rules.due_soon_days)
    # First the quiet loans (most of a healthy book), set-based; then the others one by one.
    while True:
        if max_batches and batches >= max_batches:
            return result  # interrupted on purpose: the next run resumes
        uow = uow_factory()
        async with uow:
            quiet = await uow.loans.close_quiet_loans(day, reminder_horizon=horizon, limit=size * 5)
            if not quiet:
                break
            run = await uow.calendar.cob_run(day)
            assert run is not None
            run.loans_processed += quiet
            await uow.commit()
        result.loans_processed += quiet
        batches += 1
    while True:
        if max_batches and batches >= max_batches:
            return result  # interrupted on purpose: the next run resumes
        uow = uow_factory()
        async with uow:
            loans = await uow.loans.due_for_cob(day, size)
            if not loans:
                run = await uow.calendar.cob_run(day)
                assert run is not None
                run.status = "completed"
                run.completed_at = utcnow()
                uow.audit("cob.complete", "cob_run", day.isoformat(), {"loans": run.loans_processed})
                await uow.commit()
                result.completed = True
                result.loans_processed = run.loans_processed
                result.events_emitted = run.events_emitted
                return result
            grouped = await uow.loans.installments_of([loan.id for loan in loans])
            episodes = await uow.collections.open_for([loan.id for loan in loans])
            emitted = 0
            unchanged: list[str] = []
            loan_changes: list[dict[str, object]] = []
            installment_changes: list[dict[str, object]] = []
            for loan in loans:
                installments = grouped[loan.id]
                position = _cob_position(loan)
                marks = [(i.penalty, i.reminded_on) for i in installments]
                for event_type, payload in close_loan_for_date(loan, installments, day, rules):
                    uow.record(event_type, loan.id, payload)  # type: ignore[arg-type]
                    emitted += 1
                if _cob_position(loan) == position:
                    unchanged.append(loan.id)
                else:
                    loan_changes.append(_cob_loan_change(loan))
                installment_changes.extend(
                    {"id": i.id, "penalty": i.penalty, "reminded_on": i.reminded_on}
                    for i, mark in zip(installments, marks, strict=True)
                    if (i.penalty, i.reminded_on) != mark
                )
            await _track_episodes(uow, loans, episodes, day, rules)
            await uow.loans.save_close_of_business(
                day,
                unchanged_loan_ids=unchanged,
                loan_changes=loan_changes,
                installment_changes=installment_changes,
            )
            run = await uow.calendar.cob_run(day)
            assert run is not None
            run.loans_processed += len(loans)
            run.events_emitted += emitted
            await uow.commit()
        result.loans_processed += len(loans)
        result.events_emitted += emitted
        batches += 1


# --------------------------------------------------------------------------- portfolio


def _empty_summary(
    today: date, branch_id: str, start: date | None, end: date | None, edges: tuple[int, ...]
) -> portfolio.PortfolioSummary:
    return portfolio.PortfolioSummary(
        business_date=today,
        branch_id=branch_id,
        start=start,
        end=end,
        total=portfolio.merge("total", "合计", []),
        by_bucket=portfolio.slices([], order=portfolio.bucket_order(edges)),
        by_classification=portfolio.class_slices([], delinquency.CLASS_LABELS),
        disbursed_by_month=portfolio.by_month([], start, end),
    )


def _figures_scope(
    caller: Caller, branch_id: str, from_date: str, to_date: str
) -> tuple[date | None, date | None, str | None, bool]:
    """The period and branch a dashboard figure covers, and whether the branch is hidden.

    Another branch's figures are asked for by someone scoped to their own: they look like
    those of a branch with nothing to count (hidden=True), not like an error.
    """
    start = parse_date("from_date", from_date)
    end = parse_date("to_date", to_date)
    if start and end and end < start:
        raise InvalidArgument.for_field("to_date", f"must not be before from_date ({start.isoformat()})")
    scope = _scope(caller)
    wanted = branch_id.strip()
    hidden = bool(wanted and scope is not None and wanted != scope)
    return start, end, wanted or scope, hidden


async def get_portfolio_summary(
    *,
    uow: CreditUnitOfWork,
    caller: Caller,
    branch_id: str,
    from_date: str,
    to_date: str,
    policy: CobPolicy | None = None,
) -> portfolio.PortfolioSummary:
    """Dashboard figures within the caller's branch scope (definitions in domain/portfolio.py).

    Stock figures (outstanding, buckets, classes, PAR30) are as of the last close of business;
    flow figures (intake, pass rate, disbursed) are limited to [from_date, to_date] when given.
    """
    _require(caller, PORTFOLIO_READERS, "read portfolio figures")
    start, end, branch, hidden = _figures_scope(caller, branch_id, from_date, to_date)
    wanted = branch_id.strip()
    edges = (policy or CobPolicy()).bucket_edges
    async with uow:
        today = await _business_date(uow)
        if hidden:
            return _empty_summary(today, wanted, start, end, edges)
        repo = uow.portfolio
        total = (await repo.loan_aggregates(branch_id=branch))[0][1]
        products = await repo.product_names()
        per_product = [a for _, a in await repo.loan_aggregates(LoanRow.product_id, branch_id=branch)]
        per_branch = [a for _, a in await repo.loan_aggregates(LoanRow.branch_id, branch_id=branch)]
        per_bucket = [a for _, a in await repo.loan_aggregates(LoanRow.bucket, branch_id=branch)]
        per_class = [a for _, a in await repo.loan_aggregates(LoanRow.classification, branch_id=branch)]
        books = [
            (keys[0], keys[1], a)
            for keys, a in await repo.loan_aggregates(LoanRow.managing_officer_id, LoanRow.branch_id, branch_id=branch)
        ]
        intake = await repo.application_counts(branch_id=branch, start=start, end=end)
        disbursed = await repo.disbursement_counts(branch_id=branch, start=start, end=end)
        days = await repo.disbursement_days(branch_id=branch, start=start, end=end)
    return portfolio.PortfolioSummary(
        business_date=today,
        branch_id=branch or "",
        start=start,
        end=end,
        total=portfolio.merge("total", "合计", [total]),
        by_product=portfolio.slices(
            per_product,
            group={pid: code for pid, (code, _) in products.items()},
            labels={code: name for code, name in products.values()},
        ),
        by_branch=portfolio.slices(per_branch),
        by_bucket=portfolio.slices(per_bucket, order=portfolio.bucket_order(edges)),
        by_classification=portfolio.class_slices(per_class, delinquency.CLASS_LABELS),
        officers=portfolio.leaderboard(intake, disbursed, books),
        disbursed_by_month=portfolio.by_month(days, start, end),
    )


# --------------------------------------------------------------------------- collections


async def get_collection_summary(
    *, uow: CreditUnitOfWork, caller: Caller, branch_id: str, from_date: str, to_date: str
) -> collection.CollectionSummary:
    """Collection success rate of the overdue episodes started in [from_date, to_date] (both
    optional), within the caller's branch scope; definitions in domain/collection.py."""
    _require(caller, PORTFOLIO_READERS, "read collection figures")
    start, end, branch, hidden = _figures_scope(caller, branch_id, from_date, to_date)
    async with uow:
        today = await _business_date(uow)
        counts = [] if hidden else await uow.collections.counts(branch_id=branch, start=start, end=end)
    return collection.summarize(counts, business_date=today, branch_id=branch or "", start=start, end=end)


_METHOD_TO_PROTO = {
    RepaymentMethod.EQUAL_INSTALLMENT: credit_pb2.REPAYMENT_METHOD_EQUAL_INSTALLMENT,
    RepaymentMethod.EQUAL_PRINCIPAL: credit_pb2.REPAYMENT_METHOD_EQUAL_PRINCIPAL,
    RepaymentMethod.INTEREST_FIRST: credit_pb2.REPAYMENT_METHOD_INTEREST_FIRST,
    RepaymentMethod.BULLET: credit_pb2.REPAYMENT_METHOD_BULLET,
}
METHOD_TO_PROTO = _METHOD_TO_PROTO
METHOD_FROM_PROTO = {v: k for k, v in _METHOD_TO_PROTO.items()}
