"""Identifier validation for parties: ID documents, unified social credit codes, mobiles.

Why this module exists: customer records arrive from spreadsheets and officers' typing, and a
wrong ID number or social credit code silently breaks de-duplication, credit-bureau queries and
contracts. Every rule here is one of two kinds:

* an **error** (:class:`InvalidIdentifier`) when the value cannot be a real identifier: wrong
  length or characters, a failed check digit, an impossible birth date, an unknown province;
* a **warning** (a sentence in ``warnings``) when the value is probably real but unusual: a
  county code missing from the historical table, a converted legacy number. Warnings are shown
  to the officer and never block the record, because rejecting a genuine borrower is worse
  than reviewing an odd one.

python-stdnum provides the check-digit arithmetic (``calc_check_digit``) but not the
acceptance rules: ``stdnum.cn.ric.validate`` rejects valid IDs whose county is not in its
table (the GB 11643 example ``440524188001010014``, residence permits 81/82/83) and
``stdnum.cn.uscc.validate`` rejects codes beginning N, Y or A (village collectives are
borrowers here). Error messages never contain the value itself: they end up in logs and API
responses, and ID numbers are personal data.

Pure functions: standard library, python-stdnum and phonenumbers only; no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum
from types import MappingProxyType
from typing import Literal

import phonenumbers
from stdnum.cn import ric as _ric
from stdnum.cn import uscc as _uscc

from services.common.errors import FieldViolation, InvalidArgument
from services.customer.domain.regions import (
    HMT_PERMIT_PROVINCES,
    NATIONAL_REGION_CODE,
    PROVINCES,
    county_name,
    is_known_province,
)

Gender = Literal["male", "female"]

EARLIEST_BIRTH_YEAR = 1880
"""Birth dates before this year are rejected: GB 11643's own oldest example is 1880."""


class InvalidIdentifier(InvalidArgument):
    """An identifier that cannot be real; maps to gRPC INVALID_ARGUMENT with one field violation.

    ``field`` names the offending input (``id_number``, ``uscc``, ``mobile`` or whatever the
    caller passed), ``detail`` is the human-readable reason (``"check digit should be 5"``).
    As for every :class:`~services.common.errors.DomainError`, ``reason`` is the stable
    machine code (``INVALID_IDENTIFIER``), not the sentence.
    """

    reason = "INVALID_IDENTIFIER"

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}", [FieldViolation(field, reason)])
        self.field = field
        self.detail = reason


def _normalize(value: str) -> str:
    """NFKC (full-width digits and letters from Chinese input methods), drop spaces and
    hyphens, uppercase (a lowercase ``x`` check digit is common in spreadsheets)."""
    value = unicodedata.normalize("NFKC", value)
    return re.sub(r"[\s\-]", "", value).upper()


# --------------------------------------------------------------------------- resident ID


@dataclass(frozen=True)
class ResidentId:
    """A parsed citizen identity number (公民身份号码, GB 11643-1999), always 18 characters."""

    number: str
    birth_date: date
    gender: Gender
    province_code: str
    county_code: str
    warnings: tuple[str, ...] = ()


_ID18 = re.compile(r"\d{17}[\dX]")
_ID15 = re.compile(r"\d{15}")


def _check_digit(number: str) -> str:
    """GB 11643 MOD 11-2 check character of the first 17 digits (stdnum wants 18 characters)."""
    return _ric.calc_check_digit(number[:17] + "0")


