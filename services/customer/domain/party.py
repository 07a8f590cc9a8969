"""Party registration rules: which identifier each kind of party carries and how it is kept."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from services.common.errors import InvalidArgument
from services.customer.domain.identity import (
    mask_id_number,
    mask_mobile,
    normalize_mobile,
    parse_resident_id,
    parse_uscc,
)


class PartyKind(StrEnum):
    PERSON = "person"
    ENTERPRISE = "enterprise"
    COLLECTIVE = "collective"


@dataclass(frozen=True)
class PartyIdentity:
    """A validated identifier and what it tells about the party."""

    number: str
    masked: str
    birth_date: date | None
    gender: str
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class Mobile:
    e164: str
    masked: str


def check_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise InvalidArgument.for_field("name", "is required")
    if len(cleaned) > 100:
        raise InvalidArgument.for_field("name", "must be at most 100 characters")
    return cleaned


def check_identity(kind: PartyKind, id_number: str) -> PartyIdentity:
    """People carry a resident ID (GB 11643); enterprises and collectives a USCC (GB 32100)."""
    if not id_number.strip():
        raise InvalidArgument.for_field("id_number", "is required")
    if kind is PartyKind.PERSON:
        resident = parse_resident_id(id_number, field="id_number")
        return PartyIdentity(
            number=resident.number,
            masked=mask_id_number(resident.number),
            birth_date=resident.birth_date,
            gender=resident.gender,
            warnings=resident.warnings,
        )
    code = parse_uscc(id_number, field="id_number")
    return PartyIdentity(number=code.code, masked=mask_id_number(code.code), birth_date=None, gender="", warnings=())


def check_mobile(mobile: str) -> Mobile | None:
    if not mobile.strip():
        return None
    e164 = normalize_mobile(mobile, field="mobile")
    return Mobile(e164=e164, masked=mask_mobile(e164))
