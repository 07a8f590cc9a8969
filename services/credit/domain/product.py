"""Lending product rules: what a product's terms may be.

Products are versioned and immutable: changing a product means creating the next version of
the same code, so a contract always points at the exact terms it was signed under.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from services.common.errors import InvalidArgument
from services.credit.domain.schedule import MAX_PRINCIPAL, MAX_TERM_MONTHS, RepaymentMethod

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
) -> ProductTerms:
    """Validates a new product version's terms; the first broken rule is reported by field."""
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
    rate = check_rate(annual_rate)
    if repayment_method is None:
        raise InvalidArgument.for_field(
            "repayment_method", "must be equal_installment, equal_principal, interest_first or bullet"
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
    )


def method_to_column(method: RepaymentMethod) -> str:
    """The stored spelling (``equal_installment``); the enum value is the schedule's own."""
    return method.name.lower()


def method_from_column(value: str) -> RepaymentMethod:
    return RepaymentMethod[value.upper()]
