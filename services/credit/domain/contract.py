"""Contract documents from versioned Jinja2 templates, with a content hash.

Templates are written by process owners, so they render in Jinja2's sandbox (no attribute
walks to Python internals) with undefined variables refused, and the text is hashed with
SHA-256 so a signature can be tied to exactly what was shown.
"""

from __future__ import annotations

import hashlib
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from services.common.errors import InvalidArgument

MAX_TEMPLATE_LENGTH = 200_000
_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


def check_template(body: str) -> str:
    if not body.strip():
        raise InvalidArgument.for_field("body", "is required")
    if len(body) > MAX_TEMPLATE_LENGTH:
        raise InvalidArgument.for_field("body", f"must be at most {MAX_TEMPLATE_LENGTH} characters")
    try:
        _ENV.parse(body)
    except TemplateError as exc:
        raise InvalidArgument.for_field("body", f"is not a valid template: {exc}") from exc
    return body


def render_contract(body: str, variables: dict[str, Any]) -> tuple[str, str]:
    """The rendered text and its SHA-256 (hex) over the UTF-8 bytes."""
    try:
        text = _ENV.from_string(body).render(**variables)
    except TemplateError as exc:
        raise InvalidArgument.for_field("template_code", f"the template cannot be rendered: {exc}") from exc
    return text, content_hash(text)


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
