"""Repayment schedules for the four methods, checked against independent oracles.

numpy_financial (floats) is the oracle for equal installments; the other methods are checked
against amounts computed by hand in the test.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction
from itertools import pairwise
from typing import Any

import numpy_financial as npf
import pytest

from services.common.errors import InvalidArgument
from services.credit.domain.daycount import add_months, day_count_days, year_fraction
from services.credit.domain.schedule import (
    DayCount,
    Frequency,
    InvalidTerms,
    RepaymentMethod,
    RoundingPolicy,
    Schedule,
    ScheduleTerms,
    generate_schedule,
)

D = Decimal
CENT = D("0.01")
EI = RepaymentMethod.EQUAL_INSTALLMENT
EP = RepaymentMethod.EQUAL_PRINCIPAL
IF = RepaymentMethod.INTEREST_FIRST
BULLET = RepaymentMethod.BULLET


def make_terms(**overrides: Any) -> ScheduleTerms:
    values: dict[str, Any] = {
        "principal": D("100000.00"),
        "annual_rate": D("0.0435"),
        "term_months": 12,
        "start_date": date(2024, 3, 15),
        "method": EI,
    }
    values.update(overrides)
    return ScheduleTerms(**values)


def schedule(**overrides: Any) -> Schedule:
    return generate_schedule(make_terms(**overrides))


def cents(value: float) -> Decimal:
    """A numpy_financial float rounded to the cent, HALF_EVEN like the domain default."""
    return D(str(float(value))).quantize(CENT, rounding=ROUND_HALF_EVEN)


def assert_consistent(s: Schedule) -> None:
    """Invariants every schedule must satisfy, whatever the method."""
    principal = s.terms.principal
    items = s.installments
    assert items[0].opening_principal == principal
    assert items[-1].closing_principal == 0
    assert sum((i.principal for i in items), D(0)) == principal
    assert s.total_principal == principal
    assert s.total_interest == sum((i.interest for i in items), D(0))
    assert s.total_payment == s.total_principal + s.total_interest
    previous_end = s.terms.start_date
    for number, item in enumerate(items, start=1):
        assert item.number == number
        assert item.period_start == previous_end
        assert item.period_end == item.due_date
        assert item.days == (item.period_end - item.period_start).days > 0
        assert item.principal >= 0 and item.interest >= 0
        assert item.total == item.principal + item.interest
        assert item.closing_principal == item.opening_principal - item.principal
        assert item.closing_principal >= 0
        for amount in (item.principal, item.interest, item.total, item.opening_principal):
            assert amount == amount.quantize(CENT)
        previous_end = item.due_date
    for before, after in pairwise(items):
        assert after.opening_principal == before.closing_principal


# --- equal installment (等额本息) against numpy_financial -------------------------------------


@pytest.mark.parametrize(
    ("principal", "rate", "term", "frequency"),
    [
        ("50000", "0.0435", 12, Frequency.MONTHLY),
        ("100000.01", "0.0475", 7, Frequency.MONTHLY),
        ("300000", "0.0588", 36, Frequency.MONTHLY),
        ("1234567.89", "0.049", 360, Frequency.MONTHLY),
        ("8888.88", "0.12", 13, Frequency.MONTHLY),
        ("200000", "0.0435", 240, Frequency.MONTHLY),
        ("60000", "0.065", 24, Frequency.QUARTERLY),
        ("75000.50", "0.07", 36, Frequency.SEMIANNUAL),
        ("500000", "0.0385", 60, Frequency.ANNUAL),
    ],
)
def test_equal_installment_payment_matches_numpy_pmt(
    principal: str, rate: str, term: int, frequency: Frequency
) -> None:
    s = schedule(principal=D(principal), annual_rate=D(rate), term_months=term, frequency=frequency)
    per_year = 12 // frequency.months
    periods = term // frequency.months
    expected = cents(-npf.pmt(float(rate) / per_year, periods, float(principal)))
    assert len(s.installments) == periods
    # Every installment but the last (which absorbs the rounding remainder) is the level payment.
    assert {i.total for i in s.installments[:-1]} == {expected}
    assert_consistent(s)


# One cent is the honest limit only for short terms: our payment is rounded to the cent, so the
# balance drifts from the exact annuity by up to half a cent per period and that drift earns
# interest; over decades it reaches cents per installment (see the long-term test below).
@pytest.mark.parametrize("principal", ["10000", "100000.01", "123456.78", "999.99", "300000"])
@pytest.mark.parametrize("rate", ["0.0435", "0.049", "0.0588"])
@pytest.mark.parametrize("term", [3, 7, 12, 13, 24])
def test_equal_installment_split_matches_ppmt_ipmt_within_a_cent(principal: str, rate: str, term: int) -> None:
    s = schedule(principal=D(principal), annual_rate=D(rate), term_months=term)
    r = float(rate) / 12
    p = float(principal)
    for item in s.installments[:-1]:
        ppmt = -npf.ppmt(r, item.number, term, p)
        ipmt = -npf.ipmt(r, item.number, term, p)
        assert abs(float(item.principal) - ppmt) <= 0.01, item
        assert abs(float(item.interest) - ipmt) <= 0.01, item
    # The last installment repays what is left after the *rounded* payments: the annuity
    # balance with the rounded payment (not ppmt(n)), off by the interest roundings, each at
    # most half a cent, that the earlier periods pushed into the balance.
    payment = float(s.installments[0].total)
    last = s.installments[-1]
    remaining = -npf.fv(r, term - 1, -payment, p)
    assert abs(float(last.principal) - remaining) <= 0.005 * term
    assert abs(float(last.interest) - remaining * r) <= 0.01
    assert_consistent(s)


def test_equal_installment_long_term_follows_the_annuity_recurrence() -> None:
    principal, rate, term = D("1234567.89"), D("0.049"), 360
    s = schedule(principal=principal, annual_rate=rate, term_months=term)
    r = Fraction(rate) / 12
    payment = s.installments[0].total
    for item in s.installments:
        # Interest: the opening balance times the monthly rate, rounded half-even to the cent,
        # recomputed with exact fractions (round() on a Fraction rounds half to even).
        exact_cents = round(Fraction(item.opening_principal) * r * 100)
        assert item.interest == D(exact_cents).scaleb(-2)
        if item.number < term:
            assert item.total == payment
    # Total interest stays within half a cent per period of the exact annuity's.
    exact_interest = -npf.pmt(float(rate) / 12, term, float(principal)) * term - float(principal)
    assert abs(float(s.total_interest) - exact_interest) <= 0.005 * term
    assert_consistent(s)


def test_fineract_published_example_thirty_360() -> None:
    # Apache Fineract's documented example: 100 at 9.4822 % a year, 6 monthly installments.
    s = schedule(
        principal=D("100"),
        annual_rate=D("0.094822"),
        term_months=6,
        start_date=date(2024, 1, 15),
        day_count=DayCount.THIRTY_360,
    )
    assert [i.total for i in s.installments] == [D("17.13")] * 6
    assert [i.interest for i in s.installments] == [D(x) for x in ("0.79", "0.66", "0.53", "0.40", "0.27", "0.13")]
    assert [i.principal for i in s.installments] == [
        D(x) for x in ("16.34", "16.47", "16.60", "16.73", "16.86", "17.00")
    ]
    assert_consistent(s)


def test_equal_installment_ignores_day_count_and_month_length() -> None:
    # Standard 等额本息: the periodic rate is annual/12 whatever the month's length or day count.
    a = schedule(day_count=DayCount.ACT_360)
    b = schedule(day_count=DayCount.ACT_365)
    assert a.installments == b.installments


def test_zero_rate_equal_installment_splits_principal_evenly() -> None:
    s = schedule(principal=D("1000.00"), annual_rate=D(0), term_months=3)
    assert [i.total for i in s.installments] == [D("333.33"), D("333.33"), D("333.34")]
    assert s.total_interest == 0


# --- equal principal (等额本金) ------------------------------------------------------------------


def test_equal_principal_by_hand_act_360() -> None:
    s = schedule(principal=D("120000"), annual_rate=D("0.06"), term_months=3, start_date=date(2024, 1, 15), method=EP)
    assert [i.days for i in s.installments] == [31, 29, 31]
    assert [i.principal for i in s.installments] == [D("40000.00")] * 3
    # 120000*0.06*31/360, 80000*0.06*29/360, 40000*0.06*31/360
    assert [i.interest for i in s.installments] == [D("620.00"), D("386.67"), D("206.67")]
    assert s.total_interest == D("1213.34")
    assert_consistent(s)


@pytest.mark.parametrize(
    ("term", "per_period", "last"),
    [
        (3, "33333.34", "33333.33"),  # 33333.3366… rounds up, the last gives the cent back
        (7, "14285.72", "14285.69"),  # 14285.7157… ; 100000.01 - 6 * 14285.72
        (13, "7692.31", "7692.29"),  # 7692.3084… ; 100000.01 - 12 * 7692.31
    ],
)
def test_equal_principal_constant_except_last(term: int, per_period: str, last: str) -> None:
    s = schedule(principal=D("100000.01"), term_months=term, method=EP)
    assert [i.principal for i in s.installments[:-1]] == [D(per_period)] * (term - 1)
    assert s.installments[-1].principal == D(last)
    assert_consistent(s)


def test_equal_principal_interest_decreases() -> None:
    # 30/360 with an anchor day <= 28 makes every period 30 days, so interest can only fall
    # as the balance falls (under ACT a 31-day month can cost more than a 28-day one).
    s = schedule(term_months=36, method=EP, day_count=DayCount.THIRTY_360, start_date=date(2024, 3, 10))
    interests = [i.interest for i in s.installments]
    assert all(a > b for a, b in pairwise(interests))
    assert interests[0] == D("362.50")  # 100000 * 0.0435 * 30 / 360
    assert_consistent(s)


# --- interest first (先息后本) and bullet (利随本清) ---------------------------------------------


def test_interest_first_principal_only_at_the_end_quarterly_by_hand() -> None:
    s = schedule(
        principal=D("50000"),
        term_months=12,
        method=IF,
        frequency=Frequency.QUARTERLY,
        start_date=date(2024, 1, 31),
    )
    assert [i.due_date for i in s.installments] == [
        date(2024, 4, 30),
        date(2024, 7, 31),
        date(2024, 10, 31),
        date(2025, 1, 31),
    ]
    assert [i.days for i in s.installments] == [90, 92, 92, 92]
    assert [i.principal for i in s.installments] == [D("0.00")] * 3 + [D("50000.00")]
    # 50000 * 0.0435 * 90/360 = 543.75; * 92/360 = 555.8333…
    assert [i.interest for i in s.installments] == [D("543.75")] + [D("555.83")] * 3
    assert_consistent(s)


def test_bullet_single_installment_with_interest_over_the_day_count() -> None:
    # 2024-03-01 → 2025-03-01 is 365 actual days.
    s = schedule(method=BULLET, term_months=12, start_date=date(2024, 3, 1), frequency=Frequency.QUARTERLY)
    assert len(s.installments) == 1
    only = s.installments[0]
    assert (only.due_date, only.days) == (date(2025, 3, 1), 365)
    assert only.principal == D("100000.00")
    assert only.interest == D("4410.42")  # 100000 * 0.0435 * 365 / 360 = 4410.4166…
    assert only.total == D("104410.42")
    assert_consistent(s)


@pytest.mark.parametrize(
    ("start", "day_count", "interest"),
    [
        # 365 days: ACT/360 charges 365/360 of a year, ACT/365 exactly one year.
        (date(2024, 3, 1), DayCount.ACT_360, "4410.42"),
        (date(2024, 3, 1), DayCount.ACT_365, "4350.00"),
        (date(2024, 3, 1), DayCount.THIRTY_360, "4350.00"),
        # 366 days across 29 Feb 2024: 4422.50 and 100000*0.0435*366/365 = 4361.9178…
        (date(2024, 1, 1), DayCount.ACT_360, "4422.50"),
        (date(2024, 1, 1), DayCount.ACT_365, "4361.92"),
        (date(2024, 1, 1), DayCount.THIRTY_360, "4350.00"),
    ],
)
def test_day_count_changes_bullet_interest_as_computed_by_hand(start: date, day_count: DayCount, interest: str) -> None:
    s = schedule(method=BULLET, term_months=12, start_date=start, day_count=day_count)
    assert s.installments[0].interest == D(interest)


def test_act_360_vs_act_365_differ_by_the_ratio() -> None:
    terms = {"method": EP, "term_months": 6, "start_date": date(2024, 1, 31)}
    a360 = schedule(day_count=DayCount.ACT_360, **terms)
    a365 = schedule(day_count=DayCount.ACT_365, **terms)
    # Same balances and days; only the denominator differs, so each interest is 365/360 of
    # the other to within the rounding of both.
    for x, y in zip(a360.installments, a365.installments, strict=True):
        assert x.principal == y.principal
        assert x.interest > y.interest
        assert abs(y.interest * D(365) / D(360) - x.interest) <= CENT
    # First period 2024-01-31 → 2024-02-29: 29 days on 100000 at 4.35 %.
    assert a360.installments[0].interest == D("350.42")  # 100000*0.0435*29/360 = 350.4166…
    assert a365.installments[0].interest == D("345.62")  # 100000*0.0435*29/365 = 345.6164…


# --- exact totals for every method -----------------------------------------------------------


@pytest.mark.parametrize("method", list(RepaymentMethod))
@pytest.mark.parametrize("principal", ["100000.01", "0.01", "0.07", "1.00", "33333.33", "999999.99", "12345.67"])
@pytest.mark.parametrize("term", [3, 7, 13, 360])
@pytest.mark.parametrize("rate", ["0", "0.0435", "0.1499"])
def test_principal_sums_exactly_for_all_methods(method: RepaymentMethod, principal: str, term: int, rate: str) -> None:
    s = schedule(
        principal=D(principal),
        term_months=term,
        method=method,
        annual_rate=D(rate),
        start_date=date(2024, 1, 31),
    )
    assert_consistent(s)
    assert len(s.installments) == (1 if method is BULLET else term)


@pytest.mark.parametrize("method", [EI, EP, IF])
@pytest.mark.parametrize(("interest_grace", "principal_grace"), [(0, 2), (2, 0), (1, 3)])
def test_principal_sums_exactly_with_grace(method: RepaymentMethod, interest_grace: int, principal_grace: int) -> None:
    s = schedule(
        principal=D("100000.01"),
        term_months=13,
        method=method,
        interest_grace_periods=interest_grace,
        principal_grace_periods=principal_grace,
    )
    assert_consistent(s)


def test_tiny_loan_over_long_term_never_overpays() -> None:
    # 0.51 / 100 = 0.0051 rounds to 0.01 a period: the principal must stop at the balance.
    s = schedule(principal=D("0.51"), term_months=100, method=EP, annual_rate=D(0))
    assert_consistent(s)
    assert [i.principal for i in s.installments[:51]] == [CENT] * 51
    assert all(i.principal == 0 for i in s.installments[51:])


# --- dates -------------------------------------------------------------------------------------


def test_month_end_anchor_is_kept() -> None:
    s = schedule(start_date=date(2024, 1, 31), term_months=12)
    dues = [i.due_date for i in s.installments]
    assert dues[:4] == [date(2024, 2, 29), date(2024, 3, 31), date(2024, 4, 30), date(2024, 5, 31)]
    assert [i.days for i in s.installments[:3]] == [29, 31, 30]
    assert dues[-1] == date(2025, 1, 31)
    assert s.maturity_date == date(2025, 1, 31)


def test_month_end_anchor_in_a_common_year_and_quarterly() -> None:
    monthly = schedule(start_date=date(2023, 1, 31), term_months=3)
    assert [i.due_date for i in monthly.installments] == [
        date(2023, 2, 28),
        date(2023, 3, 31),
        date(2023, 4, 30),
    ]
    quarterly = schedule(start_date=date(2023, 11, 30), term_months=9, frequency=Frequency.QUARTERLY)
    assert [i.due_date for i in quarterly.installments] == [
        date(2024, 2, 29),
        date(2024, 5, 30),
        date(2024, 8, 30),
    ]


def test_add_months_and_thirty_360_bond_basis() -> None:
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2024, 1, 31), 2) == date(2024, 3, 31)
    assert add_months(date(2024, 12, 31), -10) == date(2024, 2, 29)
    assert add_months(date(2025, 11, 15), 14) == date(2027, 1, 15)
    # 30/360 bond basis: a 31st counts as the 30th (the end only when the start is 30/31);
    # February's end is not adjusted.
    assert day_count_days(date(2024, 1, 31), date(2024, 2, 29), DayCount.THIRTY_360) == 29
    assert day_count_days(date(2024, 1, 30), date(2024, 3, 31), DayCount.THIRTY_360) == 60
    assert day_count_days(date(2024, 1, 15), date(2024, 3, 31), DayCount.THIRTY_360) == 76
    assert day_count_days(date(2024, 1, 31), date(2024, 2, 29), DayCount.ACT_365) == 29
    assert year_fraction(date(2024, 1, 1), date(2025, 1, 1), DayCount.ACT_360) == D(366) / D(360)
    assert year_fraction(date(2023, 1, 1), date(2024, 1, 1), DayCount.ACT_365) == 1
    assert year_fraction(date(2024, 1, 31), date(2025, 1, 31), DayCount.THIRTY_360) == 1


def test_first_due_date_makes_a_broken_first_period() -> None:
    # 41 days from 10 Jan to 20 Feb; later due dates step from the 20th.
    s = schedule(
        principal=D("12000"),
        annual_rate=D("0.06"),
        start_date=date(2024, 1, 10),
        first_due_date=date(2024, 2, 20),
    )
    first, second = s.installments[0], s.installments[1]
    assert (first.days, second.due_date, s.maturity_date) == (41, date(2024, 3, 20), date(2025, 1, 20))
    payment = cents(-npf.pmt(0.005, 12, 12000.0))
    assert payment == D("1032.80")
    # Broken-period interest by ACT/360 days; the principal part is that of a regular month.
    assert first.interest == D("82.00")  # 12000 * 0.06 * 41 / 360
    assert first.principal == payment - D("60.00")
    assert first.total == D("1054.80")
    assert {i.total for i in s.installments[1:-1]} == {payment}
    assert_consistent(s)


# --- grace periods -----------------------------------------------------------------------------


def test_principal_grace_pays_interest_only_then_amortises_over_the_rest() -> None:
    s = schedule(principal=D("90000"), term_months=12, principal_grace_periods=3)
    monthly_interest = D("326.25")  # 90000 * 0.0435 / 12
    assert [i.interest for i in s.installments[:3]] == [monthly_interest] * 3
    assert [i.principal for i in s.installments[:3]] == [D("0.00")] * 3
    payment = cents(-npf.pmt(0.0435 / 12, 9, 90000.0))
    assert {i.total for i in s.installments[3:-1]} == {payment}
    assert s.installments[3].interest == monthly_interest
    assert_consistent(s)


def test_interest_grace_accrues_without_capitalising_equal_installment() -> None:
    s = schedule(principal=D("90000"), term_months=12, interest_grace_periods=2)
    monthly_interest = D("326.25")
    deferred = s.installments[:2]
    assert all(i.total == 0 and i.opening_principal == i.closing_principal == D("90000") for i in deferred)
    payment = cents(-npf.pmt(0.0435 / 12, 10, 90000.0))  # amortised over the 10 remaining
    first_paid = s.installments[2]
    # Not capitalised: the principal stays 90000 and the two deferred months' interest is
    # paid, without interest on it, with the first payment.
    assert first_paid.opening_principal == D("90000")
    assert first_paid.interest == 3 * monthly_interest
    assert first_paid.total == payment + 2 * monthly_interest
    assert {i.total for i in s.installments[3:-1]} == {payment}
    assert_consistent(s)


def test_interest_grace_then_principal_grace_equal_principal_by_hand() -> None:
    s = schedule(
        principal=D("60000"),
        annual_rate=D("0.06"),
        term_months=6,
        start_date=date(2024, 1, 15),
        method=EP,
        interest_grace_periods=1,
        principal_grace_periods=1,
    )
    items = s.installments
    assert [i.days for i in items] == [31, 29, 31, 30, 31, 30]
    assert (items[0].principal, items[0].interest, items[0].total) == (0, 0, 0)
    # Period 1 accrues 60000*0.06*31/360 = 310.00, paid with period 2 (290.00 for 29 days).
    assert (items[1].principal, items[1].interest) == (0, D("600.00"))
    # Then 4 amortising periods of 15000.
    assert [i.principal for i in items[2:]] == [D("15000.00")] * 4
    assert items[2].interest == D("310.00")  # 60000 * 0.06 * 31 / 360
    assert items[3].interest == D("225.00")  # 45000 * 0.06 * 30 / 360
    assert_consistent(s)


# --- rounding ------------------------------------------------------------------------------------


def test_half_even_and_half_up_differ_on_a_half_cent_principal() -> None:
    base = {"principal": D("100.10"), "annual_rate": D(0), "term_months": 4, "method": EP}
    even = schedule(**base)
    up = schedule(rounding=RoundingPolicy(mode=ROUND_HALF_UP), **base)
    # 100.10 / 4 = 25.025
    assert [i.principal for i in even.installments] == [D("25.02")] * 3 + [D("25.04")]
    assert [i.principal for i in up.installments] == [D("25.03")] * 3 + [D("25.01")]


def test_half_even_and_half_up_differ_on_a_half_cent_interest() -> None:
    # 1 April → 1 May 2023 is 30 days: 100 * 0.0918 * 30 / 360 = 0.765 exactly.
    base = {
        "principal": D("100"),
        "annual_rate": D("0.0918"),
        "term_months": 1,
        "start_date": date(2023, 4, 1),
    }
    assert schedule(method=BULLET, **base).installments[0].interest == D("0.76")
    up = schedule(method=BULLET, rounding=RoundingPolicy(mode=ROUND_HALF_UP), **base)
    assert up.installments[0].interest == D("0.77")


def test_scale_zero_rounds_to_whole_yuan() -> None:
    s = schedule(principal=D("10000"), term_months=3, method=EP, rounding=RoundingPolicy(scale=0))
    assert [i.principal for i in s.installments] == [D(3333), D(3333), D(3334)]
    assert all(i.interest == i.interest.quantize(D(1)) for i in s.installments)


def test_result_does_not_depend_on_the_callers_decimal_context() -> None:
    expected = schedule(term_months=360)
    with localcontext() as ctx:
        ctx.prec = 6
        ctx.rounding = ROUND_DOWN
        assert schedule(term_months=360) == expected


def test_schedule_values_are_immutable() -> None:
    s = schedule()
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.installments[0].principal = D(0)  # type: ignore[misc]


# --- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field", "limit"),
    [
        ({"principal": D(0)}, "principal", "greater than 0"),
        ({"principal": D("-1")}, "principal", "greater than 0"),
        ({"principal": D("100.001")}, "principal", "at most 2 decimal places"),
        ({"principal": 1000.0}, "principal", "Decimal"),
        ({"principal": D("NaN")}, "principal", "finite"),
        ({"principal": D("1e16")}, "principal", "at most"),
        ({"annual_rate": D("-0.01")}, "annual_rate", "at least 0"),
        ({"annual_rate": D("4.35")}, "annual_rate", "at most 1"),
        ({"annual_rate": 0.0435}, "annual_rate", "Decimal"),
        ({"term_months": 0}, "term_months", "from 1 to 600"),
        ({"term_months": 601}, "term_months", "from 1 to 600"),
        ({"term_months": True}, "term_months", "integer"),
        ({"term_months": 7, "frequency": Frequency.QUARTERLY}, "term_months", "multiple of 3"),
        ({"term_months": 18, "frequency": Frequency.ANNUAL}, "term_months", "multiple of 12"),
        ({"start_date": datetime(2024, 1, 1, 9, 30)}, "start_date", "not a datetime"),
        ({"principal_grace_periods": -1}, "principal_grace_periods", "at least 0"),
        ({"interest_grace_periods": 12}, "interest_grace_periods", "less than the 12 periods"),
        (
            {"interest_grace_periods": 6, "principal_grace_periods": 6},
            "interest_grace_periods",
            "less than the 12 periods",
        ),
        ({"method": BULLET, "principal_grace_periods": 1}, "principal_grace_periods", "must be 0 for BULLET"),
        ({"method": BULLET, "first_due_date": date(2024, 4, 15)}, "first_due_date", "BULLET"),
        ({"first_due_date": date(2024, 3, 15)}, "first_due_date", "after start_date"),
        ({"first_due_date": date(2024, 5, 15)}, "first_due_date", "before 2024-05-15"),
        ({"method": "EQUAL_INSTALLMENT"}, "method", "RepaymentMethod"),
        ({"day_count": "ACT_360"}, "day_count", "DayCount"),
    ],
)
def test_invalid_terms_name_the_field_and_the_limit(overrides: dict[str, Any], field: str, limit: str) -> None:
    with pytest.raises(InvalidTerms) as caught:
        make_terms(**overrides)
    assert caught.value.field == field
    assert limit in caught.value.description
    # It is the platform's InvalidArgument, so transports map it to a field violation.
    assert isinstance(caught.value, InvalidArgument)
    assert [(v.field, v.description) for v in caught.value.violations] == [(field, caught.value.description)]
    assert str(caught.value).startswith(f"{field}: ")


@pytest.mark.parametrize(
    ("policy", "field"),
    [
        ({"scale": -1}, "rounding.scale"),
        ({"scale": 9}, "rounding.scale"),
        ({"mode": "HALF"}, "rounding.mode"),
    ],
)
def test_invalid_rounding_policy(policy: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidTerms) as caught:
        RoundingPolicy(**policy)
    assert caught.value.field == field


def test_replace_revalidates() -> None:
    terms = make_terms()
    with pytest.raises(InvalidTerms):
        dataclasses.replace(terms, principal=D(0))
