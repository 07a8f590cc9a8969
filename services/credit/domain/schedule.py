"""Repayment schedule generator for the four repayment methods (pure domain code).

The same function builds the schedule stored at disbursement and answers the product quote
(the loan calculator officers use in front of customers), so both always agree.

Methods
-------
* ``EQUAL_INSTALLMENT`` (等额本息): a level payment per period; interest on the opening
  balance, the rest of the payment repays principal.
* ``EQUAL_PRINCIPAL`` (等额本金): the same principal every period plus interest on the
  opening balance, so payments decrease.
* ``INTEREST_FIRST`` (先息后本): interest every period, all principal in the last period.
* ``BULLET`` (利随本清): one installment at maturity with all principal and interest; the
  single period is the whole term and ``frequency`` is ignored.

Interest convention (chosen so the numbers match what customers check them against)
----------------------------------------------------------------------------------
* ``EQUAL_INSTALLMENT`` uses the *periodic rate* ``annual_rate / periods_per_year`` (annual/12
  for monthly) both for the payment amount and for the interest/principal split of every
  period. That is standard 等额本息 as Chinese bank calculators and ``numpy_financial.pmt``
  compute it; the day count does not enter (months of 28 and 31 days cost the same). The one
  exception is an irregular first period set by ``first_due_date``: its interest is charged
  by the day count over its actual days (the broken period), while its principal part stays
  that of a regular period, so only the first installment's total differs from the level
  payment.
* ``EQUAL_PRINCIPAL``, ``INTEREST_FIRST`` and ``BULLET`` accrue interest by the day count
  over the period: ``opening * annual_rate * days / basis`` (ACT/360 by default), which is
  how these loans accrue day by day in the ledger.

Rounding
--------
Every period's interest and principal (and the level payment of ``EQUAL_INSTALLMENT``) is
rounded to ``RoundingPolicy.scale`` with its mode (HALF_EVEN by default, Fineract's default
too). Rounding per period, not at the end, means each installment is an amount a customer can
actually pay. The last installment takes whatever principal remains, so the principal column
sums exactly to the loan amount and the final closing principal is exactly zero.

Grace periods (not for ``BULLET``)
----------------------------------
Periods are laid out in this order: ``interest_grace_periods`` first, then
``principal_grace_periods``, then amortisation over the remaining periods.

* Principal grace: the period pays interest only; the amortisation (level payment or fixed
  principal) is computed over the periods that remain after both graces.
* Interest grace: the period has no payment at all (its installment shows zero principal,
  interest and total so numbering and dates still map one-to-one to periods). Its interest
  is *accrued, not capitalised*: it is added, without interest on interest, to the interest
  of the first installment after the grace. Capitalising would charge compound interest on
  interest and change the principal the contract states; accrual keeps the principal column
  equal to the amount disbursed.

Due dates
---------
Due date *k* is ``start_date`` plus *k* periods, always stepped from the anchor and clamped to
the month end (31 Jan → 29 Feb → 31 Mar → 30 Apr), so a short month never shifts later dates.
With ``first_due_date`` the first period runs from ``start_date`` to it and later due dates
step from it (its day of month becomes the anchor). No business-day adjustment is made here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import (
    ROUND_05UP,
    ROUND_CEILING,
    ROUND_DOWN,
    ROUND_FLOOR,
    ROUND_HALF_DOWN,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    ROUND_UP,
    Context,
    Decimal,
    localcontext,
)
from enum import Enum

from services.common.errors import FieldViolation, InvalidArgument
from services.credit.domain.daycount import DayCount, add_months, day_count_days, year_basis

__all__ = [
    "MAX_PRINCIPAL",
    "MAX_TERM_MONTHS",
    "DayCount",
    "Frequency",
    "Installment",
    "InvalidTerms",
    "RepaymentMethod",
    "RoundingPolicy",
    "Schedule",
    "ScheduleTerms",
    "generate_schedule",
]

# The quote endpoint takes user input: these limits turn absurd values into a field error
# instead of a huge schedule or a decimal overflow. They are sanity bounds, not product rules
# (products enforce their own amount and term bounds).
MAX_TERM_MONTHS = 600
MAX_PRINCIPAL = Decimal("1000000000000000")  # 10^15: far above any loan, far below precision
MAX_ANNUAL_RATE = Decimal(1)  # rates are fractions; 4.35 instead of 0.0435 must not pass
MAX_SCALE = 8

_ROUNDING_MODES = frozenset(
    {
        ROUND_05UP,
        ROUND_CEILING,
        ROUND_DOWN,
        ROUND_FLOOR,
        ROUND_HALF_DOWN,
        ROUND_HALF_EVEN,
        ROUND_HALF_UP,
        ROUND_UP,
    }
)

# Private arithmetic context: the caller's (thread-local, mutable) context must not change
# results. 40 digits keep products like principal * rate * days exact before the single
# rounding; quantize() is always given its rounding mode explicitly.
_CONTEXT = Context(prec=40, rounding=ROUND_HALF_EVEN)

_ZERO = Decimal(0)


class InvalidTerms(InvalidArgument):
    """Schedule terms that cannot produce a schedule; ``field`` names the offending field.

    ``description`` holds the human-readable reason with the limit. (The constructor's
    ``reason`` argument is stored there because ``DomainError.reason`` is the stable
    machine-readable code, here ``INVALID_TERMS``, that the transport layers put on the wire.)
    """

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}", [FieldViolation(field, reason)], reason="INVALID_TERMS")
        self.field = field
        self.description = reason


class RepaymentMethod(Enum):
    EQUAL_INSTALLMENT = "EQUAL_INSTALLMENT"  # 等额本息
    EQUAL_PRINCIPAL = "EQUAL_PRINCIPAL"  # 等额本金
    INTEREST_FIRST = "INTEREST_FIRST"  # 先息后本
    BULLET = "BULLET"  # 利随本清


class Frequency(Enum):
    MONTHLY = "MONTHLY"
    QUARTERLY = "QUARTERLY"
    SEMIANNUAL = "SEMIANNUAL"
    ANNUAL = "ANNUAL"

    @property
    def months(self) -> int:
        return _FREQUENCY_MONTHS[self]


_FREQUENCY_MONTHS: dict[Frequency, int] = {
    Frequency.MONTHLY: 1,
    Frequency.QUARTERLY: 3,
    Frequency.SEMIANNUAL: 6,
    Frequency.ANNUAL: 12,
}


@dataclass(frozen=True, slots=True)
class RoundingPolicy:
    """How money amounts are rounded: ``scale`` decimal places with a ``decimal`` rounding mode.

    The remainder left by per-period rounding always goes into the last installment.
    """

    scale: int = 2
    mode: str = ROUND_HALF_EVEN

    def __post_init__(self) -> None:
        if type(self.scale) is not int or not 0 <= self.scale <= MAX_SCALE:
            raise InvalidTerms("rounding.scale", f"must be an integer from 0 to {MAX_SCALE}")
        if self.mode not in _ROUNDING_MODES:
            raise InvalidTerms("rounding.mode", "must be one of the decimal module's ROUND_* modes")

    @property
    def quantum(self) -> Decimal:
        return Decimal(1).scaleb(-self.scale)

    def round(self, amount: Decimal) -> Decimal:
        return amount.quantize(self.quantum, rounding=self.mode)


@dataclass(frozen=True, slots=True)
class ScheduleTerms:
    """Everything a schedule depends on; invalid combinations raise ``InvalidTerms`` here.

    ``annual_rate`` is a fraction (``Decimal("0.0435")`` for 4.35 %). ``principal`` must be a
    ``Decimal`` with no more decimal places than the rounding scale: floats are refused because
    their binary error would leak into money.
    """

    principal: Decimal
    annual_rate: Decimal
    term_months: int
    start_date: date
    method: RepaymentMethod
    frequency: Frequency = Frequency.MONTHLY
    day_count: DayCount = DayCount.ACT_360
    rounding: RoundingPolicy = field(default_factory=RoundingPolicy)
    principal_grace_periods: int = 0
    interest_grace_periods: int = 0
    first_due_date: date | None = None

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def period_months(self) -> int:
        """Months per period; for BULLET the single period is the whole term."""
        if self.method is RepaymentMethod.BULLET:
            return self.term_months
        return self.frequency.months

    @property
    def number_of_periods(self) -> int:
        return self.term_months // self.period_months


@dataclass(frozen=True, slots=True)
class Installment:
    """One period of the schedule.

    ``period_end`` equals ``due_date``; ``days`` is the actual calendar days of the period
    (the day count may count differently, e.g. 30/360). ``total = principal + interest``.
    """

    number: int
    due_date: date
    period_start: date
    period_end: date
    days: int
    opening_principal: Decimal
    principal: Decimal
    interest: Decimal
    total: Decimal
    closing_principal: Decimal


@dataclass(frozen=True, slots=True)
class Schedule:
    terms: ScheduleTerms
    installments: tuple[Installment, ...]
    total_principal: Decimal
    total_interest: Decimal
    total_payment: Decimal

    @property
    def maturity_date(self) -> date:
        return self.installments[-1].due_date


def _is_int(value: object) -> bool:
    # bool is an int subclass; True as a term would be a bug, not one month.
    return type(value) is int


def _validate(t: ScheduleTerms) -> None:
    if not isinstance(t.method, RepaymentMethod):
        raise InvalidTerms("method", "must be a RepaymentMethod")
    if not isinstance(t.frequency, Frequency):
        raise InvalidTerms("frequency", "must be a Frequency")
    if not isinstance(t.day_count, DayCount):
        raise InvalidTerms("day_count", "must be a DayCount")
    if not isinstance(t.rounding, RoundingPolicy):
        raise InvalidTerms("rounding", "must be a RoundingPolicy")

    if not isinstance(t.principal, Decimal) or not t.principal.is_finite():
        raise InvalidTerms("principal", "must be a finite Decimal")
    if t.principal <= 0:
        raise InvalidTerms("principal", "must be greater than 0")
    if t.principal > MAX_PRINCIPAL:
        raise InvalidTerms("principal", f"must be at most {MAX_PRINCIPAL}")
    scale = t.rounding.scale
    if t.principal != t.principal.quantize(t.rounding.quantum, context=_CONTEXT):
        raise InvalidTerms("principal", f"must have at most {scale} decimal places")

    if not isinstance(t.annual_rate, Decimal) or not t.annual_rate.is_finite():
        raise InvalidTerms("annual_rate", "must be a finite Decimal")
    if t.annual_rate < 0:
        raise InvalidTerms("annual_rate", "must be at least 0")
    if t.annual_rate > MAX_ANNUAL_RATE:
        raise InvalidTerms("annual_rate", "must be a fraction at most 1 (0.0435 for 4.35 %)")

    if not _is_int(t.term_months) or not 1 <= t.term_months <= MAX_TERM_MONTHS:
        raise InvalidTerms("term_months", f"must be an integer from 1 to {MAX_TERM_MONTHS}")
    if t.method is not RepaymentMethod.BULLET and t.term_months % t.frequency.months:
        raise InvalidTerms(
            "term_months",
            f"must be a multiple of {t.frequency.months} months for {t.frequency.value} repayment",
        )

    # datetime is a date subclass, but subtracting it from a date fails and a time of day
    # has no meaning for a due date.
    if not isinstance(t.start_date, date) or isinstance(t.start_date, datetime):
        raise InvalidTerms("start_date", "must be a date (not a datetime)")

    for name in ("principal_grace_periods", "interest_grace_periods"):
        value = getattr(t, name)
        if not _is_int(value) or value < 0:
            raise InvalidTerms(name, "must be an integer at least 0")
    grace = t.principal_grace_periods + t.interest_grace_periods
    if t.method is RepaymentMethod.BULLET:
        if grace:
            field_name = "principal_grace_periods" if t.principal_grace_periods else "interest_grace_periods"
            raise InvalidTerms(field_name, "must be 0 for BULLET (a single installment)")
    else:
        periods = t.term_months // t.frequency.months
        if grace >= periods:
            field_name = "interest_grace_periods" if t.interest_grace_periods else "principal_grace_periods"
            raise InvalidTerms(
                field_name,
                f"principal and interest grace together must be less than the {periods} periods",
            )

    if t.first_due_date is not None:
        if t.method is RepaymentMethod.BULLET:
            raise InvalidTerms("first_due_date", "not allowed for BULLET: the due date is the maturity")
        if not isinstance(t.first_due_date, date) or isinstance(t.first_due_date, datetime):
            raise InvalidTerms("first_due_date", "must be a date (not a datetime)")
        # Between one day and (strictly) two periods after the start: longer would hide a
        # whole unpaid period inside the first one.
        latest = add_months(t.start_date, 2 * t.frequency.months)
        if not t.start_date < t.first_due_date < latest:
            raise InvalidTerms("first_due_date", f"must be after start_date and before {latest.isoformat()}")


def _level_payment(principal: Decimal, rate: Decimal, periods: int) -> Decimal:
    """Unrounded annuity payment, numpy_financial.pmt's formula (sign aside)."""
    if rate == 0:
        return principal / periods
    growth = (1 + rate) ** periods
    return principal * rate * growth / (growth - 1)


