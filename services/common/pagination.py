"""Opaque cursors for keyset pagination (stable under inserts, unlike offsets)."""

from __future__ import annotations

import base64
import json
from typing import Any

from services.common.errors import InvalidArgument

MAX_PAGE_SIZE = 200
DEFAULT_PAGE_SIZE = 50


def page_size(requested: int) -> int:
    if requested < 0:
        raise InvalidArgument.for_field("page_size", "must not be negative")
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, separators=(",", ":")).encode()).decode()


def decode_cursor(token: str, arity: int) -> list[Any] | None:
    if not token:
        return None
    try:
        values = json.loads(base64.urlsafe_b64decode(token.encode()))
    except ValueError as exc:
        raise InvalidArgument.for_field("page_token", "is not a token this service issued") from exc
    if not isinstance(values, list) or len(values) != arity:
        raise InvalidArgument.for_field("page_token", "is not a token this service issued")
    return values
