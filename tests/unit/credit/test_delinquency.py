"""DPD, buckets, five-category floors, thresholds and penalty accrual."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from services.credit.domain.daycount import DayCount
from services.credit.domain.delinquency import (
    bucket_for,
    class_floor,
    crossed_thresholds,
    days_past_due,
    effective_class,
    penalty_for,
)


def test_dpd_counts_from_the_oldest_unpaid_due_date_and_not_on_the_due_day() -> None:
    dues = [date(2026, 3, 1), date(2026, 2, 1)]
    assert days_past_due(dues, date(2026, 2, 1)) == 0
    assert days_past_due(dues, date(2026, 2, 2)) == 1
    assert days_past_due(dues, date(2026, 3, 5)) == 32
    assert days_past_due([], date(2026, 3, 5)) == 0


@pytest.mark.parametrize(
    ("dpd", "bucket"),
    [(0, "current"), (1, "M1"), (30, "M1"), (31, "M2"), (60, "M2"), (61, "M3"), (90, "M3"), (91, "M4+")],
)
def test_buckets(dpd: int, bucket: str) -> None:
    assert bucket_for(dpd) == bucket


def test_bucket_edges_are_configurable() -> None:
    assert bucket_for(20, (15, 45)) == "M2"
    assert bucket_for(46, (15, 45)) == "M3+"


@pytest.mark.parametrize(
    ("dpd", "cls"),
    [
        (0, "normal"),
        (1, "special_mention"),
        (90, "special_mention"),
        (91, "substandard"),
        (270, "substandard"),
        (271, "doubtful"),
        (360, "doubtful"),
        (361, "loss"),
    ],
)
def test_five_category_floor(dpd: int, cls: str) -> None:
    assert class_floor(dpd) == cls


def test_override_can_only_make_the_class_worse() -> None:
    assert effective_class(0, "substandard") == "substandard"
    assert effective_class(100, "special_mention") == "substandard"
    assert effective_class(5, "") == "special_mention"


def test_thresholds_crossed_once() -> None:
    assert crossed_thresholds(0, 1) == [1]
    assert crossed_thresholds(1, 1) == []
    assert crossed_thresholds(2, 31) == [3, 30]
    assert crossed_thresholds(31, 0) == []


def test_penalty_accrues_only_for_new_overdue_days_act_360() -> None:
    args = {
        "overdue_base": Decimal("1000.00"),
        "due_date": date(2026, 2, 1),
        "penalty_rate": Decimal("0.0675"),
        "day_count": DayCount.ACT_360,
    }
    # 1000 * 0.0675 * 10 / 360 = 1.875 → 1.88 (HALF_EVEN on the third decimal 5 → 8 even? 1.875 → 1.88)
    assert penalty_for(last_cob_date=None, business_date=date(2026, 2, 11), **args) == Decimal("1.88")
    assert penalty_for(last_cob_date=date(2026, 2, 11), business_date=date(2026, 2, 12), **args) == Decimal("0.19")
    assert penalty_for(last_cob_date=date(2026, 2, 12), business_date=date(2026, 2, 12), **args) == Decimal("0.00")
    assert penalty_for(last_cob_date=None, business_date=date(2026, 2, 1), **args) == Decimal("0.00")
