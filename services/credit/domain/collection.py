"""Overdue episodes (催收 outcomes) and the collection success rate. Pure: no database.

An *overdue episode* is one stretch of a loan's arrears, from the first day it was past due
until the loan was current again:

* **Opened** by close of business when it finds the loan past due (DPD ≥ 1) and the loan has
  no open episode. ``started_on`` is the first day past due (the oldest unpaid installment's
  due date + 1 = business date − DPD + 1), so a COB that ran late does not move the start;
  ``opened_on`` is the business date of the COB that saw it. The overdue amount, DPD and
  bucket at that COB are kept.
* **Tracked** by every later close of business: the highest DPD (and its bucket) reached.
* **Cured** by the repayment that brings the loan's overdue amount to 0 (current again, or
  paid off and closed): ``cured_on`` is that business date, ``days_to_cure`` the days from
  ``started_on``, and ``recovered`` what the repayments posted while the episode was open paid
  against installments due before the cure date (paying ahead and over-payment are not
  collection and do not count).
* **Reopened** when a reversal takes back money a cure counted and the loan is in arrears
  again: the first cured episode whose cure came at or after the reversed repayment loses its
  cure (no cured date, nothing recovered) and later episodes of the loan are merged into it.
  Reopening, rather than letting the next COB open a new episode, keeps the figure honest: a
  new episode would leave a cure that never happened and count the same arrears twice with a
  fresh start date (a second "started", a restarted 30-day clock). A reversal of money no cure
  counted (posted after the last cure) leaves the episodes alone; if it puts the loan in
  arrears the next COB opens a new episode as for any newly overdue loan.

Collection success rate over the episodes that *started* in a period: cured ÷ started (and
cured within 30 days ÷ started, i.e. cured while DPD ≤ 30, still M1). Merged episodes count
only through the episode they were merged into. Rates have four decimals, half-even.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Protocol

from services.credit.domain.delinquency import DEFAULT_BUCKET_EDGES, bucket_for
from services.credit.domain.portfolio import ratio

ZERO = Decimal("0.00")
CURED_WITHIN_DAYS = 30
STATUSES = ("open", "cured", "merged")


class EpisodeState(Protocol):
    """What the rules read and change on an episode (the ORM row or a test double)."""

    id: str
    status: str
    started_on: date
    max_dpd: int
    max_bucket: str
    repayment_seq_at_open: int
    cured_on: date | None
    cure_seq: int
    days_to_cure: int | None
    recovered: Decimal
    merged_into: str


@dataclass(frozen=True)
class Opening:
    started_on: date
    opened_on: date
    dpd: int
    bucket: str
    overdue_amount: Decimal
    repayment_seq_at_open: int


def first_past_due_day(business_date: date, dpd: int) -> date:
    """The first business date the loan was past due: DPD 1 falls on the due date + 1."""
    return business_date - timedelta(days=dpd - 1)


def opening(
    *,
    dpd: int,
    bucket: str,
    overdue_amount: Decimal,
    business_date: date,
    has_open_episode: bool,
    repayment_seq: int,
) -> Opening | None:
    """The episode close of business opens for a loan, or None (not past due, or one is open)."""
    if dpd <= 0 or has_open_episode:
        return None
    return Opening(
        started_on=first_past_due_day(business_date, dpd),
        opened_on=business_date,
        dpd=dpd,
        bucket=bucket,
        overdue_amount=overdue_amount,
        repayment_seq_at_open=repayment_seq,
    )


def track(episode: EpisodeState, dpd: int, edges: Sequence[int] = DEFAULT_BUCKET_EDGES) -> bool:
    """Raises the highest DPD and bucket reached; True when it moved."""
    if episode.status != "open" or dpd <= episode.max_dpd:
        return False
    episode.max_dpd = dpd
    episode.max_bucket = bucket_for(dpd, edges)
    return True


@dataclass(frozen=True)
class PostedRepayment:
    """A repayment as it now stands: posting sequence, status and where its money went."""

    seq: int
    status: str
    allocations: Sequence[tuple[int, str, Decimal]]  # (installment number, component, amount)


def recovered_amount(
    repayments: Iterable[PostedRepayment], *, after_seq: int, due_dates: dict[int, date], cured_on: date
) -> Decimal:
    """What repayments posted after ``after_seq`` (still posted) paid on installments due
    before ``cured_on``: the arrears collected, not paying ahead or over-payment."""
    total = ZERO
    for r in repayments:
        if r.status != "posted" or r.seq <= after_seq:
            continue
        for number, _component, amount in r.allocations:
            due = due_dates.get(number)
            if due is not None and due < cured_on:
                total += amount
    return total


def cure(episode: EpisodeState, *, business_date: date, cure_seq: int, recovered: Decimal) -> bool:
    """Marks an open episode cured by repayment ``cure_seq``; False when it was not open."""
    if episode.status != "open":
        return False
    episode.status = "cured"
    episode.cured_on = business_date
    episode.cure_seq = cure_seq
    episode.days_to_cure = (business_date - episode.started_on).days
    episode.recovered = recovered
    return True


@dataclass
class Reopening:
    reopened: EpisodeState | None = None
    merged: list[EpisodeState] = field(default_factory=list)


def after_reversal(
    episodes: Sequence[EpisodeState],
    *,
    reversed_seq: int,
    in_arrears: bool,
    dpd: int,
    edges: Sequence[int] = DEFAULT_BUCKET_EDGES,
) -> Reopening:
    """Withdraws the cures a reversal took the money of (see the module docstring).

    ``episodes`` are the loan's episodes in the order they were opened; ``in_arrears`` is
    whether the loan has an overdue amount after the reversal; ``dpd`` its DPD now.
    """
    result = Reopening()
    if not in_arrears:
        return result
    live = [e for e in episodes if e.status != "merged"]
    index = next(
        (i for i, e in enumerate(live) if e.status == "cured" and e.cure_seq >= reversed_seq),
        None,
    )
    if index is None:
        return result
    episode = live[index]
    highest = max([episode.max_dpd, dpd, *(e.max_dpd for e in live[index + 1 :])])
    episode.status = "open"
    episode.cured_on = None
    episode.cure_seq = 0
    episode.days_to_cure = None
    episode.recovered = ZERO
    episode.max_dpd = highest
    episode.max_bucket = bucket_for(highest, edges)
    result.reopened = episode
    for later in live[index + 1 :]:
        later.status = "merged"
        later.merged_into = episode.id
        later.cured_on = None
        later.cure_seq = 0
        later.days_to_cure = None
        later.recovered = ZERO
        result.merged.append(later)
    return result


# --------------------------------------------------------------------------- figures


@dataclass(frozen=True)
class EpisodeCounts:
    """Episodes started in a period for one (branch, officer), as the database sums them."""

    branch_id: str
    officer_id: str
    started: int
    cured: int
    cured_within_30_days: int
    still_open: int
    overdue_at_start: Decimal
    recovered: Decimal


@dataclass
class CollectionFigures:
    key: str
    branch_id: str = ""
    officer_id: str = ""
    started: int = 0
    cured: int = 0
    cured_within_30_days: int = 0
    still_open: int = 0
    overdue_at_start: Decimal = ZERO
    recovered: Decimal = ZERO

    @property
    def success_rate(self) -> Decimal:
        return ratio(Decimal(self.cured), Decimal(self.started))

    @property
    def success_rate_30_days(self) -> Decimal:
        return ratio(Decimal(self.cured_within_30_days), Decimal(self.started))

    def add(self, c: EpisodeCounts) -> None:
        self.started += c.started
        self.cured += c.cured
        self.cured_within_30_days += c.cured_within_30_days
        self.still_open += c.still_open
        self.overdue_at_start += Decimal(c.overdue_at_start or 0).quantize(ZERO)
        self.recovered += Decimal(c.recovered or 0).quantize(ZERO)


@dataclass
class CollectionSummary:
    business_date: date
    branch_id: str
    start: date | None
    end: date | None
    total: CollectionFigures
    by_branch: list[CollectionFigures] = field(default_factory=list)
    by_officer: list[CollectionFigures] = field(default_factory=list)


def _ranked(rows: Iterable[CollectionFigures]) -> list[CollectionFigures]:
    """Most episodes first, then the best rate, then the key (a stable order)."""
    return sorted(rows, key=lambda f: (-f.started, -f.success_rate, f.key))


def summarize(
    counts: Iterable[EpisodeCounts], *, business_date: date, branch_id: str, start: date | None, end: date | None
) -> CollectionSummary:
    total = CollectionFigures("total")
    branches: dict[str, CollectionFigures] = {}
    officers: dict[tuple[str, str], CollectionFigures] = {}
    for c in counts:
        total.add(c)
        branches.setdefault(c.branch_id, CollectionFigures(c.branch_id, branch_id=c.branch_id)).add(c)
        officers.setdefault(
            (c.officer_id, c.branch_id),
            CollectionFigures(f"{c.officer_id}|{c.branch_id}", branch_id=c.branch_id, officer_id=c.officer_id),
        ).add(c)
    return CollectionSummary(
        business_date=business_date,
        branch_id=branch_id,
        start=start,
        end=end,
        total=total,
        by_branch=_ranked(branches.values()),
        by_officer=_ranked(officers.values()),
    )
