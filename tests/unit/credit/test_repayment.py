"""Allocation of repayments: order, partial, early, over-payment and replay after reversal."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from services.credit.domain.repayment import Due, Payment, allocate

D = Decimal
ORDER = ("penalty", "interest", "principal")


def dues() -> list[Due]:
    return [
        Due(1, date(2026, 2, 1), D("100.00"), D("10.00"), D("2.00")),
        Due(2, date(2026, 3, 1), D("100.00"), D("8.00")),
        Due(3, date(2026, 4, 1), D("100.00"), D("6.00")),
    ]


def test_partial_payment_goes_penalty_then_interest_then_principal_of_the_oldest() -> None:
    rows = dues()
    result = allocate(rows, [Payment("r1", D("50.00"), date(2026, 3, 2))], ORDER)
    assert result["r1"].allocations == [
        (1, "penalty", D("2.00")),
        (1, "interest", D("10.00")),
        (1, "principal", D("38.00")),
    ]
    assert rows[0].outstanding == D("62.00")
    assert result["r1"].overpaid == 0


def test_due_installments_are_settled_oldest_first_before_anything_else() -> None:
    rows = dues()
    result = allocate(rows, [Payment("r1", D("150.00"), date(2026, 3, 2))], ORDER)
    assert rows[0].outstanding == 0
    # the rest goes to installment 2 (due), interest before principal
    assert result["r1"].allocations[3:] == [(2, "interest", D("8.00")), (2, "principal", D("30.00"))]


def test_principal_first_order_from_the_product() -> None:
    rows = dues()
    result = allocate(rows, [Payment("r1", D("105.00"), date(2026, 2, 1))], ("principal", "interest", "penalty"))
    assert result["r1"].allocations == [(1, "principal", D("100.00")), (1, "interest", D("5.00"))]


def test_early_payment_pays_future_installments_in_date_order() -> None:
    rows = dues()
    result = allocate(rows, [Payment("r1", D("200.00"), date(2026, 1, 15))], ORDER)
    # nothing is due yet on 15 Jan: pays installment 1 then 2 ahead of time
    assert rows[0].outstanding == 0
    assert rows[1].paid == {"principal": D("80.00"), "interest": D("8.00"), "penalty": D("0.00")}
    assert result["r1"].overpaid == 0


def test_over_payment_is_kept_as_a_credit() -> None:
    rows = dues()
    result = allocate(rows, [Payment("r1", D("500.00"), date(2026, 4, 1))], ORDER)
    assert sum(r.outstanding for r in rows) == 0
    assert result["r1"].overpaid == D("500.00") - D("326.00")


def test_replay_without_a_reversed_payment_moves_later_payments_back() -> None:
    rows = dues()
    first = [Payment("a", D("112.00"), date(2026, 2, 1)), Payment("b", D("50.00"), date(2026, 3, 1))]
    result = allocate(rows, first, ORDER)
    assert result["b"].allocations[0] == (2, "interest", D("8.00"))
    replay = allocate(rows, first[1:], ORDER)  # "a" reversed
    assert replay["b"].allocations == [
        (1, "penalty", D("2.00")),
        (1, "interest", D("10.00")),
        (1, "principal", D("38.00")),
    ]
    assert rows[1].outstanding == D("108.00")
