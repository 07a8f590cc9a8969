"""Message templates: Chinese text with named variables, ``{customer_name}``.

Rendering never guesses: a variable the data does not provide is an error naming it, so a
customer never receives a message with a blank where their amount should be.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_VARIABLE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_BRACE = re.compile(r"[{}]")

CHANNELS = ("sms", "in_app")
CATEGORIES = ("transactional", "marketing")
MAX_SMS_LENGTH = 500


class TemplateError(ValueError):
    pass


class MissingVariables(TemplateError):
    def __init__(self, missing: list[str]) -> None:
        super().__init__("missing variable" + ("s" if len(missing) > 1 else "") + ": " + ", ".join(missing))
        self.missing = missing


def variables(text: str) -> list[str]:
    """The named variables of a text, in order of first use."""
    seen: list[str] = []
    for name in _VARIABLE.findall(text):
        if name not in seen:
            seen.append(name)
    return seen


def check_text(text: str) -> None:
    """Every brace belongs to a ``{name}`` placeholder."""
    if _BRACE.search(_VARIABLE.sub("", text)):
        raise TemplateError("braces are only allowed around variable names, e.g. {customer_name}")


def render(text: str, values: Mapping[str, Any]) -> str:
    missing = [name for name in variables(text) if _blank(values.get(name))]
    if missing:
        raise MissingVariables(missing)
    return _VARIABLE.sub(lambda m: str(values[m.group(1)]), text)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


@dataclass(frozen=True)
class TemplateSpec:
    code: str
    channel: str
    category: str
    title: str
    body: str
    sms_template_code: str = ""
    sms_sign_name: str = ""


def validate_template(spec: TemplateSpec) -> list[tuple[str, str]]:
    """(field, problem) pairs; empty when the template may be stored."""
    problems: list[tuple[str, str]] = []
    if not re.fullmatch(r"[a-z][a-z0-9_.]{1,79}", spec.code):
        problems.append(("code", "lowercase letters, digits, '_' or '.', 2 to 80 characters"))
    if spec.channel not in CHANNELS:
        problems.append(("channel", f"must be one of {', '.join(CHANNELS)}"))
    if spec.category not in CATEGORIES:
        problems.append(("category", f"must be one of {', '.join(CATEGORIES)}"))
    if not spec.body.strip():
        problems.append(("body", "is required"))
    else:
        try:
            check_text(spec.body)
            check_text(spec.title)
        except TemplateError as exc:
            problems.append(("body", str(exc)))
    if len(spec.body) > MAX_SMS_LENGTH:
        problems.append(("body", f"at most {MAX_SMS_LENGTH} characters"))
    if spec.channel == "sms":
        if not spec.sms_template_code.strip():
            problems.append(("sms_template_code", "the SMS gateway's template code is required for SMS"))
        if not spec.sms_sign_name.strip():
            problems.append(("sms_sign_name", "the SMS signature (签名) is required for SMS"))
    return problems
