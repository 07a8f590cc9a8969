"""Party registration rules: which identifier each kind of party carries and how it is kept."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from services.common.errors import InvalidArgument
from services.customer.domain.identity import (
    IdDocumentType,
    mask_id_number,
    mask_mobile,
    normalize_mobile,
    parse_uscc,
    validate_id_document,
)
from services.customer.domain.regions import region_code_problem

USCC = "USCC"


class PartyKind(StrEnum):
    PERSON = "person"
    ENTERPRISE = "enterprise"
    COLLECTIVE = "collective"


class Stage(StrEnum):
    """Lifecycle of a customer; the order is the funnel's."""

    LEAD = "lead"
    PROSPECT = "prospect"
    APPLICANT = "applicant"
    BORROWER = "borrower"
    REPEAT_BORROWER = "repeat_borrower"


STAGE_ORDER: tuple[Stage, ...] = tuple(Stage)

KEY_FIELDS = ("name", "id_number", "legal_representative", "mobile")
"""Fields whose change must be approved (requested, then applied)."""


@dataclass(frozen=True)
class PartyIdentity:
    """A validated identifier and what it tells about the party."""

    id_type: str
    number: str
    masked: str
    birth_date: date | None
    gender: str
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class Mobile:
    e164: str
    masked: str


def check_name(name: str, field: str = "name") -> str:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise InvalidArgument.for_field(field, "is required")
    if len(cleaned) > 100:
        raise InvalidArgument.for_field(field, "must be at most 100 characters")
    return cleaned


def check_identity(kind: PartyKind, id_number: str, id_type: str = "", field: str = "id_number") -> PartyIdentity:
    """People carry an ID document (resident ID by default); enterprises and collectives a USCC."""
    if not id_number.strip():
        raise InvalidArgument.for_field(field, "is required")
    if kind is PartyKind.PERSON:
        doc_type = id_type or IdDocumentType.RESIDENT_ID.value
        if doc_type == USCC:
            raise InvalidArgument.for_field("id_type", "a person carries a personal ID document, not a USCC")
        doc = validate_id_document(doc_type, id_number, field=field)
        return PartyIdentity(
            id_type=doc.doc_type.value,
            number=doc.number,
            masked=mask_id_number(doc.number),
            birth_date=doc.birth_date,
            gender=doc.gender or "",
            warnings=doc.warnings,
        )
    if id_type and id_type != USCC:
        raise InvalidArgument.for_field("id_type", "an enterprise or collective carries a USCC")
    code = parse_uscc(id_number, field=field)
    return PartyIdentity(
        id_type=USCC,
        number=code.code,
        masked=mask_id_number(code.code),
        birth_date=None,
        gender="",
        warnings=code.warnings,
    )


def check_mobile(mobile: str, field: str = "mobile") -> Mobile | None:
    if not mobile.strip():
        return None
    e164 = normalize_mobile(mobile, field=field)
    return Mobile(e164=e164, masked=mask_mobile(e164))


def check_region(code: str, field: str = "region_code") -> str:
    code = code.strip()
    if not code:
        return ""
    problem = region_code_problem(code)
    if problem:
        raise InvalidArgument.for_field(field, problem)
    return code


def check_stage(stage: str, field: str = "stage") -> Stage:
    try:
        return Stage(stage or Stage.PROSPECT.value)
    except ValueError:
        raise InvalidArgument.for_field(field, f"must be one of {', '.join(STAGE_ORDER)}") from None


def check_stage_change(current: str, target: Stage) -> None:
    """Forward moves only, except an applicant may fall back to prospect (rejected application)."""
    here = STAGE_ORDER.index(Stage(current))
    there = STAGE_ORDER.index(target)
    if there > here or (Stage(current) is Stage.APPLICANT and target is Stage.PROSPECT):
        return
    raise InvalidArgument.for_field("stage", f"cannot move from {current} to {target.value}")


class CreditMilestone(StrEnum):
    APPLICATION_SUBMITTED = "application_submitted"
    LOAN_DISBURSED = "loan_disbursed"


def stage_after_credit_event(current: str, milestone: CreditMilestone, *, other_loans: int = 0) -> Stage | None:
    """The stage a credit milestone moves a customer to; None when it stays.

    A submitted application makes an applicant; a disbursed loan a borrower, or a repeat
    borrower when the customer had a loan before (``other_loans`` known loans besides this one,
    or already a borrower). Events may arrive late, twice or out of order:
    a milestone never moves a customer backwards (a borrower's next application leaves him a
    borrower).
    """
    try:
        here = STAGE_ORDER.index(Stage(current))
    except ValueError:
        here = -1
    if milestone is CreditMilestone.APPLICATION_SUBMITTED:
        target = Stage.APPLICANT
    else:
        had_loan_before = other_loans > 0 or here >= STAGE_ORDER.index(Stage.BORROWER)
        target = Stage.REPEAT_BORROWER if had_loan_before else Stage.BORROWER
    return target if STAGE_ORDER.index(target) > here else None


def check_tags(tags: list[str]) -> list[str]:
    cleaned = sorted({t.strip() for t in tags if t.strip()})
    for tag in cleaned:
        if len(tag) > 50:
            raise InvalidArgument.for_field("tags", "a tag has at most 50 characters")
    return cleaned


def mask_name(name: str) -> str:
    """张三丰 -> 张**: names in change history and events are personal data too."""
    return name[:1] + "*" * (len(name) - 1) if name else ""


def mask_key_value(field: str, value: str) -> str:
    if not value:
        return ""
    if field == "id_number":
        return mask_id_number(value)
    if field == "mobile":
        return mask_mobile(value)
    return mask_name(value)
