"""The application status machine and validation against the product version."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from services.common.errors import FailedPrecondition, InvalidArgument
from services.credit.domain.application import ACTIONS, STATUSES, IllegalTransition, check_application, next_status
from services.credit.domain.product import check_product
from services.credit.domain.schedule import RepaymentMethod

LEGAL = {
    ("draft", "submit"): "submitted",
    ("returned", "submit"): "submitted",
    ("submitted", "start_review"): "in_review",
    ("in_review", "approve"): "approved",
    ("in_review", "reject"): "rejected",
    ("in_review", "return"): "returned",
    ("draft", "withdraw"): "withdrawn",
    ("submitted", "withdraw"): "withdrawn",
    ("in_review", "withdraw"): "withdrawn",
    ("returned", "withdraw"): "withdrawn",
    ("approved", "withdraw"): "withdrawn",
    ("approved", "contract"): "contracted",
    ("contracted", "disburse"): "disbursed",
}
ILLEGAL = [(s, a) for s in STATUSES for a in ACTIONS if (s, a) not in LEGAL]


@pytest.mark.parametrize(("status", "action"), list(LEGAL))
def test_legal_transitions(status: str, action: str) -> None:
    assert next_status(status, action) == LEGAL[(status, action)]


@pytest.mark.parametrize(("status", "action"), ILLEGAL)
def test_every_illegal_transition_is_refused_with_a_clear_message(status: str, action: str) -> None:
    with pytest.raises(IllegalTransition) as caught:
        next_status(status, action)
    assert isinstance(caught.value, FailedPrecondition)
    message = caught.value.message
    assert f"that is {status}" in message
    assert "allowed only from" in message
    assert caught.value.reason == "ILLEGAL_TRANSITION"


def test_terminal_statuses_allow_nothing() -> None:
    for status in ("rejected", "withdrawn", "disbursed"):
        assert all((status, a) not in LEGAL for a in ACTIONS)


def test_unknown_action_names_the_field() -> None:
    with pytest.raises(InvalidArgument) as caught:
        next_status("draft", "teleport")
    assert caught.value.violations[0].field == "action"


def product(**overrides: Any):  # type: ignore[no-untyped-def]
    values: dict[str, Any] = {
        "code": "NH-PLANT",
        "name": "种植贷",
        "purpose": "种植",
        "min_amount": "5000",
        "max_amount": "300000",
        "min_term_months": 6,
        "max_term_months": 36,
        "annual_rate": "0.0435",
        "repayment_method": RepaymentMethod.EQUAL_INSTALLMENT,
        "guarantee_types": ["信用", "保证", "抵押", "联保"],
        "frequency": "MONTHLY",
    }
    values.update(overrides)
    return check_product(**values)


def application(terms: Any = None, **overrides: Any):  # type: ignore[no-untyped-def]
    values: dict[str, Any] = {
        "party_id": "p1",
        "amount": "50000",
        "term_months": 12,
        "guarantee_method": "信用",
        "guarantor_ids": [],
        "collateral": [],
        "purpose": "买化肥",
    }
    values.update(overrides)
    return check_application(terms or product(), **values)


def test_a_valid_application() -> None:
    checked = application(guarantee_method="保证", guarantor_ids=["g1", "g1", " "])
    assert checked.amount == Decimal("50000")
    assert checked.guarantor_ids == ("g1",)


@pytest.mark.parametrize(
    ("overrides", "field", "fragment"),
    [
        ({"party_id": " "}, "party_id", "is required"),
        ({"amount": "4999.99"}, "amount", "at least 5000"),
        ({"amount": "300000.01"}, "amount", "at most 300000"),
        ({"amount": "-1"}, "amount", "decimal number"),
        ({"amount": "1.001"}, "amount", "at most 2 decimals"),
        ({"amount": "abc"}, "amount", "decimal number"),
        ({"term_months": 5}, "term_months", "at least 6 months"),
        ({"term_months": 37}, "term_months", "at most 36 months"),
        ({"guarantee_method": "质押"}, "guarantee_method", "信用, 保证, 抵押, 联保"),
        ({"guarantee_method": "保证"}, "guarantor_ids", "at least 1 guarantor"),
        ({"guarantee_method": "联保", "guarantor_ids": ["g1"]}, "guarantor_ids", "at least 2 guarantor"),
        ({"guarantee_method": "保证", "guarantor_ids": ["p1"]}, "guarantor_ids", "own loan"),
        ({"guarantee_method": "抵押"}, "collateral", "at least 1 collateral"),
        ({"purpose": "x" * 501}, "purpose", "at most 500"),
    ],
)
def test_every_product_limit_violation_names_field_and_limit(
    overrides: dict[str, Any], field: str, fragment: str
) -> None:
    with pytest.raises(InvalidArgument) as caught:
        application(**overrides)
    [violation] = caught.value.violations
    assert violation.field == field
    assert fragment in violation.description


def test_term_must_fit_the_frequency() -> None:
    quarterly = product(frequency="QUARTERLY", min_term_months=6, max_term_months=36)
    with pytest.raises(InvalidArgument) as caught:
        application(quarterly, term_months=7)
    assert caught.value.violations[0].field == "term_months"
    assert "multiple of 3" in caught.value.violations[0].description


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"rate_type": "floating"}, "rate_type"),
        ({"rate_type": "lpr_spread", "lpr": ""}, "lpr"),
        ({"rate_type": "lpr_spread", "lpr": "0.0345", "spread": "abc"}, "spread"),
        ({"day_count": "ACT_999"}, "day_count"),
        ({"frequency": "WEEKLY"}, "frequency"),
        ({"penalty_markup": "1.5"}, "penalty_markup"),
        ({"guarantee_types": ["担保公司"]}, "guarantee_types"),
        ({"rounding_scale": 3}, "rounding_scale"),
        ({"rounding_mode": "ROUND_RANDOM"}, "rounding_mode"),
        ({"allocation_order": ["interest", "principal"]}, "allocation_order"),
        ({"principal_grace_periods": 6}, "principal_grace_periods"),
        ({"frequency": "QUARTERLY", "min_term_months": 7}, "min_term_months"),
    ],
)
def test_product_rule_fields_are_validated(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        product(**overrides)
    assert caught.value.violations[0].field == field


def test_lpr_plus_spread_gives_the_contract_rate_and_penalty_markup() -> None:
    terms = product(rate_type="lpr_spread", lpr="0.0345", spread="0.0100", penalty_markup="0.5")
    assert terms.annual_rate == Decimal("0.0445")
    assert terms.penalty_rate == Decimal("0.066750")
    assert terms.allocation_order == ("penalty", "interest", "principal")
    assert terms.rounding.mode == "ROUND_HALF_EVEN"
