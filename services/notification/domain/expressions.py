"""A small, safe expression language for rule conditions.

Conditions are Python-like expressions over the event's fields, for example
``dpd > 3 and bucket != "M4+"`` or ``status in ["approved", "rejected"]``. They are parsed
with :mod:`ast` and only a whitelist of node types is accepted: names, constants, lists,
comparisons, ``and``/``or``/``not``, unary minus and dotted access into nested objects.
No calls, no attribute access on Python objects, no subscripts, no lambdas: nothing a rule
author writes is ever executed as code.
"""

from __future__ import annotations

import ast
from decimal import Decimal, InvalidOperation
from typing import Any

MAX_LENGTH = 500


class ExpressionError(ValueError):
    """The condition is not a valid expression of the rule language."""


_COMPARATORS = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn)
_MISSING = object()


def parse(source: str) -> ast.Expression | None:
    """Parses and checks a condition; an empty one means "always"."""
    text = source.strip()
    if not text:
        return None
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"a condition has at most {MAX_LENGTH} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"not a valid expression: {exc.msg}") from None
    _check(tree.body)
    return tree


def names(source: str) -> set[str]:
    """The event fields a condition reads (first segment of dotted names)."""
    tree = parse(source)
    if tree is None:
        return set()
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


def _check(node: ast.AST) -> None:
    if isinstance(node, ast.BoolOp) and isinstance(node.op, (ast.And, ast.Or)):
        for value in node.values:
            _check(value)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub)):
        _check(node.operand)
    elif isinstance(node, ast.Compare):
        if not all(isinstance(op, _COMPARATORS) for op in node.ops):
            raise ExpressionError("only ==, !=, <, <=, >, >=, in and not in compare values")
        _check(node.left)
        for comparator in node.comparators:
            _check(comparator)
    elif isinstance(node, ast.Name):
        if node.id.startswith("_"):
            raise ExpressionError(f"field names may not start with an underscore: {node.id}")
    elif isinstance(node, ast.Attribute):
        if node.attr.startswith("_"):
            raise ExpressionError(f"field names may not start with an underscore: {node.attr}")
        _check(node.value)
        if not isinstance(node.value, (ast.Name, ast.Attribute)):
            raise ExpressionError("dotted names must be field names, e.g. summary.score")
    elif isinstance(node, ast.Constant):
        if not isinstance(node.value, (str, int, float, bool)) and node.value is not None:
            raise ExpressionError(f"unsupported constant {node.value!r}")
    elif isinstance(node, (ast.List, ast.Tuple)):
        for element in node.elts:
            _check(element)
    else:
        raise ExpressionError(f"{type(node).__name__} is not allowed in a condition")


def evaluate(source: str | ast.Expression | None, data: dict[str, Any]) -> bool:
    """True when the condition holds for ``data``; a missing field never matches."""
    tree = parse(source) if isinstance(source, str) else source
    if tree is None:
        return True
    return bool(_eval(tree.body, data))


def _eval(node: ast.AST, data: dict[str, Any]) -> Any:
    if isinstance(node, ast.BoolOp):
        if isinstance(node.op, ast.And):
            return all(_truthy(_eval(v, data)) for v in node.values)
        return any(_truthy(_eval(v, data)) for v in node.values)
    if isinstance(node, ast.UnaryOp):
        value = _eval(node.operand, data)
        if isinstance(node.op, ast.Not):
            return not _truthy(value)
        number = _number(value)
        return _MISSING if number is None else -number
    if isinstance(node, ast.Compare):
        left = _eval(node.left, data)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = _eval(comparator, data)
            if not _compare(op, left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.Name):
        return data.get(node.id, _MISSING)
    if isinstance(node, ast.Attribute):
        parent = _eval(node.value, data)
        return parent.get(node.attr, _MISSING) if isinstance(parent, dict) else _MISSING
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_eval(e, data) for e in node.elts]
    raise ExpressionError(f"{type(node).__name__} is not allowed in a condition")  # pragma: no cover


def _truthy(value: Any) -> bool:
    return value is not _MISSING and bool(value)


def _number(value: Any) -> Decimal | None:
    """Numbers and numeric strings (decimals travel as strings) compare as numbers."""
    if isinstance(value, bool) or value is _MISSING or value is None:
        return None
    if isinstance(value, (int, float, Decimal)):
        return Decimal(str(value))
    if isinstance(value, str):
        try:
            return Decimal(value.strip())
        except InvalidOperation:
            return None
    return None


def _equal(left: Any, right: Any) -> bool:
    if left is _MISSING or right is _MISSING:
        return False
    a, b = _number(left), _number(right)
    if a is not None and b is not None:
        return a == b
    return bool(left == right)


def _compare(op: ast.cmpop, left: Any, right: Any) -> bool:
    if isinstance(op, ast.Eq):
        return _equal(left, right)
    if isinstance(op, ast.NotEq):
        return left is not _MISSING and right is not _MISSING and not _equal(left, right)
    if isinstance(op, (ast.In, ast.NotIn)):
        if left is _MISSING or not isinstance(right, (list, str)):
            return False
        found = (left in right) if isinstance(right, str) and isinstance(left, str) else any(
            _equal(left, item) for item in right
        )
        return found if isinstance(op, ast.In) else not found
    a, b = _number(left), _number(right)
    if a is None or b is None:
        if isinstance(left, str) and isinstance(right, str):
            a_s, b_s = left, right
            return {ast.Lt: a_s < b_s, ast.LtE: a_s <= b_s, ast.Gt: a_s > b_s, ast.GtE: a_s >= b_s}[type(op)]
        return False
    return {ast.Lt: a < b, ast.LtE: a <= b, ast.Gt: a > b, ast.GtE: a >= b}[type(op)]
