"""Loan applications: the status machine and validation against the product version.

Status machine (anything else is refused with the allowed source statuses named)::

    draft ─submit─▶ submitted ─start_review─▶ in_review ─approve─▶ approved
    in_review ─reject─▶ rejected;  in_review ─return─▶ returned ─submit─▶ submitted
    approved ─(contract signed)─▶ contracted ─(disburse)─▶ disbursed
    draft | submitted | in_review | returned | approved ─withdraw─▶ withdrawn

``contracted`` and ``disbursed`` are reached only through contract signing and disbursement,
never through the generic transition command.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from services.common.errors import FailedPrecondition, InvalidArgument
from services.credit.domain.product import ProductTerms, check_amount
from services.credit.domain.schedule import RepaymentMethod

STATUSES = (
    "draft",
    "submitted",
    "in_review",
    "approved",
    "rejected",
    "returned",
    "withdrawn",
    "contracted",
    "disbursed",
)
TERMINAL = frozenset({"rejected", "withdrawn", "disbursed"})

# action -> (allowed from, to)
ACTIONS: dict[str, tuple[frozenset[str], str]] = {
    "submit": (frozenset({"draft", "returned"}), "submitted"),
    "start_review": (frozenset({"submitted"}), "in_review"),
    "approve": (frozenset({"in_review"}), "approved"),
    "reject": (frozenset({"in_review"}), "rejected"),
    "return": (frozenset({"in_review"}), "returned"),
    "withdraw": (frozenset({"draft", "submitted", "in_review", "returned", "approved"}), "withdrawn"),
    "contract": (frozenset({"approved"}), "contracted"),
    "disburse": (frozenset({"contracted"}), "disbursed"),
}
# Actions the generic transition command accepts; the others belong to their own use cases.
PUBLIC_ACTIONS = ("submit", "start_review", "approve", "reject", "return", "withdraw")
# The event each status change publishes (credit.application.<verb>).
EVENT_FOR_STATUS = {
    "submitted": "credit.application.submitted",
    "approved": "credit.application.approved",
    "rejected": "credit.application.rejected",
    "returned": "credit.application.returned",
    "withdrawn": "credit.application.withdrawn",
    "contracted": "credit.application.contracted",
}
OPINION_DECISIONS = ("approve", "reject", "return", "comment")


class IllegalTransition(FailedPrecondition):
    reason = "ILLEGAL_TRANSITION"


def next_status(current: str, action: str) -> str:
    """The status after ``action``; IllegalTransition names what is allowed instead."""
    if action not in ACTIONS:
        raise InvalidArgument.for_field("action", f"must be one of {', '.join(PUBLIC_ACTIONS)}")
    allowed, target = ACTIONS[action]
    if current not in allowed:
        raise IllegalTransition(
            f"cannot {action.replace('_', ' ')} an application that is {current}: "
            f"allowed only from {', '.join(sorted(allowed))}",
            metadata={"status": current, "action": action},
        )
    return target


@dataclass(frozen=True)
class ApplicationTerms:
    amount: Decimal
    term_months: int
    guarantee_method: str
    guarantor_ids: tuple[str, ...]
    collateral: tuple[str, ...]
    purpose: str


# Guarantee methods needing guarantors / collateral, and how many.
MIN_GUARANTORS = {"保证": 1, "联保": 2}
NEEDS_COLLATERAL = frozenset({"抵押", "质押"})
MAX_PURPOSE_LENGTH = 500


def check_application(
    product: ProductTerms,
    *,
    party_id: str,
    amount: str,
    term_months: int,
    guarantee_method: str,
    guarantor_ids: list[str] | tuple[str, ...],
    collateral: list[str] | tuple[str, ...],
    purpose: str,
) -> ApplicationTerms:
    """Checks an application against its product version; errors name the field and the limit."""
    if not party_id.strip():
        raise InvalidArgument.for_field("party_id", "is required")
    value = check_amount("amount", amount)
    if value < product.min_amount:
        raise InvalidArgument.for_field("amount", f"must be at least {product.min_amount} for product {product.code}")
    if value > product.max_amount:
        raise InvalidArgument.for_field("amount", f"must be at most {product.max_amount} for product {product.code}")
    if term_months < product.min_term_months:
        raise InvalidArgument.for_field(
            "term_months", f"must be at least {product.min_term_months} months for product {product.code}"
        )
    if term_months > product.max_term_months:
        raise InvalidArgument.for_field(
            "term_months", f"must be at most {product.max_term_months} months for product {product.code}"
        )
    if product.repayment_method is not RepaymentMethod.BULLET and term_months % product.frequency.months:
        raise InvalidArgument.for_field(
            "term_months", f"must be a multiple of {product.frequency.months} months for this product"
        )
    method = guarantee_method.strip()
    if method not in product.guarantee_types:
        raise InvalidArgument.for_field(
            "guarantee_method", f"must be one of {', '.join(product.guarantee_types)} for product {product.code}"
        )
    guarantors = tuple(dict.fromkeys(g.strip() for g in guarantor_ids if g.strip()))
    needed = MIN_GUARANTORS.get(method, 0)
    if len(guarantors) < needed:
        raise InvalidArgument.for_field("guarantor_ids", f"{method} needs at least {needed} guarantor(s)")
    if party_id.strip() in guarantors:
        raise InvalidArgument.for_field("guarantor_ids", "the borrower cannot guarantee their own loan")
    items = tuple(c.strip() for c in collateral if c.strip())
    if method in NEEDS_COLLATERAL and not items:
        raise InvalidArgument.for_field("collateral", f"{method} needs at least 1 collateral item")
    cleaned_purpose = purpose.strip()
    if len(cleaned_purpose) > MAX_PURPOSE_LENGTH:
        raise InvalidArgument.for_field("purpose", f"must be at most {MAX_PURPOSE_LENGTH} characters")
    return ApplicationTerms(value, term_months, method, guarantors, items, cleaned_purpose)
