"""Paging a complete list in memory with the keyset cursors the database lists use."""

from __future__ import annotations

import pytest

from services.common.errors import InvalidArgument
from services.common.pagination import MAX_PAGE_SIZE, encode_cursor, page_of


def _walk(items: list[tuple[str, int]], size: int) -> list[list[tuple[str, int]]]:
    pages, token = [], ""
    for _ in range(len(items) + 2):  # a cursor that never ends fails instead of hanging
        page, token = page_of(items, lambda t: t, size, token)
        pages.append(page)
        if not token:
            return pages
    raise AssertionError(f"no last page after {pages}")


def test_pages_follow_the_key_order_and_end_with_an_empty_token() -> None:
    items = [("b", 1), ("a", 2), ("a", 1), ("c", 1), ("b", 2)]
    assert _walk(items, 2) == [[("a", 1), ("a", 2)], [("b", 1), ("b", 2)], [("c", 1)]]
    assert _walk(items, 5) == [sorted(items)]
    assert _walk([], 2) == [[]]


def test_a_page_boundary_stays_put_when_items_come_and_go() -> None:
    first, token = page_of(["a", "c", "e", "g"], str, 2, "")
    assert first == ["a", "c"]
    # "c" was removed and "b", "d" added meanwhile: nothing is repeated or skipped after "c"
    second, token = page_of(["a", "b", "d", "e", "g"], str, 2, token)
    assert second == ["d", "e"]
    third, token = page_of(["a", "b", "d", "e", "g"], str, 2, token)
    assert (third, token) == (["g"], "")


def test_list_keys_order_a_tree_depth_first() -> None:
    # a branch's key is the codes from the root: a parent before its children, siblings by code
    paths = [["HX", "B"], ["AB"], ["HX"], ["A"], ["HX", "A"], ["A", "Z"]]
    walked = [p for page in _walk([tuple(p) for p in paths], 1) for p in page]  # type: ignore[misc]
    assert walked == [("A",), ("A", "Z"), ("AB",), ("HX",), ("HX", "A"), ("HX", "B")]


def test_the_size_is_bounded_and_defaulted() -> None:
    items = list(range(MAX_PAGE_SIZE + 10))
    page, token = page_of(items, int, 10_000, "")
    assert len(page) == MAX_PAGE_SIZE and token
    page, token = page_of(items, int, 0, "")
    assert len(page) == 50 and token


@pytest.mark.parametrize(
    "token",
    [
        "not-a-cursor",
        encode_cursor(["a", "b"]),  # another arity
        encode_cursor([5]),  # a number where the keys are strings
        encode_cursor([{"a": 1}]),
    ],
)
def test_a_token_it_did_not_issue_is_refused(token: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        page_of(["a", "b"], str, 1, token)
    assert refused.value.violations[0].field == "page_token"
