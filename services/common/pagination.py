"""Opaque cursors for keyset pagination (stable under inserts, unlike offsets)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from services.common.errors import InvalidArgument

MAX_PAGE_SIZE = 200
DEFAULT_PAGE_SIZE = 50

T = TypeVar("T")


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


def _plain(value: Any) -> Any:
    """A key as JSON gives it back (tuples become lists), so a decoded cursor compares with it."""
    return [_plain(v) for v in value] if isinstance(value, (list, tuple)) else value


def page_of(items: Iterable[T], key: Callable[[T], Any], size: int, token: str) -> tuple[list[T], str]:
    """One page of a complete, bounded list held in memory (a call that answers a whole catalogue).

    The same keyset cursors as the lists read from a database: ``key`` gives every item a unique,
    sortable JSON value (a string, a number, or a list or tuple of those); the items are ordered
    by it and the cursor holds the last key returned, so the next page starts right after it even
    when items were added or removed meanwhile. Returns the page and the next token, "" after
    the last page.
    """
    limit = page_size(size)
    after = decode_cursor(token, 1)
    keyed = sorted(((_plain(key(item)), item) for item in items), key=lambda pair: pair[0])
    if after is not None:
        try:
            keyed = [(k, item) for k, item in keyed if k > after[0]]
        except TypeError as exc:  # a forged token whose key has another shape
            raise InvalidArgument.for_field("page_token", "is not a token this service issued") from exc
    page = keyed[:limit]
    next_token = encode_cursor([page[-1][0]]) if len(keyed) > limit else ""
    return [item for _, item in page], next_token