def _birth_date(digits: str, field: str, today: date) -> date:
    """Parse YYYYMMDD and reject impossible, pre-1880 and future dates."""
    try:
        born = date(int(digits[0:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        raise InvalidIdentifier(field, f"birth date {digits} is not a real date") from None
    if born.year < EARLIEST_BIRTH_YEAR:
        raise InvalidIdentifier(field, f"birth date {born.isoformat()} is before {EARLIEST_BIRTH_YEAR}")
    if born > today:
        raise InvalidIdentifier(field, f"birth date {born.isoformat()} is in the future")
    return born


def _parse_gb11643(value: str, *, field: str, today: date | None, allow_legacy: bool) -> ResidentId:
    """Shared parser for resident IDs and HMT residence permits (same structure and check)."""
    today = today or date.today()
    number = _normalize(value)
    warnings: list[str] = []
    if len(number) == 15 and allow_legacy:
        if not _ID15.fullmatch(number):
            raise InvalidIdentifier(field, "a 15-digit legacy number must contain digits only")
        # First-generation IDs (issued until 2004) carry YYMMDD, always 19xx, and no check digit.
        body = number[:6] + "19" + number[6:]
        number = body + _check_digit(body)
        warnings.append("legacy 15-digit number converted to 18 digits")
    elif len(number) != 18:
        expected = "18 characters (or 15 digits for a legacy number)" if allow_legacy else "18 characters"
        raise InvalidIdentifier(field, f"must be {expected}, got {len(number)}")
    elif not _ID18.fullmatch(number):
        raise InvalidIdentifier(field, "must be 17 digits followed by a digit or X")
    else:
        expected_check = _check_digit(number)
        if number[17] != expected_check:
            raise InvalidIdentifier(field, f"check digit should be {expected_check}")

    province = number[:2]
    county = number[:6]
    born = _birth_date(number[6:14], field, today)
    if province not in PROVINCES:
        raise InvalidIdentifier(field, f"unknown province code {province}")
    if province in HMT_PERMIT_PROVINCES:
        # Permits use one address code per territory; stdnum's table has no 83 and dates 81/82
        # from the handovers, so it would wrongly flag permit holders born before 1997/1999.
        if county != province + "0000":
            warnings.append(f"residence-permit address code {county} is not {province}0000")
    elif county_name(county, born.year) is None:
        warnings.append(f"county code {county} is not known for birth year {born.year}")
    gender: Gender = "male" if int(number[16]) % 2 == 1 else "female"
    return ResidentId(
        number=number,
        birth_date=born,
        gender=gender,
        province_code=province,
        county_code=county,
        warnings=tuple(warnings),
    )


def parse_resident_id(value: str, *, field: str = "id_number", today: date | None = None) -> ResidentId:
    """Validate a resident ID number and derive birth date, gender and region.

    Errors (:class:`InvalidIdentifier`): wrong length or characters, wrong check digit,
    impossible birth date, birth date before 1880 or after ``today``, unknown province.
    Warnings: county code not in force in the birth year (IDs keep the code of a county that
    may since have been renamed or merged, and the table is incomplete), legacy 15-digit
    number converted, a Hong Kong/Macau/Taiwan residence-permit number given as a resident ID.

    ``today`` defaults to the current date; tests pass a fixed one.
    """
    parsed = _parse_gb11643(value, field=field, today=today, allow_legacy=True)
    if parsed.province_code in HMT_PERMIT_PROVINCES:
        note = "this is a Hong Kong/Macau/Taiwan residence permit number, not a resident ID"
        parsed = replace(parsed, warnings=(*parsed.warnings, note))
    return parsed


# --------------------------------------------------------------------------- other documents


class IdDocumentType(StrEnum):
    """Kinds of personal ID documents a borrower may present."""

    RESIDENT_ID = "RESIDENT_ID"  # 居民身份证
    RESIDENCE_PERMIT_HMT = "RESIDENCE_PERMIT_HMT"  # 港澳台居民居住证
    FOREIGN_PERMANENT_RESIDENT = "FOREIGN_PERMANENT_RESIDENT"  # 外国人永久居留身份证
    PASSPORT = "PASSPORT"


@dataclass(frozen=True)
class IdDocument:
    """A validated ID document number with what could be derived from it."""

    doc_type: IdDocumentType
    number: str
    birth_date: date | None = None
    gender: Gender | None = None
    warnings: tuple[str, ...] = ()


_FOREIGN_OLD = re.compile(r"[A-Z]{3}\d{12}")
_FOREIGN_NEW = re.compile(r"9\d{16}[\dX]")
_PASSPORT = re.compile(r"[A-Z0-9]{5,17}")


def _foreign_permanent_resident(value: str, field: str, today: date | None) -> IdDocument:
    """外国人永久居留身份证.

    Since December 2023: 18 characters, first digit 9, GB 11643 MOD 11-2 check digit; digits
    2-3 are the issuing province, 4-6 the nationality, 7-14 the birth date. The earlier 15-
    character format (3 letters for the nationality + 12 digits) is still in circulation and
    is accepted by format only. Gender is not derived: the sequence rule is not published.
    """
    doc_type = IdDocumentType.FOREIGN_PERMANENT_RESIDENT
    number = _normalize(value)
    if _FOREIGN_OLD.fullmatch(number):
        return IdDocument(doc_type, number)
    if len(number) != 18 or not _FOREIGN_NEW.fullmatch(number):
        raise InvalidIdentifier(field, "must be 18 characters starting with 9, or 3 letters followed by 12 digits")
    expected_check = _check_digit(number)
    if number[17] != expected_check:
        raise InvalidIdentifier(field, f"check digit should be {expected_check}")
    warnings: list[str] = []
    if not is_known_province(number[1:3]):
        warnings.append(f"issuing province code {number[1:3]} is unknown")
    born: date | None
    try:
        born = _birth_date(number[6:14], field, today or date.today())
    except InvalidIdentifier as exc:
        # The layout is newer than our test data; don't reject on it, let the officer look.
        born = None
        warnings.append(exc.detail)
    return IdDocument(doc_type, number, birth_date=born, warnings=tuple(warnings))


def validate_id_document(
    doc_type: IdDocumentType | str,
    value: str,
    *,
    field: str = "id_number",
    today: date | None = None,
) -> IdDocument:
    """Validate an ID document number of the given type and normalize it.

    * RESIDENT_ID: :func:`parse_resident_id` (legacy 15-digit numbers converted).
    * RESIDENCE_PERMIT_HMT: 18 characters starting 81/82/83, GB 11643 check digit and
      birth date; birth date and gender derived.
    * FOREIGN_PERMANENT_RESIDENT: new 18-character format with check digit (birth date
      derived), or the old 3 letters + 12 digits format.
    * PASSPORT: 5 to 17 letters and digits, uppercased; passports of every country differ,
      so nothing more can be checked offline.
    """
    try:
        kind = IdDocumentType(doc_type)
    except ValueError:
        raise InvalidIdentifier("id_type", f"unknown ID document type {doc_type!r}") from None
    if kind is IdDocumentType.RESIDENT_ID:
        rid = parse_resident_id(value, field=field, today=today)
        return IdDocument(kind, rid.number, rid.birth_date, rid.gender, rid.warnings)
    if kind is IdDocumentType.RESIDENCE_PERMIT_HMT:
        number = _normalize(value)
        if number[:2] not in HMT_PERMIT_PROVINCES:
            raise InvalidIdentifier(field, "a Hong Kong/Macau/Taiwan residence permit starts with 81, 82 or 83")
        rid = _parse_gb11643(number, field=field, today=today, allow_legacy=False)
        return IdDocument(kind, rid.number, rid.birth_date, rid.gender, rid.warnings)
    if kind is IdDocumentType.FOREIGN_PERMANENT_RESIDENT:
        return _foreign_permanent_resident(value, field, today)
    number = _normalize(value)
    if not _PASSPORT.fullmatch(number):
        raise InvalidIdentifier(field, "a passport number must be 5 to 17 letters or digits")
    return IdDocument(kind, number)


# --------------------------------------------------------------------------- social credit code


REGISTRATION_AUTHORITIES: Mapping[str, tuple[str, Mapping[str, str]]] = MappingProxyType(
    {
        "1": (
            "机构编制",
            {"1": "机关", "2": "事业单位", "3": "中央编办直接管理机构编制的群众团体", "9": "其他"},
        ),
        "2": ("外交", {"1": "外国常驻新闻机构", "9": "其他"}),
        "3": (
            "司法行政",
            {
                "1": "律师执业机构",
                "2": "公证处",
                "3": "基层法律服务所",
                "4": "司法鉴定机构",
                "5": "仲裁委员会",
                "9": "其他",
            },
        ),
        "4": ("文化", {"1": "外国在华文化中心", "9": "其他"}),
        "5": ("民政", {"1": "社会团体", "2": "民办非企业单位", "3": "基金会", "9": "其他"}),
        "6": (
            "旅游",
            {"1": "外国旅游部门常驻代表机构", "2": "港澳台地区旅游部门常驻内地（大陆）代表机构", "9": "其他"},
        ),
        "7": ("宗教", {"1": "宗教活动场所", "2": "宗教院校", "9": "其他"}),
        "8": ("工会", {"1": "基层工会", "9": "其他"}),
        "9": ("工商", {"1": "企业", "2": "个体工商户", "3": "农民专业合作社"}),
        "A": ("中央军委改革和编制办公室", {"1": "军队事业单位", "9": "其他"}),
        "N": (
            "农业",
            {"1": "组级集体经济组织", "2": "村级集体经济组织", "3": "乡镇级集体经济组织", "9": "其他"},
        ),
        "Y": ("其他", {"1": "其他"}),
    }
)
"""GB 32100 registration-authority codes (登记管理部门代码) and their organisation types."""

_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # GB 32100 leaves out I, O, S, V, Z
_ORG_CODE_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


@dataclass(frozen=True)
class SocialCreditCode:
    """A parsed unified social credit code (统一社会信用代码, GB 32100-2015)."""

    code: str
    registration_authority: str
    org_type: str
    region_code: str
    organization_code: str
    warnings: tuple[str, ...] = ()

    @property
    def registration_authority_name(self) -> str | None:
        entry = REGISTRATION_AUTHORITIES.get(self.registration_authority)
        return entry[0] if entry else None

    @property
    def org_type_name(self) -> str | None:
        entry = REGISTRATION_AUTHORITIES.get(self.registration_authority)
        return entry[1].get(self.org_type) if entry else None


def organization_code_check_digit(body: str) -> str:
    """GB 11714 check character of an 8-character organisation code body.

    Digits count as their value, letters A-Z as 10-35; weights 3,7,9,10,5,8,4,2;
    ``11 - sum mod 11`` with 10 written ``X`` and 11 written ``0``. python-stdnum has no
    Chinese organisation-code module, so it is implemented here.
    """
    if len(body) != 8 or not body.isalnum() or not body.isascii():
        raise ValueError("an organisation code body is 8 letters or digits")
    total = sum(int(c, 36) * w for c, w in zip(body.upper(), _ORG_CODE_WEIGHTS, strict=True))
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def uscc_check_character(code: str) -> str:
    """GB 32100 check character of the first 17 characters (python-stdnum's arithmetic)."""
    return _uscc.calc_check_digit(code[:17])


def parse_uscc(value: str, *, field: str = "uscc") -> SocialCreditCode:
    """Validate a unified social credit code and split it into its parts.

    Errors: not 18 characters; a character outside the GB 32100 set (I, O, S, V, Z are never
    used); a region code that is not 6 digits; a wrong check character (18th); a wrong GB 11714
    organisation-code check (17th character, over characters 9-17); an unassigned
    registration-authority code. Warnings: an organisation type not listed for its authority,
    an unknown province in the region code (authorities add types more often than we update).
    Codes of village collectives (N), the military (A) and others (Y) are accepted.
    """
    code = _normalize(value)
    if len(code) != 18:
        raise InvalidIdentifier(field, f"must be 18 characters, got {len(code)}")
    bad = sorted({c for c in code if c not in _USCC_ALPHABET})
    if bad:
        raise InvalidIdentifier(
            field, f"contains {', '.join(bad)}: only digits and letters other than I, O, S, V, Z are used"
        )
    region = code[2:8]
    if not region.isdigit():
        raise InvalidIdentifier(field, "region code (characters 3-8) must be 6 digits")
    expected = uscc_check_character(code)
    if code[17] != expected:
        raise InvalidIdentifier(field, f"check character should be {expected}")
    org_code = code[8:17]
    expected = organization_code_check_digit(org_code[:8])
    if org_code[8] != expected:
        raise InvalidIdentifier(field, f"organisation code check digit (character 17) should be {expected}")
    authority, org_type = code[0], code[1]
    entry = REGISTRATION_AUTHORITIES.get(authority)
    if entry is None:
        raise InvalidIdentifier(field, f"unknown registration authority code {authority}")
    warnings: list[str] = []
    if org_type not in entry[1]:
        warnings.append(f"organisation type {org_type} is not listed for registration authority {authority}")
    if region != NATIONAL_REGION_CODE and not is_known_province(region):
        warnings.append(f"region code {region} is not in a known province")
    return SocialCreditCode(
        code=code,
        registration_authority=authority,
        org_type=org_type,
        region_code=region,
        organization_code=org_code,
        warnings=tuple(warnings),
    )


# --------------------------------------------------------------------------- mobile


_MOBILE_TYPES = frozenset({phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE})


def normalize_mobile(
    value: str,
    *,
    field: str = "mobile",
    default_region: str = "CN",
    allowed_regions: Collection[str] = ("CN",),
) -> str:
    """Return a mobile number in E.164 (``+8613800138000``).

    Accepts national (``13800138000``), international (``+86 138 0013 8000``, ``0086...``)
    and country-code-without-plus (``8613800138000``) forms. Rejects numbers that are not
    valid, not mobiles (landlines cannot receive the SMS codes and notices we send) or not
    from ``allowed_regions`` (mainland China by default: the SMS gateway is domestic).
    E.164 is the stored form so that the keyed hash used for look-up is stable.
    """
    text = unicodedata.normalize("NFKC", value).strip()
    if not text:
        raise InvalidIdentifier(field, "is empty")
    try:
        parsed = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        raise InvalidIdentifier(field, "is not a phone number") from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidIdentifier(field, "is not a valid phone number")
    region = phonenumbers.region_code_for_number(parsed)
    if region not in allowed_regions:
        raise InvalidIdentifier(field, f"numbers from region {region} are not accepted")
    if phonenumbers.number_type(parsed) not in _MOBILE_TYPES:
        raise InvalidIdentifier(field, "is not a mobile number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


# --------------------------------------------------------------------------- masking


def mask_id_number(value: str) -> str:
    """Mask an ID number for display: first 3 and last 4 characters kept, same length.

    ``110105194912310021`` -> ``110***********0021``. The first three digits (province and
    city) help an officer recognise a customer without revealing the birth date. Values of
    7 characters or fewer keep only their last ``len - 3`` characters (never all of them).
    """
    number = _normalize(value)
    if len(number) <= 3:
        return "*" * len(number)
    if len(number) <= 7:
        keep = len(number) - 3
        return "*" * (len(number) - keep) + number[-keep:]
    return number[:3] + "*" * (len(number) - 7) + number[-4:]


def mask_mobile(value: str) -> str:
    """Mask a phone number for display in its national form: ``+8613800138000`` -> ``138****8000``.

    The national significant number is used (no ``+86``), first 3 and last 4 digits kept.
    A value phonenumbers cannot parse is masked as its digits.
    """
    try:
        national = str(phonenumbers.parse(value, "CN").national_number)
    except phonenumbers.NumberParseException:
        national = re.sub(r"\D", "", value)
    if len(national) <= 7:
        return "*" * max(len(national) - 4, 0) + national[-4:]
    return national[:3] + "*" * (len(national) - 7) + national[-4:]


def last_four(value: str) -> str:
    """The last four characters of a normalized identifier, stored in clear for display and
    for an officer to confirm a number over the phone while the full value stays encrypted."""
    return _normalize(value)[-4:]
