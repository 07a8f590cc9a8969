"""Spreadsheet import of customers: reading .xlsx / .csv, recognising headers, checking rows.

Pure: bytes in, rows and their errors out. Which rows already exist, and what is written, is
the use case's business (service.import_parties).

* Headers are recognised by their Chinese (or English) names, plus a caller's mapping; the
  header row is the first row naming at least two known columns, so title rows above it
  (often merged across the sheet) are skipped.
* Merged cells take the value of their top-left cell in every row they span (a village name
  merged down ten rows belongs to all ten).
* Blank rows are skipped; rows are numbered as the spreadsheet shows them (1-based).
* Every error names the row, the column header as written in the file, and the reason.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from services.common.errors import FieldViolation, InvalidArgument
from services.customer.domain.party import (
    PartyIdentity,
    PartyKind,
    check_identity,
    check_mobile,
    check_name,
    check_region,
    check_stage,
    check_tags,
)

FIELDS = (
    "name",
    "id_number",
    "mobile",
    "address",
    "region_code",
    "occupation",
    "kind",
    "id_type",
    "legal_representative",
    "stage",
    "tags",
)

HEADER_ALIASES: Mapping[str, str] = {
    "姓名": "name",
    "客户姓名": "name",
    "客户名称": "name",
    "户主姓名": "name",
    "名称": "name",
    "name": "name",
    "身份证号": "id_number",
    "身份证号码": "id_number",
    "证件号码": "id_number",
    "证件号": "id_number",
    "统一社会信用代码": "id_number",
    "id_number": "id_number",
    "手机号": "mobile",
    "手机号码": "mobile",
    "手机": "mobile",
    "联系电话": "mobile",
    "mobile": "mobile",
    "地址": "address",
    "住址": "address",
    "家庭住址": "address",
    "联系地址": "address",
    "address": "address",
    "区划代码": "region_code",
    "行政区划代码": "region_code",
    "地区代码": "region_code",
    "region_code": "region_code",
    "职业": "occupation",
    "occupation": "occupation",
    "客户类型": "kind",
    "类型": "kind",
    "kind": "kind",
    "证件类型": "id_type",
    "id_type": "id_type",
    "法定代表人": "legal_representative",
    "法人代表": "legal_representative",
    "legal_representative": "legal_representative",
    "客户阶段": "stage",
    "stage": "stage",
    "标签": "tags",
    "tags": "tags",
}

_KIND_WORDS = {
    "": PartyKind.PERSON,
    "个人": PartyKind.PERSON,
    "自然人": PartyKind.PERSON,
    "person": PartyKind.PERSON,
    "企业": PartyKind.ENTERPRISE,
    "公司": PartyKind.ENTERPRISE,
    "enterprise": PartyKind.ENTERPRISE,
    "集体": PartyKind.COLLECTIVE,
    "村集体": PartyKind.COLLECTIVE,
    "集体经济组织": PartyKind.COLLECTIVE,
    "collective": PartyKind.COLLECTIVE,
}

_ID_TYPE_WORDS = {
    "": "",
    "居民身份证": "RESIDENT_ID",
    "身份证": "RESIDENT_ID",
    "港澳台居民居住证": "RESIDENCE_PERMIT_HMT",
    "外国人永久居留身份证": "FOREIGN_PERMANENT_RESIDENT",
    "护照": "PASSPORT",
    "统一社会信用代码": "USCC",
}

MAX_ROWS = 50_000


class UnreadableFile(InvalidArgument):
    reason = "IMPORT_FILE_UNREADABLE"

    def __init__(self, description: str) -> None:
        super().__init__(f"file: {description}", [FieldViolation("file", description)])


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    reason: str


@dataclass
class ImportRow:
    """One checked spreadsheet row: the values it gives, or its errors."""

    row: int
    errors: list[RowError] = field(default_factory=list)
    kind: PartyKind = PartyKind.PERSON
    name: str = ""
    identity: PartyIdentity | None = None
    mobile_e164: str = ""
    mobile_masked: str = ""
    address: str = ""
    region_code: str = ""
    occupation: str = ""
    legal_representative: str = ""
    stage: str = "prospect"
    tags: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.errors


def _cell_text(value: Any) -> str:
    """Spreadsheet cell to text. Integral numbers lose their ``.0``; long numbers that Excel
    already rounded cannot be recovered and are marked so the row reports it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        if abs(value) >= 1e15:
            return "\x00rounded"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value).strip()


