"""The query parameters of every list and the gateway's paging of complete, bounded lists.

Most lists page in the owning service (``page_size``/``page_token`` over gRPC). The small,
bounded ones come back whole from their gRPC call (branches, regions, staff, templates,
products, process models and versions, node durations, a party's changes, a loan's schedule and
repayments, audit verification); the gateway pages those itself with the same opaque keyset
cursor, so every list answers ``{items, next_cursor}`` and takes ``limit`` and ``cursor``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Annotated, Any, TypeVar

from fastapi import Query
from fastapi.exceptions import RequestValidationError

from services.common.errors import InvalidArgument
from services.common.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, page_of

T = TypeVar("T")

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description=f"page size, at most {MAX_PAGE_SIZE}")]
Cursor = Annotated[str, Query(description="the previous page's next_cursor; empty for the first page")]
DEFAULT_LIMIT = DEFAULT_PAGE_SIZE


def page(items: Iterable[T], key: Callable[[T], Any], limit: int, cursor: str) -> tuple[list[T], str | None]:
    """One page of a complete list, ordered by ``key`` (unique per item); next_cursor None at the end.

    A cursor this gateway did not issue answers 422 problem+json naming ``cursor``.
    """
    try:
        rows, token = page_of(items, key, limit, cursor)
    except InvalidArgument as exc:
        raise RequestValidationError(
            [{"loc": ("query", "cursor"), "msg": "is not a cursor this list issued", "type": "value_error"}]
        ) from exc
    return rows, token or None
