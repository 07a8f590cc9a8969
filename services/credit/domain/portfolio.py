"""Portfolio figures for dashboards, computed from aggregated loan and application counts.

Definitions (all amounts are outstanding *principal* of *active* loans, as of the last close
of business; closed loans count only in disbursement figures):

* **outstanding**: Σ outstanding principal.
* **M1+ overdue rate**: outstanding principal of loans with DPD ≥ 1 (buckets M1 and worse)
  ÷ total outstanding principal.
* **PAR30** (portfolio at risk, 30 days): outstanding principal of loans with DPD > 30
  (buckets M2 and worse with the default edges) ÷ total outstanding principal. The whole
  outstanding principal of such a loan counts, not only its overdue installments.
* **pass rate** of an officer: applications approved (status approved, contracted or
  disbursed) ÷ applications decided (those plus rejected ones). Drafts, pending, returned
  and withdrawn applications are not decided; ``applications`` counts every non-draft one.
* **disbursed**: principal and number of loans (any status) by disbursement date.

Rates are decimals with four places (0.1234 = 12.34 %), rounded half-even; 0 when the
denominator is 0. Nothing here touches a database.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal

from services.credit.domain.delinquency import CLASSES, DEFAULT_BUCKET_EDGES

ZERO = Decimal("0.00")
RATE_QUANTUM = Decimal("0.0001")
PASSED_STATUSES = ("approved", "contracted", "disbursed")
REJECTED_STATUSES = ("rejected",)
PAR_DAYS = 30


def ratio(numerator: Decimal, denominator: Decimal) -> Decimal:
    if denominator <= 0:
        return Decimal("0.0000")
    return (numerator / denominator).quantize(RATE_QUANTUM, rounding=ROUND_HALF_EVEN)


def bucket_order(edges: Sequence[int] = DEFAULT_BUCKET_EDGES) -> tuple[str, ...]:
    """current, M1 … Mn, M(n+1)+ for the configured upper edges."""
    return ("current", *(f"M{i + 1}" for i in range(len(edges))), f"M{len(edges) + 1}+")


@dataclass(frozen=True)
class LoanAggregate:
    """One group of active loans as the database sums it."""

    key: str
    loans: int
    outstanding: Decimal
    overdue_outstanding: Decimal  # DPD ≥ 1
    par_outstanding: Decimal  # DPD > 30


@dataclass(frozen=True)
class Slice:
    key: str
    label: str
    loans: int
    outstanding: Decimal
    overdue_outstanding: Decimal
    par_outstanding: Decimal

    @property
    def overdue_rate(self) -> Decimal:
        return ratio(self.overdue_outstanding, self.outstanding)

    @property
    def par30(self) -> Decimal:
        return ratio(self.par_outstanding, self.outstanding)


def _money(value: Decimal | int | None) -> Decimal:
    return Decimal(value or 0).quantize(ZERO)


def merge(key: str, label: str, parts: Iterable[LoanAggregate]) -> Slice:
    loans, outstanding, overdue, par = 0, ZERO, ZERO, ZERO
    for p in parts:
        loans += p.loans
        outstanding += _money(p.outstanding)
        overdue += _money(p.overdue_outstanding)
        par += _money(p.par_outstanding)
    return Slice(key, label, loans, outstanding, overdue, par)


def slices(
    rows: Iterable[LoanAggregate],
    *,
    order: Sequence[str] = (),
    labels: dict[str, str] | None = None,
    group: dict[str, str] | None = None,
) -> list[Slice]:
    """Slices per key. ``group`` maps a raw key to the key it counts under (product versions
    under their code); keys in ``order`` come first in that order (present even when empty),
    the rest by outstanding descending, then key."""
    grouped: dict[str, list[LoanAggregate]] = {k: [] for k in order}
    for row in rows:
        key = (group or {}).get(row.key, row.key)
        grouped.setdefault(key, []).append(row)
    result = [merge(k, (labels or {}).get(k, k), parts) for k, parts in grouped.items()]
    fixed = {k: i for i, k in enumerate(order)}
    return sorted(
        result,
        key=lambda s: (0, fixed[s.key], ZERO, "") if s.key in fixed else (1, 0, -s.outstanding, s.key),
    )


def class_slices(rows: Iterable[LoanAggregate], labels: dict[str, str]) -> list[Slice]:
    """The five categories in regulatory order, each present."""
    return slices(rows, order=CLASSES, labels=labels)


@dataclass(frozen=True)
class ApplicationCounts:
    officer_id: str
    branch_id: str
    applications: int
    approved: int
    rejected: int


@dataclass(frozen=True)
class DisbursementCounts:
    officer_id: str
    branch_id: str
    loans: int
    amount: Decimal


@dataclass
class OfficerFigures:
    officer_id: str
    branch_id: str
    applications: int = 0
    approved: int = 0
    rejected: int = 0
    disbursed_loans: int = 0
    disbursed_amount: Decimal = ZERO
    active_loans: int = 0
    outstanding: Decimal = ZERO
    overdue_outstanding: Decimal = ZERO

    @property
    def pass_rate(self) -> Decimal:
        return ratio(Decimal(self.approved), Decimal(self.approved + self.rejected))

    @property
    def overdue_rate(self) -> Decimal:
        return ratio(self.overdue_outstanding, self.outstanding)


def leaderboard(
    applications: Iterable[ApplicationCounts],
    disbursements: Iterable[DisbursementCounts],
    books: Iterable[tuple[str, str, LoanAggregate]],
) -> list[OfficerFigures]:
    """One row per (officer, branch): intake, pass rate, disbursed, book; best disbursers first."""
    table: dict[tuple[str, str], OfficerFigures] = {}

    def row(officer_id: str, branch_id: str) -> OfficerFigures:
        return table.setdefault((officer_id, branch_id), OfficerFigures(officer_id, branch_id))

    for a in applications:
        r = row(a.officer_id, a.branch_id)
        r.applications += a.applications
        r.approved += a.approved
        r.rejected += a.rejected
    for d in disbursements:
        r = row(d.officer_id, d.branch_id)
        r.disbursed_loans += d.loans
        r.disbursed_amount += _money(d.amount)
    for officer_id, branch_id, book in books:
        r = row(officer_id, branch_id)
        r.active_loans += book.loans
        r.outstanding += _money(book.outstanding)
        r.overdue_outstanding += _money(book.overdue_outstanding)
    return sorted(
        table.values(),
        key=lambda r: (-r.disbursed_amount, -r.applications, -r.pass_rate, r.officer_id, r.branch_id),
    )


@dataclass(frozen=True)
class MonthFigures:
    month: str  # "2026-01"
    loans: int
    amount: Decimal


def by_month(
    days: Iterable[tuple[date, int, Decimal]], start: date | None = None, end: date | None = None
) -> list[MonthFigures]:
    """Daily disbursement totals folded into calendar months, ascending; with ``start`` and
    ``end`` every month of the period is listed, empty ones with zeros."""
    totals: dict[str, list[Decimal | int]] = {}
    if start and end:
        y, m = start.year, start.month
        while (y, m) <= (end.year, end.month):
            totals[f"{y:04d}-{m:02d}"] = [0, ZERO]
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    for day, loans, amount in days:
        entry = totals.setdefault(f"{day.year:04d}-{day.month:02d}", [0, ZERO])
        entry[0] = int(entry[0]) + loans
        entry[1] = Decimal(entry[1]) + _money(amount)
    return [MonthFigures(k, int(v[0]), Decimal(v[1])) for k, v in sorted(totals.items())]


@dataclass
class PortfolioSummary:
    business_date: date
    branch_id: str
    start: date | None
    end: date | None
    total: Slice
    by_product: list[Slice] = field(default_factory=list)
    by_branch: list[Slice] = field(default_factory=list)
    by_bucket: list[Slice] = field(default_factory=list)
    by_classification: list[Slice] = field(default_factory=list)
    officers: list[OfficerFigures] = field(default_factory=list)
    disbursed_by_month: list[MonthFigures] = field(default_factory=list)
