"""Spreadsheet parsing, tier rules and region round-robin, without I/O."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from stdnum.cn import ric

from services.common.errors import InvalidArgument
from services.customer.domain.importing import parse_rows
from services.customer.domain.regions import is_within, region_level, subtree_prefix
from services.customer.domain.segmentation import (
    Candidate,
    TierInputs,
    TierRules,
    choose_account_manager,
    compute_tiers,
)


def _id(seq: str) -> str:
    body = "33072619720315" + seq
    return body + ric.calc_check_digit(body + "0")


def test_csv_with_title_rows_blank_rows_and_errors_named_by_row_and_header() -> None:
    text = "\n".join(
        [
            "某村农户名单,,",
            "姓名,身份证号,手机号",
            f"王建国,{_id('101')},13805710001",
            ",,",
            f"李秀英,{_id('101')},13805710002",
            f",{_id('203')[:-1]}0,1380",
        ]
    )
    rows = parse_rows("a.csv", text.encode("utf-8-sig"))
    assert [r.row for r in rows] == [3, 5, 6]
    assert rows[0].valid and rows[0].mobile_e164 == "+8613805710001"
    assert [(e.column, e.reason) for e in rows[1].errors] == [("身份证号", "same ID number as row 3")]
    assert {e.column for e in rows[2].errors} == {"姓名", "手机号"} | ({"身份证号"} if _id("203")[-1] != "0" else set())


def test_gb18030_csv_and_a_custom_mapping() -> None:
    text = f"户主,证件\n张卫东,{_id('313')}\n"
    rows = parse_rows("b.csv", text.encode("gb18030"), {"户主": "name", "证件": "id_number"})
    assert rows[0].valid and rows[0].name == "张卫东"


def test_unusable_files_are_refused_as_a_whole() -> None:
    with pytest.raises(InvalidArgument) as no_header:
        parse_rows("c.csv", b"a,b\n1,2\n")
    assert no_header.value.violations[0].field == "file"
    with pytest.raises(InvalidArgument):
        parse_rows("d.txt", b"x")
    with pytest.raises(InvalidArgument):
        parse_rows("e.xlsx", b"not a workbook")


def test_region_hierarchy() -> None:
    assert [
        region_level(c) for c in ("330000000000", "330700000000", "330726000000", "330726101000", "330726101201")
    ] == [
        1,
        2,
        3,
        4,
        5,
    ]
    assert subtree_prefix("330726000000") == "330726"
    assert is_within("330726101201", "330726101000") and not is_within("330726102201", "330726101000")


def test_tiers_follow_configurable_rules() -> None:
    now = datetime(2026, 11, 1, tzinfo=UTC)
    inputs = TierInputs(net_worth=Decimal("600000"), last_interaction_at=now, credit_summary={"overdue_count": "1"})
    assert compute_tiers(TierRules(), inputs, date(2026, 11, 25)) == {"value": "vip", "activity": "active", "risk": "B"}
    strict = TierRules.from_json(
        '{"value": [["vip", 1000000], ["mass", -1]], "activity": [["active", 7], ["dormant", 100000]]}'
    )
    assert compute_tiers(strict, inputs, date(2026, 11, 25))["value"] == "mass"
    assert compute_tiers(strict, inputs, date(2026, 11, 25))["activity"] == "dormant"


def test_round_robin_prefers_the_most_specific_region_and_the_longest_waiting() -> None:
    t1, t2 = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    village = Candidate("v", "B1", ["330726101201"], t2)
    town_a = Candidate("a", "B1", ["330726101000"], t2)
    town_b = Candidate("b", "B1", ["330726101000"], t1)
    assert choose_account_manager("330726101201", [town_a, town_b, village]) is village
    assert choose_account_manager("330726101202", [town_a, town_b, village]) is town_b
    assert choose_account_manager("330726104201", [town_a, town_b]) is None
    assert choose_account_manager("", [town_a]) is None
