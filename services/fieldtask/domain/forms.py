"""Forms per task type: versioned JSON Schemas, validation naming each field, content hashes.

A task keeps the form version it was created with, so changing a form (a new version here)
never invalidates work already under way. The hash of a form's content is taken over its
canonical JSON (sorted keys, no insignificant whitespace, UTF-8), so any change to what was
signed, however small, changes the hash.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator

from services.common.errors import FieldViolation, InvalidArgument
from services.fieldtask.domain.evidence import EvidenceKind
from services.fieldtask.domain.task import TaskType

MAX_FORM_BYTES = 256 * 1024

_MONEY = {"type": "string", "pattern": r"^\d{1,15}(\.\d{1,2})?$", "description": "yuan, as a decimal string"}
_DATE = {"type": "string", "pattern": r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$"}
_TEXT = {"type": "string", "maxLength": 2000}


def _obj(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


_SCHEMAS: dict[tuple[TaskType, int], dict[str, Any]] = {
    (TaskType.PRE_LOAN_SURVEY, 1): _obj(
        {
            "family": _obj(
                {
                    "members": {"type": "integer", "minimum": 1, "maximum": 50},
                    "labourers": {"type": "integer", "minimum": 0, "maximum": 50},
                    "dependants": {"type": "integer", "minimum": 0, "maximum": 50},
                    "notes": _TEXT,
                },
                ["members", "labourers"],
            ),
            "operations": _obj(
                {
                    "business": {"type": "string", "minLength": 1, "maxLength": 200},
                    "years": {"type": "number", "minimum": 0, "maximum": 100},
                    "scale": _TEXT,
                },
                ["business", "years"],
            ),
            "income": _obj(
                {"annual_income": _MONEY, "annual_expenses": _MONEY, "other_debts": _MONEY},
                ["annual_income", "annual_expenses"],
            ),
            "assets_verified": _obj(
                {
                    "verified": {"type": "boolean"},
                    "items": {
                        "type": "array",
                        "maxItems": 50,
                        "items": _obj(
                            {"kind": {"type": "string", "minLength": 1}, "description": _TEXT, "value": _MONEY},
                            ["kind", "value"],
                        ),
                    },
                },
                ["verified"],
            ),
            "remarks": _TEXT,
        },
        ["family", "operations", "income", "assets_verified"],
    ),
    (TaskType.POST_LOAN_CHECK, 1): _obj(
        {
            "use_of_funds": _obj(
                {"as_agreed": {"type": "boolean"}, "description": _TEXT}, ["as_agreed", "description"]
            ),
            "operations": _obj(
                {"status": {"enum": ["normal", "declining", "stopped"]}, "description": _TEXT}, ["status"]
            ),
            "risk_signals": {
                "type": "array",
                "items": {
                    "enum": [
                        "income_drop",
                        "illness",
                        "other_debts",
                        "collateral_damaged",
                        "relocation",
                        "dispute",
                        "none",
                    ]
                },
                "uniqueItems": True,
            },
            "remarks": _TEXT,
        },
        ["use_of_funds", "operations", "risk_signals"],
    ),
    (TaskType.OVERDUE_FOLLOW_UP, 1): _obj(
        {
            "contacted": {"type": "boolean"},
            "reason": {"type": "string", "minLength": 1, "maxLength": 500},
            "promise_to_pay": _obj({"amount": _MONEY, "date": _DATE}, ["amount", "date"]),
            "remarks": _TEXT,
        },
        ["contacted", "reason"],
    ),
    (TaskType.VISIT, 1): _obj(
        {"purpose": {"type": "string", "minLength": 1, "maxLength": 200}, "notes": _TEXT}, ["purpose"]
    ),
    (TaskType.COLLATERAL_VERIFICATION, 1): _obj(
        {
            "collateral": {"type": "string", "minLength": 1, "maxLength": 200},
            "exists": {"type": "boolean"},
            "condition": {"enum": ["good", "fair", "poor"]},
            "estimated_value": _MONEY,
            "remarks": _TEXT,
        },
        ["collateral", "exists", "condition"],
    ),
    (TaskType.VILLAGE_SURVEY, 1): _obj(
        {
            "village": {"type": "string", "minLength": 1, "maxLength": 100},
            "households_surveyed": {"type": "integer", "minimum": 0},
            "notes": _TEXT,
        },
        ["village", "households_surveyed"],
    ),
}

CURRENT_VERSION: dict[TaskType, int] = {}
for _type, _version in _SCHEMAS:
    CURRENT_VERSION[_type] = max(CURRENT_VERSION.get(_type, 0), _version)

# Evidence a submission needs, per task type: kind -> minimum count.
REQUIRED_EVIDENCE: dict[TaskType, dict[EvidenceKind, int]] = {
    TaskType.PRE_LOAN_SURVEY: {EvidenceKind.PHOTO: 1, EvidenceKind.SIGNATURE: 1},
    TaskType.POST_LOAN_CHECK: {EvidenceKind.PHOTO: 1},
    TaskType.OVERDUE_FOLLOW_UP: {},
    TaskType.VISIT: {},
    TaskType.COLLATERAL_VERIFICATION: {EvidenceKind.PHOTO: 2},
    TaskType.VILLAGE_SURVEY: {EvidenceKind.PHOTO: 1},
}


def schema_for(task_type: TaskType, version: int) -> dict[str, Any]:
    try:
        return _SCHEMAS[(task_type, version)]
    except KeyError:
        raise InvalidArgument.for_field("version", f"{task_type.value} has no form version {version}") from None


def parse_form(raw: str) -> dict[str, Any]:
    """A form's JSON text as an object (drafts are only checked for being an object)."""
    if len(raw.encode()) > MAX_FORM_BYTES:
        raise InvalidArgument.for_field("form", f"must be at most {MAX_FORM_BYTES} bytes")
    try:
        value = json.loads(raw) if raw.strip() else {}
    except ValueError as exc:
        raise InvalidArgument.for_field("form", f"is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidArgument.for_field("form", "must be a JSON object")
    return value


def _path(parts: Any) -> str:
    return ".".join(["form", *(str(p) for p in parts)])


def form_violations(task_type: TaskType, version: int, data: Mapping[str, Any]) -> list[FieldViolation]:
    """Every way ``data`` misses its schema, each naming the field (``form.income.annual_income``)."""
    validator = Draft202012Validator(schema_for(task_type, version))
    violations: list[FieldViolation] = []
    for error in sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path]):
        if error.validator == "required" and isinstance(error.instance, dict):
            for name in error.validator_value:
                if name not in error.instance:
                    violations.append(FieldViolation(_path([*error.absolute_path, name]), "is required"))
        elif error.validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = set(error.schema.get("properties", {}))
            for name in sorted(set(error.instance) - allowed):
                violations.append(FieldViolation(_path([*error.absolute_path, name]), "is not a field of this form"))
        else:
            violations.append(FieldViolation(_path(error.absolute_path), error.message))
    return violations


