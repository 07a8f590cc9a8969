"""Delinquency at close of business: DPD, buckets, five-category floors, penalty accrual.

* DPD counts from the oldest installment not fully paid whose due date has passed: an
  installment due on business date D is not overdue on D, it is 1 day past due on D + 1.
* Buckets: ``current`` for DPD 0, then M1 (1–30), M2 (31–60), M3 (61–90), M4+ (> 90); the
  upper edges are configurable.
* Five-category floor (2023 asset risk classification rules): 正常 normal while not overdue,
  关注 special_mention once overdue, 次级 substandard > 90, 可疑 doubtful > 270, 损失 loss > 360.
  An approved manual override may only classify worse than the floor, never better.
* Penalty interest accrues per day on each overdue installment's unpaid principal and
  interest at the penalty rate, for the days of (last COB date, business date] during which it
  was overdue; rounded to the loan's scale per installment and run.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal

from services.credit.domain.daycount import DayCount, year_basis

CLASSES = ("normal", "special_mention", "substandard", "doubtful", "loss")
CLASS_LABELS = {"normal": "正常", "special_mention": "关注", "substandard": "次级", "doubtful": "可疑", "loss": "损失"}
DEFAULT_BUCKET_EDGES = (30, 60, 90)
DEFAULT_OVERDUE_THRESHOLDS = (1, 3, 30, 60, 90)
DEFAULT_DUE_SOON_DAYS = 3


def days_past_due(unpaid_due_dates: Sequence[date], business_date: date) -> int:
    overdue = [d for d in unpaid_due_dates if d < business_date]
    return (business_date - min(overdue)).days if overdue else 0


def bucket_for(dpd: int, edges: Sequence[int] = DEFAULT_BUCKET_EDGES) -> str:
    if dpd <= 0:
        return "current"
    for index, edge in enumerate(edges):
        if dpd <= edge:
            return f"M{index + 1}"
    return f"M{len(edges) + 1}+"


def class_floor(dpd: int) -> str:
    if dpd > 360:
        return "loss"
    if dpd > 270:
        return "doubtful"
    if dpd > 90:
        return "substandard"
    if dpd > 0:
        return "special_mention"
    return "normal"


def effective_class(dpd: int, approved_override: str = "") -> str:
    floor = class_floor(dpd)
    if approved_override and CLASSES.index(approved_override) > CLASSES.index(floor):
        return approved_override
    return floor


def crossed_thresholds(
    previous_dpd: int, dpd: int, thresholds: Sequence[int] = DEFAULT_OVERDUE_THRESHOLDS
) -> list[int]:
    """Thresholds passed on the way from ``previous_dpd`` to ``dpd`` (ascending)."""
    return [t for t in sorted(thresholds) if previous_dpd < t <= dpd]


def penalty_for(
    *,
    overdue_base: Decimal,
    due_date: date,
    last_cob_date: date | None,
    business_date: date,
    penalty_rate: Decimal,
    day_count: DayCount,
    quantum: Decimal = Decimal("0.01"),
) -> Decimal:
    """Penalty accrued on one installment's overdue amount for this run's new days."""
    if overdue_base <= 0 or due_date >= business_date:
        return Decimal(0).quantize(quantum)
    start = max(due_date, last_cob_date) if last_cob_date else due_date
    days = (business_date - start).days
    if days <= 0:
        return Decimal(0).quantize(quantum)
    return (overdue_base * penalty_rate * days / year_basis(day_count)).quantize(quantum, rounding=ROUND_HALF_EVEN)
