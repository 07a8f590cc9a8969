"""Chinese administrative region codes needed to validate identifiers (GB/T 2260).

Two levels live here:

* the 2-digit province-level codes, kept as a literal table because they are the part of a
  resident ID number whose error we *reject* (an unknown province means a mistyped or invented
  number), so the table must be complete and must not depend on a third-party data file
  changing under us;
* the 6-digit county-level codes, looked up in python-stdnum's historical table
  (``stdnum/cn/loc.dat``, derived from GB/T 2260 and its yearly revisions). Counties are merged,
  renamed and split every year and an ID keeps the code of the county that issued it, so a
  county unknown to that table is only a *warning* for the officer, never a rejection.

Pure functions: no I/O other than stdnum reading its bundled data once.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from stdnum import numdb

PROVINCES: Mapping[str, str] = MappingProxyType(
    {
        "11": "北京市",
        "12": "天津市",
        "13": "河北省",
        "14": "山西省",
        "15": "内蒙古自治区",
        "21": "辽宁省",
        "22": "吉林省",
        "23": "黑龙江省",
        "31": "上海市",
        "32": "江苏省",
        "33": "浙江省",
        "34": "安徽省",
        "35": "福建省",
        "36": "江西省",
        "37": "山东省",
        "41": "河南省",
        "42": "湖北省",
        "43": "湖南省",
        "44": "广东省",
        "45": "广西壮族自治区",
        "46": "海南省",
        "50": "重庆市",
        "51": "四川省",
        "52": "贵州省",
        "53": "云南省",
        "54": "西藏自治区",
        "61": "陕西省",
        "62": "甘肃省",
        "63": "青海省",
        "64": "宁夏回族自治区",
        "65": "新疆维吾尔自治区",
        "71": "台湾省",
        "81": "香港特别行政区",
        "82": "澳门特别行政区",
        # Not a GB/T 2260 province: the prefix of residence permits for Taiwan residents
        # (港澳台居民居住证 use 810000 / 820000 / 830000 as their address code).
        "83": "台湾地区",
    }
)
"""Province-level codes that may start a resident ID or residence-permit number."""

HMT_PERMIT_PROVINCES: frozenset[str] = frozenset({"81", "82", "83"})
"""Prefixes of residence permits for Hong Kong, Macau and Taiwan residents (港澳台居民居住证)."""

NATIONAL_REGION_CODE = "100000"
"""Region code of the central level (中华人民共和国); used by nationally registered organisations."""


def province_name(code: str) -> str | None:
    """Return the Chinese name of a 2-digit province code, or ``None`` when it is not one.

    Accepts a longer region code and looks at its first two digits, so callers can pass a
    6- or 12-digit code directly.
    """
    return PROVINCES.get(code[:2])


def is_known_province(code: str) -> bool:
    """True when the first two digits of ``code`` are a province-level code in :data:`PROVINCES`."""
    return province_name(code) is not None


def county_name(county_code: str, year: int | None = None) -> str | None:
    """Return the name of a 6-digit county-level code, or ``None`` when it is unknown.

    With ``year`` the code must have been in force that year (for a resident ID: the birth
    year, which is what python-stdnum's own check uses). Only codes below a province are
    looked up: ``440000`` (the province itself) answers with the province's name.

    We do not call ``stdnum.cn.ric.get_birth_place``: it raises ``KeyError`` instead of a
    validation error when the province is known but the county is not, and it insists on a
    full ID number.
    """
    if len(county_code) != 6 or not county_code.isdigit():
        return None
    info: dict[str, str] = {}
    for _part, props in numdb.get("cn/loc").info(county_code):
        info.update(props)
    if "county" not in info:
        return None
    # Entries look like "[1983-1993]潮阳县" or "[1983-1986]郊区,[1987-]白云区" or "东城区".
    for entry in info["county"].split(","):
        if not entry.startswith("["):
            return entry
        span, name = entry[1:].split("]", 1)
        start, end = span.split("-", 1)
        if year is None:
            return name
        if start and year < int(start):
            continue
        if end and year > int(end):
            continue
        return name
    return None


# --------------------------------------------------------------------------- statistical codes

_LEVEL_DIGITS = (2, 4, 6, 9, 12)
"""Significant digits of a 12-digit statistical code per level: province, city, county,
township, village (统计用区划代码)."""


def region_level(code: str) -> int:
    """1 (province) .. 5 (village) for a 12-digit code: the shortest prefix followed by zeros."""
    for level, digits in enumerate(_LEVEL_DIGITS, start=1):
        if set(code[digits:]) <= {"0"}:
            return level
    return 5


def subtree_prefix(code: str) -> str:
    """The prefix every code inside ``code``'s subtree starts with (``330726000000`` -> ``330726``)."""
    return code[: _LEVEL_DIGITS[region_level(code) - 1]]


def is_within(code: str, ancestor: str) -> bool:
    return bool(code) and code.startswith(subtree_prefix(ancestor))


def region_code_problem(code: str) -> str | None:
    """Why ``code`` cannot be a 12-digit statistical region code, or None when it can."""
    if len(code) != 12 or not code.isdigit():
        return "must be a 12-digit statistical region code"
    if not is_known_province(code):
        return f"province code {code[:2]} is unknown"
    return None


def self_and_ancestors(code: str) -> list[str]:
    """``code`` then its enclosing divisions up to the province, derived from the code itself."""
    level = region_level(code)
    return [code[:digits].ljust(12, "0") for digits in reversed(_LEVEL_DIGITS[:level])]