def _xlsx_rows(content: bytes) -> Iterator[tuple[int, list[str]]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(content), data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise UnreadableFile("is not a readable .xlsx workbook") from exc
    sheet = workbook.worksheets[0]
    values: dict[tuple[int, int], Any] = {}
    for merged in list(sheet.merged_cells.ranges):
        top_left = sheet.cell(merged.min_row, merged.min_col).value
        for r in range(merged.min_row, merged.max_row + 1):
            for c in range(merged.min_col, merged.max_col + 1):
                values[(r, c)] = top_left
    for r, row in enumerate(sheet.iter_rows(values_only=True), start=1):
        if all(_cell_text(v) == "" for v in row):
            # Blank as typed: a merge reaching down into it does not make it a record.
            yield r, []
            continue
        yield r, [_cell_text(values.get((r, c), v)) for c, v in enumerate(row, start=1)]


def _csv_rows(content: bytes) -> Iterator[tuple[int, list[str]]]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = content.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise UnreadableFile("is neither UTF-8 nor GB18030 text")
    for r, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        yield r, [c.strip() for c in row]


def read_table(file_name: str, content: bytes) -> Iterator[tuple[int, list[str]]]:
    lower = file_name.lower()
    if lower.endswith(".xlsx") or lower.endswith(".xlsm"):
        return _xlsx_rows(content)
    if lower.endswith(".csv"):
        return _csv_rows(content)
    raise UnreadableFile("must be an .xlsx workbook or a .csv file")


def _normalise_header(text: str) -> str:
    return re.sub(r"[\s*：:（）()]", "", text).lower()


def _map_headers(cells: list[str], mapping: Mapping[str, str]) -> dict[int, tuple[str, str]]:
    """Column index -> (field, header as written) for recognised headers."""
    aliases = {_normalise_header(k): v for k, v in HEADER_ALIASES.items()}
    aliases.update({_normalise_header(k): v for k, v in mapping.items()})
    found: dict[int, tuple[str, str]] = {}
    for index, text in enumerate(cells):
        target = aliases.get(_normalise_header(text))
        if target and target not in {f for f, _ in found.values()}:
            found[index] = (target, text)
    return found


def parse_rows(file_name: str, content: bytes, mapping: Mapping[str, str] | None = None) -> list[ImportRow]:
    """Reads the first sheet and checks every data row; raises only when the file is unusable."""
    mapping = dict(mapping or {})
    unknown = sorted(set(mapping.values()) - set(FIELDS))
    if unknown:
        raise InvalidArgument.for_field("column_mapping", f"unknown target fields: {', '.join(unknown)}")
    columns: dict[int, tuple[str, str]] | None = None
    parsed: list[ImportRow] = []
    for number, cells in read_table(file_name, content):
        if not any(cells):
            continue  # blank row
        if columns is None:
            candidate = _map_headers(cells, mapping)
            if len(candidate) >= 2:
                columns = candidate
            continue  # title rows before the header
        if len(parsed) >= MAX_ROWS:
            raise UnreadableFile(f"has more than {MAX_ROWS} rows; split it")
        values = {f: (cells[i] if i < len(cells) else "", header) for i, (f, header) in columns.items()}
        parsed.append(check_row(number, values))
    if columns is None:
        raise UnreadableFile("no header row found (expected columns such as 姓名, 身份证号, 手机号)")
    missing = {"name", "id_number"} - {f for f, _ in columns.values()}
    if missing:
        raise UnreadableFile(f"required columns missing: {', '.join(sorted(missing))} (e.g. 姓名, 身份证号)")
    _flag_repeated_ids(parsed, next(h for f, h in columns.values() if f == "id_number"))
    return parsed


def check_row(number: int, values: Mapping[str, tuple[str, str]]) -> ImportRow:
    row = ImportRow(row=number)

    def value(name: str) -> str:
        return values.get(name, ("", name))[0]

    def header(name: str) -> str:
        return values.get(name, ("", name))[1]

    def attempt(name: str, check):  # type: ignore[no-untyped-def]
        try:
            return check()
        except InvalidArgument as exc:
            reason = exc.violations[0].description if exc.violations else exc.message
            column = (
                header(exc.violations[0].field)
                if exc.violations and exc.violations[0].field in values
                else header(name)
            )
            row.errors.append(RowError(number, column, reason))
            return None

    kind = _KIND_WORDS.get(value("kind").strip().lower(), None)
    if kind is None:
        row.errors.append(RowError(number, header("kind"), "must be 个人, 企业 or 集体"))
        kind = PartyKind.PERSON
    row.kind = kind
    id_type = _ID_TYPE_WORDS.get(value("id_type").strip(), value("id_type").strip().upper())
    row.name = attempt("name", lambda: check_name(value("name"))) or ""
    if value("id_number") == "\x00rounded":
        row.errors.append(
            RowError(number, header("id_number"), "was stored as a number and lost digits; format the column as text")
        )
    else:
        row.identity = attempt(
            "id_number", lambda: check_identity(kind, value("id_number"), id_type=id_type, field="id_number")
        )
    mobile = attempt("mobile", lambda: check_mobile(value("mobile")))
    if mobile is not None:
        row.mobile_e164, row.mobile_masked = mobile.e164, mobile.masked
    row.region_code = attempt("region_code", lambda: check_region(value("region_code"))) or ""
    stage = attempt("stage", lambda: check_stage(value("stage")))
    row.stage = stage.value if stage is not None else "prospect"
    row.address = value("address")[:200]
    row.occupation = value("occupation")[:100]
    row.legal_representative = value("legal_representative")[:100]
    if kind is not PartyKind.PERSON and not row.legal_representative:
        row.errors.append(
            RowError(number, header("legal_representative"), "is required for an enterprise or collective")
        )
    row.tags = check_tags(re.split(r"[,，、;；]", value("tags"))) if value("tags") else []
    return row


def _flag_repeated_ids(rows: list[ImportRow], id_header: str) -> None:
    first_seen: dict[str, int] = {}
    for row in rows:
        if row.identity is None:
            continue
        earlier = first_seen.setdefault(row.identity.number, row.row)
        if earlier != row.row:
            row.errors.append(RowError(row.row, id_header, f"same ID number as row {earlier}"))
