"""Lending product rules: what a product's terms may be.

Products are versioned and immutable: changing a product means creating the next version of
the same code, so a contract always points at the exact terms it was signed under.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from services.common.errors import InvalidArgument
from services.credit.domain.schedule import (
    MAX_PRINCIPAL,
    MAX_TERM_MONTHS,
    DayCount,
    Frequency,
    RepaymentMethod,
    RoundingPolicy,
)

CODE_PATTERN = re.compile(r"[A-Z0-9_-]{2,32}")
MAX_NAME_LENGTH = 100
MAX_PURPOSE_LENGTH = 500
MIN_TERM_MONTHS = 1
AMOUNT_DECIMALS = 2
# Numeric(9, 6) holds the rate: six decimals are finer than any published rate (0.01 bp).
RATE_DECIMALS = 6
MAX_ANNUAL_RATE = Decimal(1)
# Plain decimal notation only: "1e5", "NaN", "Infinity", "1,000" and signs are refused.
_PLAIN_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?")

RATE_TYPES = ("fixed", "lpr_spread")
# 信用 unsecured, 保证 guaranteed, 抵押 mortgage, 质押 pledge, 联保 joint guarantee group.
GUARANTEE_TYPES = ("信用", "保证", "抵押", "质押", "联保")
COMPONENTS = ("penalty", "interest", "principal")
DEFAULT_ALLOCATION_ORDER = COMPONENTS
# Money columns hold fen: a product may round to yuan (0), jiao (1) or fen (2).
MAX_ROUNDING_SCALE = 2
ROUNDING_MODES = (
    "ROUND_HALF_EVEN",
    "ROUND_HALF_UP",
    "ROUND_HALF_DOWN",
    "ROUND_UP",
    "ROUND_DOWN",
    "ROUND_CEILING",
    "ROUND_FLOOR",
)
MAX_PENALTY_MARKUP = Decimal(1)
_SIGNED_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")


@dataclass(frozen=True)
class ProductTerms:
    """Validated terms of one product version."""

    code: str
    name: str
    purpose: str
    min_amount: Decimal
    max_amount: Decimal
    min_term_months: int
    max_term_months: int
    annual_rate: Decimal
    repayment_method: RepaymentMethod
    rate_type: str = "fixed"
    lpr: Decimal | None = None
    spread: Decimal | None = None
    day_count: DayCount = DayCount.ACT_360
    frequency: Frequency = Frequency.MONTHLY
    principal_grace_periods: int = 0
    interest_grace_periods: int = 0
    penalty_markup: Decimal = Decimal("0.5")
    guarantee_types: tuple[str, ...] = GUARANTEE_TYPES
    rounding_scale: int = 2
    rounding_mode: str = "ROUND_HALF_EVEN"
    allocation_order: tuple[str, ...] = DEFAULT_ALLOCATION_ORDER

    @property
    def rounding(self) -> RoundingPolicy:
        return RoundingPolicy(scale=self.rounding_scale, mode=self.rounding_mode)

    @property
    def penalty_rate(self) -> Decimal:
        """Annual penalty (default interest) rate: the contract rate plus the markup."""
        return (self.annual_rate * (1 + self.penalty_markup)).quantize(Decimal("0.000001"))


def _decimal(field: str, text: str) -> Decimal:
    cleaned = text.strip()
    if not cleaned:
        raise InvalidArgument.for_field(field, "is required")
    if not _PLAIN_DECIMAL.fullmatch(cleaned):
        raise InvalidArgument.for_field(field, "must be a decimal number such as 50000.00")
    try:
        return Decimal(cleaned)
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits only valid decimals
        raise InvalidArgument.for_field(field, "must be a decimal number such as 50000.00") from exc


def _decimals(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)  # finite by construction
    return max(0, -exponent)


def check_amount(field: str, text: str) -> Decimal:
    value = _decimal(field, text)
    if value <= 0:
        raise InvalidArgument.for_field(field, "must be greater than 0")
    if _decimals(value) > AMOUNT_DECIMALS:
        raise InvalidArgument.for_field(field, f"must have at most {AMOUNT_DECIMALS} decimals")
    if value > MAX_PRINCIPAL:
        raise InvalidArgument.for_field(field, f"must be at most {MAX_PRINCIPAL}")
    return value


def check_rate(text: str, field: str = "annual_rate") -> Decimal:
    value = _decimal(field, text)
    if value > MAX_ANNUAL_RATE:
        # 4.35 instead of 0.0435 is the typical mistake: rates are fractions, not percents.
        raise InvalidArgument.for_field(field, "must be a fraction between 0 and 1, e.g. 0.0435 for 4.35%")
    if _decimals(value) > RATE_DECIMALS:
        raise InvalidArgument.for_field(field, f"must have at most {RATE_DECIMALS} decimals")
    return value


def check_term(field: str, months: int) -> int:
    if not MIN_TERM_MONTHS <= months <= MAX_TERM_MONTHS:
        raise InvalidArgument.for_field(field, f"must be between {MIN_TERM_MONTHS} and {MAX_TERM_MONTHS} months")
    return months


def check_code(code: str) -> str:
    # Codes are identifiers people type: accept lower case, keep one canonical spelling.
    cleaned = code.strip().upper()
    if not cleaned:
        raise InvalidArgument.for_field("code", "is required")
    if not CODE_PATTERN.fullmatch(cleaned):
        raise InvalidArgument.for_field("code", "must be 2 to 32 characters of A-Z, 0-9, '_' or '-'")
    return cleaned


def check_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise InvalidArgument.for_field("name", "is required")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise InvalidArgument.for_field("name", f"must be at most {MAX_NAME_LENGTH} characters")
    return cleaned


def check_purpose(purpose: str) -> str:
    cleaned = purpose.strip()
    if len(cleaned) > MAX_PURPOSE_LENGTH:
        raise InvalidArgument.for_field("purpose", f"must be at most {MAX_PURPOSE_LENGTH} characters")
    return cleaned


def check_product(
    *,
    code: str,
    name: str,
    purpose: str,
    min_amount: str,
    max_amount: str,
    min_term_months: int,
    max_term_months: int,
    annual_rate: str,
    repayment_method: RepaymentMethod | None,
    rate_type: str = "fixed",
    lpr: str = "",
    spread: str = "",
    day_count: str = "",
    frequency: str = "",
    principal_grace_periods: int = 0,
    interest_grace_periods: int = 0,
    penalty_markup: str = "",
    guarantee_types: tuple[str, ...] | list[str] = (),
    rounding_scale: int | None = None,
    rounding_mode: str = "",
    allocation_order: tuple[str, ...] | list[str] = (),
) -> ProductTerms:
    """Validates a new product version's terms; the first broken rule is reported by field.

    Empty optional fields take the defaults: fixed rate, ACT/360, monthly, no grace, a 50 %
    penalty markup, every guarantee type, two decimals HALF_EVEN, penalty → interest → principal.
    """
    checked_code = check_code(code)
    checked_name = check_name(name)
    checked_purpose = check_purpose(purpose)
    low = check_amount("min_amount", min_amount)
    high = check_amount("max_amount", max_amount)
    if low > high:
        raise InvalidArgument.for_field("min_amount", f"must not exceed max_amount ({high})")
    shortest = check_term("min_term_months", min_term_months)
    longest = check_term("max_term_months", max_term_months)
    if shortest > longest:
        raise InvalidArgument.for_field("min_term_months", f"must not exceed max_term_months ({longest})")
    kind = (rate_type or "fixed").strip().lower()
    if kind not in RATE_TYPES:
        raise InvalidArgument.for_field("rate_type", "must be fixed or lpr_spread")
    checked_lpr: Decimal | None = None
    checked_spread: Decimal | None = None
    if kind == "fixed":
        rate = check_rate(annual_rate)
    else:
        checked_lpr = check_rate(lpr, "lpr")
        checked_spread = _signed_rate("spread", spread)
        rate = checked_lpr + checked_spread
        if not 0 <= rate <= MAX_ANNUAL_RATE:
            raise InvalidArgument.for_field("spread", "lpr + spread must be a rate between 0 and 1")
    if repayment_method is None:
        raise InvalidArgument.for_field(
            "repayment_method", "must be equal_installment, equal_principal, interest_first or bullet"
        )
    checked_day_count = _enum("day_count", DayCount, day_count or "ACT_360")
    checked_frequency = _enum("frequency", Frequency, frequency or "MONTHLY")
    if repayment_method is not RepaymentMethod.BULLET:
        step = checked_frequency.months
        if shortest % step or longest % step:
            raise InvalidArgument.for_field(
                "min_term_months" if shortest % step else "max_term_months",
                f"must be a multiple of {step} months for {checked_frequency.value} repayment",
            )
        grace = principal_grace_periods + interest_grace_periods
        if grace and grace >= shortest // step:
            raise InvalidArgument.for_field(
                "principal_grace_periods",
                f"principal and interest grace together must be less than the {shortest // step} periods "
                "of the shortest term",
            )
    elif principal_grace_periods or interest_grace_periods:
        raise InvalidArgument.for_field("principal_grace_periods", "must be 0 for bullet repayment")
    markup = check_rate(penalty_markup, "penalty_markup") if penalty_markup.strip() else Decimal("0.5")
    if markup > MAX_PENALTY_MARKUP:
        raise InvalidArgument.for_field("penalty_markup", f"must be at most {MAX_PENALTY_MARKUP} (100 %)")
    types = tuple(dict.fromkeys(t.strip() for t in guarantee_types if t.strip())) or GUARANTEE_TYPES
    for t in types:
        if t not in GUARANTEE_TYPES:
            raise InvalidArgument.for_field("guarantee_types", f"{t!r} is not one of {', '.join(GUARANTEE_TYPES)}")
    scale = 2 if rounding_scale is None else rounding_scale
    if not 0 <= scale <= MAX_ROUNDING_SCALE:
        raise InvalidArgument.for_field("rounding_scale", f"must be between 0 and {MAX_ROUNDING_SCALE}")
    mode = (rounding_mode or "ROUND_HALF_EVEN").strip().upper()
    if mode not in ROUNDING_MODES:
        raise InvalidArgument.for_field("rounding_mode", f"must be one of {', '.join(ROUNDING_MODES)}")
    order = tuple(c.strip().lower() for c in allocation_order if c.strip()) or DEFAULT_ALLOCATION_ORDER
    if sorted(order) != sorted(COMPONENTS):
        raise InvalidArgument.for_field(
            "allocation_order", "must name penalty, interest and principal, each exactly once"
        )
    return ProductTerms(
        code=checked_code,
        name=checked_name,
        purpose=checked_purpose,
        min_amount=low,
        max_amount=high,
        min_term_months=shortest,
        max_term_months=longest,
        annual_rate=rate,
        repayment_method=repayment_method,
        rate_type=kind,
        lpr=checked_lpr,
        spread=checked_spread,
        day_count=checked_day_count,
        frequency=checked_frequency,
        principal_grace_periods=principal_grace_periods,
        interest_grace_periods=interest_grace_periods,
        penalty_markup=markup,
        guarantee_types=types,
        rounding_scale=scale,
        rounding_mode=mode,
        allocation_order=order,
    )


def _signed_rate(field: str, text: str) -> Decimal:
    cleaned = text.strip()
    if not cleaned:
        return Decimal(0)
    if not _SIGNED_DECIMAL.fullmatch(cleaned):
        raise InvalidArgument.for_field(field, "must be a decimal fraction such as 0.0050 or -0.0010")
    value = Decimal(cleaned)
    if abs(value) > MAX_ANNUAL_RATE or _decimals(value) > RATE_DECIMALS:
        raise InvalidArgument.for_field(field, f"must be a fraction within ±1 with at most {RATE_DECIMALS} decimals")
    return value


def _enum(field: str, kind: type[DayCount] | type[Frequency], text: str):  # type: ignore[no-untyped-def]
    try:
        return kind[text.strip().upper()]
    except KeyError:
        raise InvalidArgument.for_field(field, f"must be one of {', '.join(m.name for m in kind)}") from None


def method_to_column(method: RepaymentMethod) -> str:
    """The stored spelling (``equal_installment``); the enum value is the schedule's own."""
    return method.name.lower()


def method_from_column(value: str) -> RepaymentMethod:
    return RepaymentMethod[value.upper()]
