"""Portfolio arithmetic: rates, ordering, months, leaderboard (no database)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from services.credit.domain.portfolio import (
    ApplicationCounts,
    DisbursementCounts,
    LoanAggregate,
    bucket_order,
    by_month,
    class_slices,
    leaderboard,
    ratio,
    slices,
)

D = Decimal


def test_ratio_rounds_half_even_to_four_places_and_is_zero_without_denominator() -> None:
    assert ratio(D("18000"), D("64000")) == D("0.2812")  # 0.28125 → even
    assert ratio(D("18000"), D("48000")) == D("0.3750")
    assert ratio(D("2"), D("3")) == D("0.6667")
    assert ratio(D("5"), D("0")) == D("0.0000")


def test_bucket_order_follows_configured_edges() -> None:
    assert bucket_order() == ("current", "M1", "M2", "M3", "M4+")
    assert bucket_order((30, 90)) == ("current", "M1", "M2", "M3+")


def test_slices_group_product_versions_and_order_fixed_keys_first() -> None:
    rows = [
        LoanAggregate("pa-v1", 2, D("18000"), D("18000"), D("18000")),
        LoanAggregate("pb", 1, D("16000"), D("0"), D("0")),
        LoanAggregate("pa-v2", 1, D("30000"), D("30000"), D("0")),
    ]
    merged = slices(rows, group={"pa-v1": "PA", "pa-v2": "PA", "pb": "PB"}, labels={"PA": "种植贷"})
    assert [(s.key, s.label, s.loans, s.outstanding, s.par30) for s in merged] == [
        ("PA", "种植贷", 3, D("48000.00"), D("0.3750")),
        ("PB", "PB", 1, D("16000.00"), D("0.0000")),
    ]
    buckets = slices([LoanAggregate("M2", 1, D("5"), D("5"), D("5"))], order=bucket_order())
    assert [(s.key, s.loans) for s in buckets] == [("current", 0), ("M1", 0), ("M2", 1), ("M3", 0), ("M4+", 0)]
    classes = class_slices([], {"normal": "正常"})
    assert [s.key for s in classes] == ["normal", "special_mention", "substandard", "doubtful", "loss"]
    assert classes[0].label == "正常"


def test_months_fold_days_and_fill_the_period_across_a_year_end() -> None:
    days = [(date(2025, 12, 3), 1, D("100")), (date(2025, 12, 30), 2, D("50.5")), (date(2026, 2, 1), 1, D("7"))]
    assert [(m.month, m.loans, m.amount) for m in by_month(days)] == [
        ("2025-12", 3, D("150.50")),
        ("2026-02", 1, D("7.00")),
    ]
    filled = by_month(days, date(2025, 11, 15), date(2026, 2, 10))
    assert [(m.month, m.loans) for m in filled] == [("2025-11", 0), ("2025-12", 3), ("2026-01", 0), ("2026-02", 1)]


def test_leaderboard_combines_intake_disbursements_and_book() -> None:
    board = leaderboard(
        [ApplicationCounts("o1", "B1", 4, 2, 1), ApplicationCounts("o2", "B1", 1, 0, 0)],
        [DisbursementCounts("o1", "B1", 2, D("18000"))],
        [
            ("o1", "B1", LoanAggregate("o1|B1", 2, D("18000"), D("6000"), D("0"))),
            ("o3", "B2", LoanAggregate("", 1, D("1"), D("0"), D("0"))),
        ],
    )
    assert [(r.officer_id, r.applications, r.pass_rate, r.disbursed_amount, r.overdue_rate) for r in board] == [
        ("o1", 4, D("0.6667"), D("18000.00"), D("0.3333")),
        ("o2", 1, D("0.0000"), D("0.00"), D("0.0000")),
        ("o3", 0, D("0.0000"), D("0.00"), D("0.0000")),
    ]
