"""Identifier validation: resident IDs and other documents, USCC, mobiles, masking.

The check-digit arithmetic is cross-checked three ways: an independent implementation of
each standard written here from the standard's text, python-stdnum's ``calc_check_digit``,
and published real numbers.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest
from stdnum.cn import ric as stdnum_ric
from stdnum.cn import uscc as stdnum_uscc

from services.common.errors import InvalidArgument
from services.customer.domain.identity import (
    REGISTRATION_AUTHORITIES,
    IdDocumentType,
    InvalidIdentifier,
    SocialCreditCode,
    last_four,
    mask_id_number,
    mask_mobile,
    normalize_mobile,
    organization_code_check_digit,
    parse_resident_id,
    parse_uscc,
    uscc_check_character,
    validate_id_document,
)
from services.customer.domain.regions import PROVINCES, county_name, province_name

TODAY = date(2025, 6, 1)

# County codes in force for every birth year 1990-2010 in stdnum's historical table.
KNOWN_COUNTIES = (
    "110101", "110105", "110108", "120101", "130102", "150102", "210102", "220102", "230102",
    "310104", "320102", "330106", "340102", "350102", "350121", "350128", "360102", "360121",
    "370102", "410102", "420106", "430102", "430524", "440106", "440305", "450102", "510104",
    "510181", "520102", "530102", "532901", "540102", "610102", "620102", "620521", "630102",
    "650102", "652101",
)  # fmt: skip


# ---------------------------------------------------------------- independent oracles


def gb11643_check(body17: str) -> str:
    """GB 11643-1999 MOD 11-2, written from the standard: weights 2^(i-1) mod 11 for i=18..2."""
    weights = [pow(2, 17 - i, 11) for i in range(17)]
    assert weights[:4] == [7, 9, 10, 5]
    total = sum(int(d) * w for d, w in zip(body17, weights, strict=True))
    return "10X98765432"[total % 11]


USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def gb32100_check(body17: str) -> str:
    """GB 32100-2015: weights 3^(i-1) mod 31, check = 31 - (sum mod 31), 31 written 0."""
    total = sum(USCC_CHARS.index(c) * pow(3, i, 31) for i, c in enumerate(body17))
    return USCC_CHARS[(31 - total % 31) % 31]


def gb11714_check(body8: str) -> str:
    """GB 11714-1997: weights 3,7,9,10,5,8,4,2; letters A=10 ... Z=35."""
    values = [int(c) if c.isdigit() else ord(c) - ord("A") + 10 for c in body8]
    c9 = 11 - sum(v * w for v, w in zip(values, (3, 7, 9, 10, 5, 8, 4, 2), strict=True)) % 11
    return "X" if c9 == 10 else "0" if c9 == 11 else str(c9)


def make_id(county: str, born: str, seq: str) -> str:
    body = county + born + seq
    return body + gb11643_check(body)


def make_uscc(prefix: str, region: str, org_body: str) -> str:
    """A code with correct organisation-code and USCC check characters."""
    body = prefix + region + org_body + gb11714_check(org_body)
    return body + gb32100_check(body)


def full_width(ascii_text: str) -> str:
    """The same text typed with a Chinese input method in full-width mode (U+FF01..U+FF5E)."""
    return "".join(chr(ord(c) + 0xFEE0) for c in ascii_text)


def reason_of(exc_info: pytest.ExceptionInfo[InvalidIdentifier]) -> tuple[str, str]:
    return exc_info.value.field, exc_info.value.detail


# ---------------------------------------------------------------- resident ID


def test_check_digit_cross_checked_on_generated_numbers() -> None:
    rng = random.Random(20250601)
    start, span = date(1990, 1, 1), (date(2010, 12, 31) - date(1990, 1, 1)).days
    for _ in range(3000):
        county = rng.choice(KNOWN_COUNTIES)
        born = start + timedelta(days=rng.randrange(span + 1))
        seq = f"{rng.randrange(1000):03d}"
        body = county + born.strftime("%Y%m%d") + seq
        check = gb11643_check(body)
        # stdnum wants the full number and ignores the last character.
        assert stdnum_ric.calc_check_digit(body + "0") == check
        assert stdnum_ric.is_valid(body + check)

        parsed = parse_resident_id((body + check).lower(), today=TODAY)
        assert parsed.number == body + check
        assert parsed.birth_date == born
        assert parsed.gender == ("male" if int(seq[2]) % 2 else "female")
        assert parsed.province_code == county[:2]
        assert parsed.county_code == county
        assert parsed.warnings == ()

        wrong = rng.choice([c for c in "0123456789X" if c != check])
        with pytest.raises(InvalidIdentifier) as exc_info:
            parse_resident_id(body + wrong, today=TODAY)
        assert reason_of(exc_info) == ("id_number", f"check digit should be {check}")


def test_gb11643_examples_accepted() -> None:
    beijing = parse_resident_id("11010519491231002X", today=TODAY)
    assert beijing.number == "11010519491231002X"
    assert beijing.birth_date == date(1949, 12, 31)
    assert beijing.gender == "female"
    assert (beijing.province_code, beijing.county_code) == ("11", "110105")
    assert beijing.warnings == ()

    guangdong = parse_resident_id("440524188001010014", today=TODAY)
    assert guangdong.birth_date == date(1880, 1, 1)
    assert guangdong.gender == "male"
    assert guangdong.county_code == "440524"
    # 440524 (潮阳县) existed 1983-1993 only: a warning, not a rejection.
    assert guangdong.warnings == ("county code 440524 is not known for birth year 1880",)
    # The caveat this module works around: stdnum rejects the standard's own example.
    assert not stdnum_ric.is_valid("440524188001010014")


def test_lowercase_full_width_and_spaced_input_normalized() -> None:
    assert parse_resident_id("110105 19491231 002x", today=TODAY).number == "11010519491231002X"
    assert parse_resident_id(full_width("11010519491231002x"), today=TODAY).number == "11010519491231002X"


def test_wrong_check_digit_rejected_naming_field_and_reason() -> None:
    with pytest.raises(InvalidIdentifier) as exc_info:
        parse_resident_id("110105194912310021", today=TODAY)
    assert reason_of(exc_info) == ("id_number", "check digit should be X")
    assert str(exc_info.value) == "id_number: check digit should be X"
    assert exc_info.value.reason == "INVALID_IDENTIFIER"
    assert isinstance(exc_info.value, InvalidArgument)
    assert [(v.field, v.description) for v in exc_info.value.violations] == [("id_number", "check digit should be X")]
    # The number itself never appears in the message (personal data ends up in logs).
    assert "110105194912310021" not in str(exc_info.value)


def test_caller_names_the_field() -> None:
    with pytest.raises(InvalidIdentifier) as exc_info:
        parse_resident_id("110105194912310021", field="legal_representative.id_number", today=TODAY)
    assert exc_info.value.field == "legal_representative.id_number"
    assert str(exc_info.value).startswith("legal_representative.id_number: ")


def test_impossible_birth_date_rejected() -> None:
    number = make_id("110105", "19990230", "002")
    with pytest.raises(InvalidIdentifier) as exc_info:
        parse_resident_id(number, today=TODAY)
    assert reason_of(exc_info) == ("id_number", "birth date 19990230 is not a real date")

    with pytest.raises(InvalidIdentifier) as exc_info:
        parse_resident_id(make_id("110105", "19991301", "002"), today=TODAY)
    assert reason_of(exc_info) == ("id_number", "birth date 19991301 is not a real date")


def test_birth_date_in_future_or_before_1880_rejected() -> None:
    with pytest.raises(InvalidIdentifier) as exc_info:
        parse_resident_id(make_id("110105", "20250602", "001"), today=TODAY)
    assert reason_of(exc_info) == ("id_number", "birth date 2025-06-02 is in the future")
    assert parse_resident_id(make_id("110105", "20250601", "001"), today=TODAY).birth_date == TODAY

    with pytest.raises(InvalidIdentifier) as exc_info:
        parse_resident_id(make_id("110105", "18791231", "001"), today=TODAY)
    assert reason_of(exc_info) == ("id_number", "birth date 1879-12-31 is before 1880")


@pytest.mark.parametrize("province", ["00", "10", "16", "20", "39", "47", "55", "60", "66", "72", "84", "99"])
def test_unknown_province_rejected(province: str) -> None:
    with pytest.raises(InvalidIdentifier) as exc_info:
        parse_resident_id(make_id(province + "0105", "19800101", "001"), today=TODAY)
    assert reason_of(exc_info) == ("id_number", f"unknown province code {province}")


def test_province_table_is_the_official_list() -> None:
    expected = (
        [str(c) for c in range(11, 16)]
        + [str(c) for c in range(21, 24)]
        + [str(c) for c in range(31, 38)]
        + [str(c) for c in range(41, 47)]
        + [str(c) for c in range(50, 55)]
        + [str(c) for c in range(61, 66)]
        + ["71", "81", "82", "83"]
    )
    assert sorted(PROVINCES) == expected
    assert province_name("440524") == "广东省"
    assert province_name("45") == "广西壮族自治区"
    assert county_name("110105") == "朝阳区"
    assert county_name("110111", 1985) is None  # 房山区 from 1986
    assert county_name("110111", 1986) == "房山区"
    assert county_name("449999") is None  # province known, county not: stdnum would raise KeyError


def test_unknown_county_is_a_warning() -> None:
    number = make_id("449999", "19800101", "001")
    parsed = parse_resident_id(number, today=TODAY)
    assert parsed.number == number
    assert parsed.warnings == ("county code 449999 is not known for birth year 1980",)
    # A county that did not exist yet in the birth year is flagged the same way.
    early = parse_resident_id(make_id("110111", "19800101", "001"), today=TODAY)
    assert early.warnings == ("county code 110111 is not known for birth year 1980",)
    assert parse_resident_id(make_id("110111", "19900101", "001"), today=TODAY).warnings == ()


def test_legacy_15_digit_converted() -> None:
    parsed = parse_resident_id("110105491231002", today=TODAY)
    assert parsed.number == "11010519491231002X"
    assert parsed.birth_date == date(1949, 12, 31)
    assert parsed.gender == "female"
    assert parsed.warnings == ("legacy 15-digit number converted to 18 digits",)

    male = parse_resident_id("370102750615123", today=TODAY)
    assert male.number == make_id("370102", "19750615", "123")
    assert male.gender == "male"

    with pytest.raises(InvalidIdentifier) as exc_info:
        parse_resident_id("110105490230002", today=TODAY)
    assert reason_of(exc_info) == ("id_number", "birth date 19490230 is not a real date")


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        ("", "must be 18 characters (or 15 digits for a legacy number), got 0"),
        ("11010519491231002", "must be 18 characters (or 15 digits for a legacy number), got 17"),
        ("11010519491231002X1", "must be 18 characters (or 15 digits for a legacy number), got 19"),
        ("1101051949123100X2", "must be 17 digits followed by a digit or X"),
        ("11010519491231002Y", "must be 17 digits followed by a digit or X"),
        ("11010549123100X", "a 15-digit legacy number must contain digits only"),
    ],
)
def test_wrong_length_or_characters_rejected(value: str, detail: str) -> None:
    with pytest.raises(InvalidIdentifier) as exc_info:
        parse_resident_id(value, today=TODAY)
    assert reason_of(exc_info) == ("id_number", detail)


@pytest.mark.parametrize(("seq", "gender"), [("001", "male"), ("010", "female"), ("999", "male"), ("000", "female")])
def test_gender_from_17th_digit(seq: str, gender: str) -> None:
    assert parse_resident_id(make_id("310104", "20000229", seq), today=TODAY).gender == gender


# ---------------------------------------------------------------- other ID documents


def test_hmt_residence_permits() -> None:
    for prefix in ("81", "82", "83"):
        number = make_id(prefix + "0000", "19900101", "003")
        assert stdnum_ric.calc_check_digit(number) == number[-1]
        assert not stdnum_ric.is_valid(number)  # the caveat this module works around
        doc = validate_id_document(IdDocumentType.RESIDENCE_PERMIT_HMT, number, today=TODAY)
        assert doc.doc_type is IdDocumentType.RESIDENCE_PERMIT_HMT
        assert (doc.number, doc.birth_date, doc.gender, doc.warnings) == (
            number,
            date(1990, 1, 1),
            "male",
            (),
        )
        # Entered as a resident ID it is accepted, with a hint about the document type.
        as_rid = parse_resident_id(number, today=TODAY)
        assert as_rid.warnings == ("this is a Hong Kong/Macau/Taiwan residence permit number, not a resident ID",)

    odd_address = validate_id_document("RESIDENCE_PERMIT_HMT", make_id("820100", "19900101", "004"))
    assert odd_address.warnings == ("residence-permit address code 820100 is not 820000",)
    assert odd_address.gender == "female"

    # HK residents born before 1997 are fine (stdnum dates 81 from 1997).
    assert validate_id_document("RESIDENCE_PERMIT_HMT", make_id("810000", "19600101", "002")).warnings == ()

    with pytest.raises(InvalidIdentifier) as exc_info:
        validate_id_document(IdDocumentType.RESIDENCE_PERMIT_HMT, "11010519491231002X", today=TODAY)
    assert reason_of(exc_info) == (
        "id_number",
        "a Hong Kong/Macau/Taiwan residence permit starts with 81, 82 or 83",
    )

    bad = make_id("810000", "19900101", "003")[:-1] + "Y"
    with pytest.raises(InvalidIdentifier):
        validate_id_document(IdDocumentType.RESIDENCE_PERMIT_HMT, bad, today=TODAY)
    right = make_id("810000", "19900101", "003")
    wrong = right[:-1] + ("1" if right[-1] != "1" else "2")
    with pytest.raises(InvalidIdentifier) as exc_info:
        validate_id_document(IdDocumentType.RESIDENCE_PERMIT_HMT, wrong, today=TODAY)
    assert reason_of(exc_info) == ("id_number", f"check digit should be {right[-1]}")


def test_resident_id_is_the_default_document_path() -> None:
    doc = validate_id_document(IdDocumentType.RESIDENT_ID, "110105491231002", today=TODAY)
    assert doc.number == "11010519491231002X"
    assert doc.birth_date == date(1949, 12, 31)
    assert doc.gender == "female"
    assert doc.warnings == ("legacy 15-digit number converted to 18 digits",)


def test_foreign_permanent_resident_new_format() -> None:
    number = make_id("911840", "19850315", "007")  # issued in Beijing to a US national
    doc = validate_id_document(IdDocumentType.FOREIGN_PERMANENT_RESIDENT, number, today=TODAY)
    assert (doc.number, doc.birth_date, doc.gender, doc.warnings) == (number, date(1985, 3, 15), None, ())

    wrong = number[:-1] + ("0" if number[-1] != "0" else "1")
    with pytest.raises(InvalidIdentifier) as exc_info:
        validate_id_document(IdDocumentType.FOREIGN_PERMANENT_RESIDENT, wrong, today=TODAY)
    assert reason_of(exc_info) == ("id_number", f"check digit should be {number[-1]}")

    odd = validate_id_document(IdDocumentType.FOREIGN_PERMANENT_RESIDENT, make_id("999840", "19851315", "007"))
    assert odd.birth_date is None
    assert odd.warnings == ("issuing province code 99 is unknown", "birth date 19851315 is not a real date")


def test_foreign_permanent_resident_old_format() -> None:
    doc = validate_id_document(IdDocumentType.FOREIGN_PERMANENT_RESIDENT, "usa 110085031512")
    assert doc.number == "USA110085031512"
    assert doc.birth_date is None
    for bad in ("US1110085031512", "USA11008503151", "811840198503150070"):
        with pytest.raises(InvalidIdentifier) as exc_info:
            validate_id_document(IdDocumentType.FOREIGN_PERMANENT_RESIDENT, bad)
        assert reason_of(exc_info) == (
            "id_number",
            "must be 18 characters starting with 9, or 3 letters followed by 12 digits",
        )


def test_passport_format() -> None:
    assert validate_id_document(IdDocumentType.PASSPORT, " e1234 5678 ").number == "E12345678"
    assert validate_id_document("PASSPORT", "AB123").number == "AB123"
    for bad in ("AB12", "A" * 18, "E1234567#", "护照12345"):
        with pytest.raises(InvalidIdentifier) as exc_info:
            validate_id_document(IdDocumentType.PASSPORT, bad)
        assert reason_of(exc_info) == ("id_number", "a passport number must be 5 to 17 letters or digits")


def test_unknown_document_type_rejected() -> None:
    with pytest.raises(InvalidIdentifier) as exc_info:
        validate_id_document("DRIVING_LICENCE", "123456")
    assert reason_of(exc_info) == ("id_type", "unknown ID document type 'DRIVING_LICENCE'")


# ---------------------------------------------------------------- unified social credit code

# Published codes; both check characters verified against the standards' arithmetic.
REAL_USCC = (
    "91110000600037341L",
    "91350100M000100Y43",
    "91330100799655058B",
    "9144030071526726XG",
    "914403001922038216",
    "91440300708461136T",
    "12100000400000624D",
)


@pytest.mark.parametrize("code", REAL_USCC)
def test_real_uscc_accepted(code: str) -> None:
    parsed = parse_uscc(code)
    assert parsed == SocialCreditCode(
        code=code,
        registration_authority=code[0],
        org_type=code[1],
        region_code=code[2:8],
        organization_code=code[8:17],
        warnings=(),
    )
    assert gb32100_check(code[:17]) == code[17]
    assert gb11714_check(code[8:16]) == code[16]


def test_uscc_parts_and_names() -> None:
    parsed = parse_uscc("9144 0300 7152 6726 XG")
    assert parsed.code == "9144030071526726XG"
    assert parsed.registration_authority_name == "工商"
    assert parsed.org_type_name == "企业"
    assert parsed.region_code == "440300"
    assert parsed.organization_code == "71526726X"
    assert parse_uscc("12100000400000624D").org_type_name == "事业单位"


def test_check_characters_cross_checked_on_generated_codes() -> None:
    rng = random.Random(32100)
    org_chars = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    for _ in range(3000):
        authority = rng.choice(sorted(REGISTRATION_AUTHORITIES))
        org_type = rng.choice(sorted(REGISTRATION_AUTHORITIES[authority][1]))
        region = rng.choice(KNOWN_COUNTIES)
        org_body = "".join(rng.choice(org_chars) for _ in range(8))
        assert organization_code_check_digit(org_body) == gb11714_check(org_body)
        body = authority + org_type + region + org_body + gb11714_check(org_body)
        assert stdnum_uscc.calc_check_digit(body) == gb32100_check(body)
        assert uscc_check_character(body) == gb32100_check(body)
        code = body + gb32100_check(body)
        parsed = parse_uscc(code)
        assert (parsed.code, parsed.warnings) == (code, ())
        assert parsed.org_type_name == REGISTRATION_AUTHORITIES[authority][1][org_type]


@pytest.mark.parametrize(
    ("prefix", "authority", "org_type"),
    [
        ("N2", "农业", "村级集体经济组织"),
        ("N1", "农业", "组级集体经济组织"),
        ("N3", "农业", "乡镇级集体经济组织"),
        ("Y1", "其他", "其他"),
        ("A1", "中央军委改革和编制办公室", "军队事业单位"),
        ("51", "民政", "社会团体"),
        ("93", "工商", "农民专业合作社"),
        ("31", "司法行政", "律师执业机构"),
    ],
)
def test_uscc_of_village_collectives_and_other_authorities_accepted(prefix: str, authority: str, org_type: str) -> None:
    code = make_uscc(prefix, "350121", "MF0C3T4R")
    parsed = parse_uscc(code)
    assert parsed.code == code
    assert (parsed.registration_authority_name, parsed.org_type_name) == (authority, org_type)
    assert parsed.warnings == ()
    if prefix[0] in "NYA":
        assert not stdnum_uscc.is_valid(code)  # the caveat this module works around


def test_uscc_wrong_check_character_rejected() -> None:
    with pytest.raises(InvalidIdentifier) as exc_info:
        parse_uscc("91350100M000100Y44")
    assert reason_of(exc_info) == ("uscc", "check character should be 3")
    assert str(exc_info.value) == "uscc: check character should be 3"


def test_uscc_wrong_organisation_code_check_rejected() -> None:
    # Character 17 changed and the 18th recomputed: only the GB 11714 check catches it.
    body = "91350100M000100Y" + "5"
    code = body + gb32100_check(body)
    assert stdnum_uscc.is_valid(code)
    with pytest.raises(InvalidIdentifier) as exc_info:
        parse_uscc(code)
    assert reason_of(exc_info) == ("uscc", "organisation code check digit (character 17) should be 4")


@pytest.mark.parametrize("letter", ["I", "O", "S", "V", "Z"])
def test_uscc_excluded_letters_rejected(letter: str) -> None:
    with pytest.raises(InvalidIdentifier) as exc_info:
        parse_uscc("91350100M" + letter + "00100Y43")
    assert reason_of(exc_info) == (
        "uscc",
        f"contains {letter}: only digits and letters other than I, O, S, V, Z are used",
    )


def test_uscc_structure_errors() -> None:
    with pytest.raises(InvalidIdentifier) as exc_info:
        parse_uscc("91350100M000100Y4")
    assert reason_of(exc_info) == ("uscc", "must be 18 characters, got 17")

    letters_in_region = make_uscc("91", "35A100", "M000100Y")
    with pytest.raises(InvalidIdentifier) as exc_info:
        parse_uscc(letters_in_region)
    assert reason_of(exc_info) == ("uscc", "region code (characters 3-8) must be 6 digits")

    unknown_authority = make_uscc("B1", "350100", "M000100Y")
    with pytest.raises(InvalidIdentifier) as exc_info:
        parse_uscc(unknown_authority)
    assert reason_of(exc_info) == ("uscc", "unknown registration authority code B")


def test_uscc_unusual_parts_are_warnings() -> None:
    parsed = parse_uscc(make_uscc("94", "990100", "M000100Y"))
    assert parsed.org_type_name is None
    assert parsed.warnings == (
        "organisation type 4 is not listed for registration authority 9",
        "region code 990100 is not in a known province",
    )
    assert parse_uscc(make_uscc("11", "100000", "00001312")).warnings == ()  # central level


def test_uscc_field_name_can_be_chosen() -> None:
    with pytest.raises(InvalidIdentifier) as exc_info:
        parse_uscc("91350100M000100Y44", field="shareholders[0].uscc")
    assert exc_info.value.field == "shareholders[0].uscc"


# ---------------------------------------------------------------- mobile


@pytest.mark.parametrize(
    "value",
    [
        "13800138000",
        "+86 138 0013 8000",
        "8613800138000",
        "+8613800138000",
        "0086 138-0013-8000",
        "138 0013 8000",
        full_width("13800138000"),
    ],
)
def test_mobile_normalized_to_e164(value: str) -> None:
    assert normalize_mobile(value) == "+8613800138000"


def test_other_mobile_prefixes() -> None:
    assert normalize_mobile("19912345678") == "+8619912345678"
    assert normalize_mobile("15012345678") == "+8615012345678"


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        ("01012345678", "is not a mobile number"),
        ("+86 10 1234 5678", "is not a mobile number"),
        ("02167891234", "is not a mobile number"),
        ("1380013800", "is not a valid phone number"),
        ("138001380001", "is not a valid phone number"),
        ("12012345678", "is not a valid phone number"),
        ("+852 9123 4567", "numbers from region HK are not accepted"),
        ("not a number", "is not a phone number"),
        ("   ", "is empty"),
    ],
)
def test_mobile_rejected(value: str, detail: str) -> None:
    with pytest.raises(InvalidIdentifier) as exc_info:
        normalize_mobile(value)
    assert reason_of(exc_info) == ("mobile", detail)


def test_mobile_other_regions_when_allowed() -> None:
    assert normalize_mobile("+852 9123 4567", allowed_regions={"CN", "HK"}) == "+85291234567"


# ---------------------------------------------------------------- masking


def test_mask_id_number() -> None:
    assert mask_id_number("110105194912310021") == "110***********0021"
    assert mask_id_number("11010519491231002x") == "110***********002X"
    masked = mask_id_number("USA110085031512")
    assert masked == "USA********1512"
    assert len(masked) == len("USA110085031512")
    assert mask_id_number("E12345678") == "E12**5678"
    assert mask_id_number("AB123") == "***23"
    assert mask_id_number("123") == "***"


def test_mask_mobile() -> None:
    assert mask_mobile("+8613800138000") == "138****8000"
    assert mask_mobile("13912345678") == "139****5678"
    assert mask_mobile("+85291234567") == "912*4567"


def test_last_four() -> None:
    assert last_four("+8613800138000") == "8000"
    assert last_four("11010519491231002x") == "002X"
    assert last_four("E1234 5678") == "5678"