def validate_form(task_type: TaskType, version: int, data: Mapping[str, Any]) -> None:
    violations = form_violations(task_type, version, data)
    if violations:
        raise InvalidArgument(
            f"the form is incomplete or invalid: {', '.join(v.field for v in violations)}",
            violations,
            reason="FORM_INVALID",
        )


def missing_evidence(task_type: TaskType, counts: Mapping[str, int]) -> list[FieldViolation]:
    missing = []
    for kind, minimum in REQUIRED_EVIDENCE[task_type].items():
        have = counts.get(kind.value, 0)
        if have < minimum:
            missing.append(FieldViolation(f"evidence.{kind.value}", f"at least {minimum} required, {have} provided"))
    return missing


def canonical_json(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def content_hash(data: Any) -> str:
    """SHA-256 (hex) of the canonical JSON of a form's content."""
    return hashlib.sha256(canonical_json(data)).hexdigest()


@dataclass(frozen=True)
class SignatureCheck:
    valid: bool
    signed_hash: str
    current_hash: str


def check_signature(signed_hash: str, current: Any) -> SignatureCheck:
    current_hash = content_hash(current)
    return SignatureCheck(current_hash == signed_hash, signed_hash, current_hash)


def summarize(data: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Flat string map of a form (nested keys dotted, lists as counts) for event payloads."""
    out: dict[str, str] = {}
    for key in sorted(data):
        value = data[key]
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(summarize(value, name + "."))
        elif isinstance(value, list):
            out[name + ".count"] = str(len(value))
            if all(isinstance(v, str) for v in value):
                out[name] = ",".join(value)
        elif isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif value is not None:
            out[name] = str(value)
    return out