def generate_schedule(terms: ScheduleTerms) -> Schedule:
    """Build the full schedule for ``terms`` (already validated by ``ScheduleTerms``)."""
    with localcontext(_CONTEXT):
        return _generate(terms)


def _generate(t: ScheduleTerms) -> Schedule:
    method = t.method
    quantum = t.rounding.quantum
    mode = t.rounding.mode
    rate = t.annual_rate
    basis = Decimal(year_basis(t.day_count))
    day_count = t.day_count
    principal_amount = t.principal.quantize(quantum, rounding=mode)
    zero = _ZERO.quantize(quantum)  # "0.00", not "0": every amount carries the scale

    step = t.period_months
    n = t.term_months // step
    deferred = t.interest_grace_periods
    interest_only_until = deferred + t.principal_grace_periods  # first amortising index
    amortising = n - interest_only_until

    # Due dates, stepped from the anchor each time so month-end clamping never drifts.
    if t.first_due_date is None:
        due_dates = [add_months(t.start_date, k * step) for k in range(1, n + 1)]
        irregular_first = False
    else:
        due_dates = [add_months(t.first_due_date, k * step) for k in range(n)]
        irregular_first = t.first_due_date != add_months(t.start_date, step)

    periodic_rate = rate * step / 12
    level_payment = zero
    fixed_principal = zero
    if method is RepaymentMethod.EQUAL_INSTALLMENT:
        level_payment = _level_payment(principal_amount, periodic_rate, amortising).quantize(quantum, rounding=mode)
    elif method is RepaymentMethod.EQUAL_PRINCIPAL:
        fixed_principal = (principal_amount / amortising).quantize(quantum, rounding=mode)

    installments: list[Installment] = []
    balance = principal_amount
    accrued = zero  # interest of interest-grace periods, owed with the next payment
    total_principal = zero
    total_interest = zero
    period_start = t.start_date
    last = n - 1
    for i, due in enumerate(due_dates):
        if method is RepaymentMethod.EQUAL_INSTALLMENT:
            regular_interest = (balance * periodic_rate).quantize(quantum, rounding=mode)
            if i == 0 and irregular_first:
                dc_days = day_count_days(period_start, due, day_count)
                interest = (balance * rate * dc_days / basis).quantize(quantum, rounding=mode)
            else:
                interest = regular_interest
        else:
            regular_interest = zero  # unused by the day-count methods
            dc_days = day_count_days(period_start, due, day_count)
            interest = (balance * rate * dc_days / basis).quantize(quantum, rounding=mode)

        if i < deferred:
            accrued += interest
            principal = zero
            interest = zero
        else:
            interest += accrued
            accrued = zero
            if i == last:
                principal = balance  # absorbs every rounding remainder
            elif i < interest_only_until or method is RepaymentMethod.INTEREST_FIRST:
                principal = zero
            elif method is RepaymentMethod.EQUAL_INSTALLMENT:
                # The split uses the regular periodic interest even in a broken first
                # period, so the amortisation path matches the level-payment annuity.
                principal = level_payment - regular_interest
            else:
                principal = fixed_principal
            # Tiny loans over long terms can round the per-period principal above what is
            # left (or a payment below its interest); never overpay or go negative.
            if principal > balance:
                principal = balance
            elif principal < 0:
                principal = zero

        closing = balance - principal
        total_principal += principal
        total_interest += interest
        installments.append(
            Installment(
                number=i + 1,
                due_date=due,
                period_start=period_start,
                period_end=due,
                days=(due - period_start).days,
                opening_principal=balance,
                principal=principal,
                interest=interest,
                total=principal + interest,
                closing_principal=closing,
            )
        )
        balance = closing
        period_start = due

    return Schedule(
        terms=t,
        installments=tuple(installments),
        total_principal=total_principal,
        total_interest=total_interest,
        total_payment=total_principal + total_interest,
    )
