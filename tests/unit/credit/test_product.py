"""Product terms validation: every rule names its field and its limit."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from services.common.errors import InvalidArgument
from services.credit.domain.product import check_product, method_from_column, method_to_column
from services.credit.domain.schedule import RepaymentMethod


def terms(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "code": "AGRI_LOAN",
        "name": "Agricultural loan",
        "purpose": "seeds and fertiliser",
        "min_amount": "1000.00",
        "max_amount": "50000",
        "min_term_months": 3,
        "max_term_months": 36,
        "annual_rate": "0.0435",
        "repayment_method": RepaymentMethod.EQUAL_INSTALLMENT,
    }
    base.update(overrides)
    return base


def violation(**overrides: Any) -> tuple[str, str]:
    with pytest.raises(InvalidArgument) as info:
        check_product(**terms(**overrides))
    [v] = info.value.violations
    return v.field, v.description


def test_valid_terms_are_normalised() -> None:
    product = check_product(**terms(code=" agri-loan_2 ", name="  Agricultural   loan "))
    assert product.code == "AGRI-LOAN_2"
    assert product.name == "Agricultural loan"
    assert product.min_amount == Decimal("1000.00")
    assert product.max_amount == Decimal("50000")
    assert product.annual_rate == Decimal("0.0435")
    assert product.repayment_method is RepaymentMethod.EQUAL_INSTALLMENT


@pytest.mark.parametrize(
    ("overrides", "field", "fragment"),
    [
        ({"code": ""}, "code", "required"),
        ({"code": "A"}, "code", "2 to 32"),
        ({"code": "A" * 33}, "code", "2 to 32"),
        ({"code": "AGRI LOAN"}, "code", "A-Z"),
        ({"code": "贷款"}, "code", "A-Z"),
        ({"name": "   "}, "name", "required"),
        ({"name": "x" * 101}, "name", "100"),
        ({"purpose": "x" * 501}, "purpose", "500"),
        ({"min_amount": ""}, "min_amount", "required"),
        ({"min_amount": "0"}, "min_amount", "greater than 0"),
        ({"min_amount": "-5"}, "min_amount", "decimal number"),
        ({"min_amount": "1e3"}, "min_amount", "decimal number"),
        ({"min_amount": "NaN"}, "min_amount", "decimal number"),
        ({"min_amount": "1,000"}, "min_amount", "decimal number"),
        ({"min_amount": "100.005"}, "min_amount", "at most 2 decimals"),
        ({"max_amount": "0.00"}, "max_amount", "greater than 0"),
        ({"max_amount": "10000000000000000"}, "max_amount", "at most"),
        ({"min_amount": "60000"}, "min_amount", "must not exceed max_amount (50000)"),
        ({"min_term_months": 0}, "min_term_months", "between 1 and 600"),
        ({"max_term_months": 601}, "max_term_months", "between 1 and 600"),
        ({"min_term_months": 48}, "min_term_months", "must not exceed max_term_months (36)"),
        ({"annual_rate": ""}, "annual_rate", "required"),
        ({"annual_rate": "4.35"}, "annual_rate", "between 0 and 1"),
        ({"annual_rate": "-0.01"}, "annual_rate", "decimal number"),
        ({"annual_rate": "0.0000001"}, "annual_rate", "at most 6 decimals"),
        ({"repayment_method": None}, "repayment_method", "equal_installment"),
    ],
)
def test_broken_rules_name_field_and_limit(overrides: dict[str, Any], field: str, fragment: str) -> None:
    got_field, description = violation(**overrides)
    assert got_field == field
    assert fragment in description


@pytest.mark.parametrize("rate", ["0", "1", "1.000000", "0.043500"])
def test_rate_bounds_are_inclusive(rate: str) -> None:
    assert check_product(**terms(annual_rate=rate)).annual_rate == Decimal(rate)


def test_equal_bounds_are_allowed() -> None:
    product = check_product(**terms(min_amount="5000", max_amount="5000.00", min_term_months=12, max_term_months=12))
    assert product.min_amount == product.max_amount
    assert product.min_term_months == product.max_term_months == 12


@pytest.mark.parametrize("method", list(RepaymentMethod))
def test_method_column_round_trip(method: RepaymentMethod) -> None:
    stored = method_to_column(method)
    assert stored == stored.lower()
    assert method_from_column(stored) is method
