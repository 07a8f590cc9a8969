"""Allocating repayments to installments (pure; replayed from scratch after a reversal).

Rules
-----
* Repayments are applied in posting order. Each first settles what is due on or before its
  value date, oldest installment first, and inside an installment the product's allocation
  order (default penalty → interest → principal).
* What is left pays the following installments ahead of time, in due-date order and in the
  same component order (paying ahead; future interest is not rebated — the schedule stays as
  contracted).
* What is left after everything is owed is an over-payment, kept as a credit to refund.

A reversal removes the repayment and replays the rest, so later repayments land exactly where
they would have had the reversed one never been posted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

ZERO = Decimal("0.00")


@dataclass
class Due:
    """What one installment asks for, and what has been paid against it."""

    number: int
    due_date: date
    principal: Decimal
    interest: Decimal
    penalty: Decimal = ZERO
    paid: dict[str, Decimal] = field(default_factory=lambda: {"principal": ZERO, "interest": ZERO, "penalty": ZERO})

    def owed(self, component: str) -> Decimal:
        return getattr(self, component) - self.paid[component]  # type: ignore[no-any-return]

    @property
    def outstanding(self) -> Decimal:
        return sum((self.owed(c) for c in ("principal", "interest", "penalty")), ZERO)


@dataclass(frozen=True)
class Payment:
    key: str
    amount: Decimal
    value_date: date


@dataclass
class PaymentResult:
    allocations: list[tuple[int, str, Decimal]]
    overpaid: Decimal


def allocate(dues: list[Due], payments: list[Payment], order: tuple[str, ...]) -> dict[str, PaymentResult]:
    """Applies ``payments`` in order to fresh ``dues`` (their ``paid`` is reset first)."""
    for due in dues:
        due.paid = {"principal": ZERO, "interest": ZERO, "penalty": ZERO}
    ordered = sorted(dues, key=lambda d: d.number)
    results: dict[str, PaymentResult] = {}
    for payment in payments:
        left = payment.amount
        allocations: list[tuple[int, str, Decimal]] = []
        current = [d for d in ordered if d.due_date <= payment.value_date]
        ahead = [d for d in ordered if d.due_date > payment.value_date]
        for group in (current, ahead):
            for due in group:
                for component in order:
                    if left <= 0:
                        break
                    owed = due.owed(component)
                    if owed <= 0:
                        continue
                    take = min(owed, left)
                    due.paid[component] += take
                    left -= take
                    allocations.append((due.number, component, take))
        results[payment.key] = PaymentResult(allocations, left)
    return results
