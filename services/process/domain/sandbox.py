"""The restricted evaluator for every expression and script in a process model.

Conditions, timer expressions, DMN cells, completion conditions, service-task parameters,
message payloads and script tasks all run here, never through Python's ``eval``/``exec``.
The evaluator walks the syntax tree itself and knows only a whitelist of node types:

* no imports, no ``def``/``lambda``/``class``, no ``global``, ``with``, ``try``, ``del``;
* no name or attribute starting with ``_`` (so no dunder walk such as
  ``().__class__.__bases__[0].__subclasses__()``);
* attribute access only to call a whitelisted method of ``str``, ``list``, ``dict``,
  ``Decimal``, ``date``/``datetime``, or to read a whitelisted attribute of a date;
* calls only to the functions in ``FUNCTIONS`` (no ``open``, ``__import__``, ``eval``...);
* every evaluated node costs one step of a budget (default 100,000), so an endless loop stops
  with ``SandboxError``; sequences and strings built at run time are capped in size and
  exponents in magnitude, so ``"x" * 10**12`` or ``9**9**9`` stop as well.

``check`` refuses a forbidden construct at deploy time; ``evaluate``/``execute`` enforce the
same rules again at run time, plus the budget and size limits.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

DEFAULT_STEP_BUDGET = 100_000
MAX_SEQUENCE = 10_000
MAX_STRING = 100_000
MAX_EXPONENT = 1_000
MAX_INT_BITS = 4_096  # about 1,200 digits: far beyond any amount, far below a slow number
MAX_SOURCE = 20_000


class SandboxError(Exception):
    """A forbidden construct (at deploy or run time) or an exceeded limit."""


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


def _to_decimal(value: Any = 0) -> Decimal:
    if isinstance(value, float):
        value = repr(value)
    try:
        return Decimal(value)
    except (InvalidOperation, TypeError, ValueError) as exc:
        raise SandboxError(f"not a decimal number: {value!r}") from exc


def _bounded_range(*args: int) -> range:
    result = range(*args)
    if len(result) > MAX_SEQUENCE:
        raise SandboxError(f"range longer than {MAX_SEQUENCE}")
    return result


def _date(value: str) -> date:
    return date.fromisoformat(value)


def _datetime(value: str) -> datetime:
    return datetime.fromisoformat(value)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "len": len,
    "min": min,
    "max": max,
    "abs": abs,
    "round": round,
    "sum": sum,
    "sorted": sorted,
    "any": any,
    "all": all,
    "int": int,
    "float": float,
    "str": str,
    "bool": bool,
    "list": list,
    "dict": dict,
    "tuple": tuple,
    "set": set,
    "range": _bounded_range,
    "enumerate": enumerate,
    "zip": zip,
    "isinstance": None,  # placeholder removed below: type objects are not handed out
    "Decimal": _to_decimal,
    "decimal": _to_decimal,
    "date": _date,
    "datetime": _datetime,
    "timedelta": timedelta,
}
del FUNCTIONS["isinstance"]
CONSTANTS: dict[str, Any] = {"True": True, "False": False, "None": None}

_STR_METHODS = frozenset(
    "upper lower strip lstrip rstrip startswith endswith split join replace count find "
    "isdigit isalpha isalnum zfill title capitalize".split()
)
_LIST_METHODS = frozenset("append extend count index insert pop remove copy".split())
_DICT_METHODS = frozenset("get keys values items copy update pop setdefault".split())
_DECIMAL_METHODS = frozenset("quantize is_zero copy_abs".split())
_DATE_METHODS = frozenset("isoformat weekday date".split())
_DATE_ATTRIBUTES = frozenset("year month day hour minute second days seconds".split())
ALLOWED_METHODS = _STR_METHODS | _LIST_METHODS | _DICT_METHODS | _DECIMAL_METHODS | _DATE_METHODS


_DICT_VIEWS = (type({}.keys()), type({}.values()), type({}.items()))


def _methods_for(value: Any) -> frozenset[str]:
    if isinstance(value, str):
        return _STR_METHODS
    if isinstance(value, list):
        return _LIST_METHODS
    if isinstance(value, dict):
        return _DICT_METHODS
    if isinstance(value, Decimal):
        return _DECIMAL_METHODS
    if isinstance(value, (date, timedelta)):
        return _DATE_METHODS
    return frozenset()


_EXPRESSION_NODES: tuple[type[ast.AST], ...] = (
    ast.Expression,
    ast.Constant,
    ast.Name,
    ast.Load,
    ast.Store,
    ast.BinOp,
    ast.UnaryOp,
    ast.BoolOp,
    ast.Compare,
    ast.IfExp,
    ast.Call,
    ast.keyword,
    ast.Attribute,
    ast.Subscript,
    ast.Slice,
    ast.List,
    ast.Tuple,
    ast.Dict,
    ast.Set,
    ast.ListComp,
    ast.comprehension,
    ast.JoinedStr,
    ast.FormattedValue,
    ast.operator,
    ast.unaryop,
    ast.boolop,
    ast.cmpop,
)
_STATEMENT_NODES: tuple[type[ast.AST], ...] = (
    ast.Module,
    ast.Assign,
    ast.AugAssign,
    ast.If,
    ast.For,
    ast.While,
    ast.Expr,
    ast.Pass,
    ast.Break,
    ast.Continue,
)


def _describe(node: ast.AST) -> str:
    return {
        ast.Import: "import",
        ast.ImportFrom: "import",
        ast.FunctionDef: "def",
        ast.AsyncFunctionDef: "def",
        ast.Lambda: "lambda",
        ast.ClassDef: "class",
        ast.Global: "global",
        ast.Nonlocal: "nonlocal",
        ast.With: "with",
        ast.Try: "try",
        ast.Delete: "del",
        ast.Raise: "raise",
        ast.Yield: "yield",
        ast.Await: "await",
    }.get(type(node), type(node).__name__)


def _parse(source: str, mode: str) -> ast.AST:
    if not isinstance(source, str):
        raise SandboxError("the expression is not text")
    if len(source) > MAX_SOURCE:
        raise SandboxError(f"longer than {MAX_SOURCE} characters")
    try:
        return ast.parse(source.strip() if mode == "eval" else source, mode=mode)
    except SyntaxError as exc:
        raise SandboxError(f"syntax error: {exc.msg}") from None
    except (RecursionError, MemoryError):
        raise SandboxError("the expression is nested too deeply") from None


def check(source: str, *, script: bool = False) -> None:
    """Refuses anything outside the whitelist; used at deploy time. Raises SandboxError."""
    tree = _parse(source, "exec" if script else "eval")
    allowed = _EXPRESSION_NODES + (_STATEMENT_NODES if script else ())
    for node in ast.walk(tree):
        if not isinstance(node, allowed):
            raise SandboxError(f"'{_describe(node)}' is not allowed in process models")
        if isinstance(node, ast.Name) and node.id.startswith("_"):
            raise SandboxError(f"the name {node.id!r} is not allowed (names may not start with '_')")
        if isinstance(node, ast.Attribute):
            if node.attr.startswith("_"):
                raise SandboxError(f"the attribute {node.attr!r} is not allowed")
            if node.attr not in ALLOWED_METHODS and node.attr not in _DATE_ATTRIBUTES:
                raise SandboxError(f"the attribute {node.attr!r} is not allowed")
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id not in FUNCTIONS:
                raise SandboxError(f"the function {func.id!r} is not available in process models")
            if not isinstance(func, (ast.Name, ast.Attribute)):
                raise SandboxError("only named functions and whitelisted methods may be called")
            if isinstance(func, ast.Attribute) and func.attr not in ALLOWED_METHODS:
                raise SandboxError(f"the method {func.attr!r} is not allowed")
        if isinstance(node, ast.FormattedValue) and node.format_spec is not None:
            raise SandboxError("format specifications in f-strings are not allowed")
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.For)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if any(isinstance(sub, ast.Attribute) for sub in ast.walk(target)):
                    raise SandboxError("attributes may not be assigned")


_BINOPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.FloorDiv: lambda a, b: a // b,
    ast.Mod: lambda a, b: a % b,
    ast.Pow: lambda a, b: a**b,
}
_CMPOPS: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: lambda a, b: a == b,
    ast.NotEq: lambda a, b: a != b,
    ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b,
    ast.Gt: lambda a, b: a > b,
    ast.GtE: lambda a, b: a >= b,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
    ast.Is: lambda a, b: a is b,
    ast.IsNot: lambda a, b: a is not b,
}


def _size_ok(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
        raise SandboxError(f"a number larger than {MAX_INT_BITS} bits")
    if isinstance(value, str) and len(value) > MAX_STRING:
        raise SandboxError(f"a string longer than {MAX_STRING} characters")
    if isinstance(value, (list, tuple, dict, set)) and len(value) > MAX_SEQUENCE:
        raise SandboxError(f"a collection longer than {MAX_SEQUENCE} items")
    return value


class _Interpreter:
    def __init__(self, variables: dict[str, Any], budget: int) -> None:
        self.vars = variables
        self.budget = budget

    def tick(self) -> None:
        self.budget -= 1
        if self.budget < 0:
            raise SandboxError("the step budget is exhausted (endless loop?)")

    # statements
    def run(self, body: Iterable[ast.stmt]) -> None:
        for stmt in body:
            self.stmt(stmt)

    def stmt(self, node: ast.stmt) -> None:
        self.tick()
        if isinstance(node, ast.Expr):
            self.eval(node.value)
        elif isinstance(node, ast.Assign):
            value = self.eval(node.value)
            for target in node.targets:
                self.assign(target, value)
        elif isinstance(node, ast.AugAssign):
            current = self.eval(_as_load(node.target))
            self.assign(node.target, self.binop(node.op, current, self.eval(node.value)))
        elif isinstance(node, ast.If):
            self.run(node.body if self.eval(node.test) else node.orelse)
        elif isinstance(node, ast.For):
            broke = False
            for item in self.iterate(self.eval(node.iter)):
                self.assign(node.target, item)
                try:
                    self.run(node.body)
                except _Break:
                    broke = True
                    break
                except _Continue:
                    continue
            if not broke:
                self.run(node.orelse)
        elif isinstance(node, ast.While):
            broke = False
            while self.eval(node.test):
                self.tick()
                try:
                    self.run(node.body)
                except _Break:
                    broke = True
                    break
                except _Continue:
                    continue
            if not broke:
                self.run(node.orelse)
        elif isinstance(node, ast.Pass):
            pass
        elif isinstance(node, ast.Break):
            raise _Break()
        elif isinstance(node, ast.Continue):
            raise _Continue()
        else:
            raise SandboxError(f"'{_describe(node)}' is not allowed in process models")

    def iterate(self, value: Any) -> Iterable[Any]:
        if not isinstance(value, (list, tuple, dict, set, str, range, enumerate, zip, *_DICT_VIEWS)):
            raise SandboxError(f"cannot iterate over {type(value).__name__}")
        for item in value:
            self.tick()
            yield item

    def assign(self, target: ast.expr, value: Any) -> None:
        if isinstance(target, ast.Name):
            if target.id.startswith("_") or target.id in CONSTANTS:
                raise SandboxError(f"the name {target.id!r} may not be assigned")
            self.vars[target.id] = value
        elif isinstance(target, ast.Subscript):
            container = self.eval(target.value)
            if not isinstance(container, (list, dict)):
                raise SandboxError("only list and dict items may be assigned")
            container[self.eval(target.slice)] = value
            _size_ok(container)
        elif isinstance(target, ast.Tuple):
            values = list(self.iterate(value))
            if len(values) != len(target.elts):
                raise SandboxError("wrong number of values to unpack")
            for sub, item in zip(target.elts, values, strict=True):
                self.assign(sub, item)
        else:
            raise SandboxError("only names and subscripts may be assigned")

    # expressions
    def binop(self, op: ast.operator, left: Any, right: Any) -> Any:
        fn = _BINOPS.get(type(op))
        if fn is None:
            raise SandboxError(f"the operator {type(op).__name__} is not allowed")
        if isinstance(op, ast.Pow) and isinstance(right, (int, float, Decimal)) and abs(right) > MAX_EXPONENT:
            raise SandboxError(f"exponent larger than {MAX_EXPONENT}")
        if isinstance(op, ast.Pow) and isinstance(left, int) and isinstance(right, int) and right > 0:
            if left.bit_length() * right > MAX_INT_BITS:
                raise SandboxError(f"a power larger than {MAX_INT_BITS} bits")
        if isinstance(op, ast.Mult) and isinstance(left, int) and isinstance(right, int):
            if left.bit_length() + right.bit_length() > MAX_INT_BITS + 1:
                raise SandboxError(f"a product larger than {MAX_INT_BITS} bits")
        if isinstance(op, ast.Mod) and isinstance(left, (str, bytes)):
            raise SandboxError("string formatting with '%' is not allowed; use f-strings")
        if isinstance(op, ast.Mult):
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and len(seq) * n > MAX_SEQUENCE * 10:
                    raise SandboxError("a repeated sequence would be too long")
        if isinstance(left, Decimal) and isinstance(right, float):
            right = _to_decimal(right)
        if isinstance(right, Decimal) and isinstance(left, float):
            left = _to_decimal(left)
        try:
            return _size_ok(fn(left, right))
        except SandboxError:
            raise
        except (TypeError, ValueError, ArithmeticError, MemoryError) as exc:
            raise SandboxError(f"{type(op).__name__}: {exc}") from None

    def eval(self, node: ast.AST) -> Any:
        self.tick()
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            name = node.id
            if name.startswith("_"):
                raise SandboxError(f"the name {name!r} is not allowed")
            if name in self.vars:
                return self.vars[name]
            if name in CONSTANTS:
                return CONSTANTS[name]
            raise SandboxError(f"name {name!r} is not defined")
        if isinstance(node, ast.BinOp):
            return self.binop(node.op, self.eval(node.left), self.eval(node.right))
        if isinstance(node, ast.UnaryOp):
            operand = self.eval(node.operand)
            if isinstance(node.op, ast.Not):
                return not operand
            if isinstance(node.op, ast.USub):
                return -operand
            if isinstance(node.op, ast.UAdd):
                return +operand
            raise SandboxError("bitwise operators are not allowed")
        if isinstance(node, ast.BoolOp):
            result: Any = None
            for value in node.values:
                result = self.eval(value)
                if isinstance(node.op, ast.And) and not result:
                    return result
                if isinstance(node.op, ast.Or) and result:
                    return result
            return result
        if isinstance(node, ast.Compare):
            left = self.eval(node.left)
            for op, comparator in zip(node.ops, node.comparators, strict=True):
                right = self.eval(comparator)
                if isinstance(left, Decimal) and isinstance(right, float):
                    right = _to_decimal(right)
                if not _CMPOPS[type(op)](left, right):
                    return False
                left = right
            return True
        if isinstance(node, ast.IfExp):
            return self.eval(node.body) if self.eval(node.test) else self.eval(node.orelse)
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.Attribute):
            if node.attr.startswith("_") or node.attr not in _DATE_ATTRIBUTES:
                raise SandboxError(f"the attribute {node.attr!r} is not allowed")
            value = self.eval(node.value)
            if not isinstance(value, (date, timedelta)):
                raise SandboxError(f"the attribute {node.attr!r} is not allowed on {type(value).__name__}")
            return getattr(value, node.attr)
        if isinstance(node, ast.Subscript):
            container = self.eval(node.value)
            if not isinstance(container, (list, tuple, dict, str)):
                raise SandboxError(f"cannot index {type(container).__name__}")
            return container[self.eval(node.slice)]
        if isinstance(node, ast.Slice):
            return slice(
                self.eval(node.lower) if node.lower else None,
                self.eval(node.upper) if node.upper else None,
                self.eval(node.step) if node.step else None,
            )
        if isinstance(node, ast.List):
            return _size_ok([self.eval(e) for e in node.elts])
        if isinstance(node, ast.Tuple):
            return _size_ok(tuple(self.eval(e) for e in node.elts))
        if isinstance(node, ast.Set):
            return _size_ok({self.eval(e) for e in node.elts})
        if isinstance(node, ast.Dict):
            if any(k is None for k in node.keys):
                raise SandboxError("'**' in dict displays is not allowed")
            return _size_ok({self.eval(k): self.eval(v) for k, v in zip(node.keys, node.values, strict=True)})  # type: ignore[arg-type]
        if isinstance(node, ast.ListComp):
            return self.listcomp(node)
        if isinstance(node, ast.JoinedStr):
            parts = []
            for value in node.values:
                if isinstance(value, ast.FormattedValue):
                    if value.format_spec is not None:
                        raise SandboxError("format specifications in f-strings are not allowed")
                    parts.append(str(self.eval(value.value)))
                else:
                    parts.append(str(self.eval(value)))
            return _size_ok("".join(parts))
        raise SandboxError(f"'{_describe(node)}' is not allowed in process models")

    def listcomp(self, node: ast.ListComp) -> list[Any]:
        saved = dict(self.vars)
        result: list[Any] = []

        def loop(index: int) -> None:
            if index == len(node.generators):
                result.append(self.eval(node.elt))
                _size_ok(result)
                return
            generator = node.generators[index]
            for item in self.iterate(self.eval(generator.iter)):
                self.assign(generator.target, item)
                if all(self.eval(cond) for cond in generator.ifs):
                    loop(index + 1)

        try:
            loop(0)
        finally:
            # Comprehension variables do not leak into the task data.
            self.vars.clear()
            self.vars.update(saved)
        return result

    def call(self, node: ast.Call) -> Any:
        args = [self.eval(a) for a in node.args if not isinstance(a, ast.Starred)]
        if any(isinstance(a, ast.Starred) for a in node.args):
            raise SandboxError("'*' arguments are not allowed")
        kwargs = {}
        for kw in node.keywords:
            if kw.arg is None or kw.arg.startswith("_"):
                raise SandboxError("'**' arguments are not allowed")
            kwargs[kw.arg] = self.eval(kw.value)
        func = node.func
        if isinstance(func, ast.Name):
            fn = FUNCTIONS.get(func.id)
            if fn is None:
                raise SandboxError(f"the function {func.id!r} is not available in process models")
            if func.id in ("list", "tuple", "set", "dict", "sorted", "sum", "min", "max", "any", "all") and args:
                args[0] = list(self.iterate(args[0])) if not isinstance(args[0], (int, float, Decimal)) else args[0]
            try:
                return _size_ok(fn(*args, **kwargs))
            except SandboxError:
                raise
            except (TypeError, ValueError, ArithmeticError, KeyError, IndexError) as exc:
                raise SandboxError(f"{func.id}(): {exc}") from None
        if isinstance(func, ast.Attribute):
            target = self.eval(func.value)
            if func.attr.startswith("_") or func.attr not in _methods_for(target):
                raise SandboxError(f"the method {func.attr!r} is not allowed on {type(target).__name__}")
            if isinstance(target, str):
                _string_result_ok(target, func.attr, args)
            try:
                result = getattr(target, func.attr)(*args, **kwargs)
            except SandboxError:
                raise
            except (TypeError, ValueError, ArithmeticError, KeyError, IndexError, AttributeError) as exc:
                raise SandboxError(f"{func.attr}(): {exc}") from None
            _size_ok(target)  # a list or dict grown in place (x.extend(x) doubles it)
            return _size_ok(result)
        raise SandboxError("only named functions and whitelisted methods may be called")


def _string_result_ok(target: str, method: str, args: list[Any]) -> None:
    """Bounds a string method's result before it is built (``s.replace("", s)`` squares it)."""
    size = len(target)
    if method == "zfill" and args and isinstance(args[0], int):
        size = args[0]
    elif method == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        size = len(target) + (target.count(args[0]) if args[0] else len(target) + 1) * len(args[1])
    elif method == "join" and args and isinstance(args[0], (list, tuple)):
        items = args[0]
        size = sum(len(i) if isinstance(i, str) else 0 for i in items) + len(target) * max(0, len(items) - 1)
    if size > MAX_STRING:
        raise SandboxError(f"{method}() would build a string longer than {MAX_STRING} characters")


def _as_load(target: ast.expr) -> ast.expr:
    copy = ast.parse(ast.unparse(target), mode="eval").body
    return copy


def evaluate(source: str, variables: Mapping[str, Any], *, budget: int = DEFAULT_STEP_BUDGET) -> Any:
    """Evaluates an expression against the variables (not changed)."""
    tree = _parse(source, "eval")
    assert isinstance(tree, ast.Expression)
    try:
        return _Interpreter(dict(variables), budget).eval(tree.body)
    except RecursionError:
        raise SandboxError("the expression is nested too deeply") from None


def execute(source: str, variables: dict[str, Any], *, budget: int = DEFAULT_STEP_BUDGET) -> None:
    """Runs a script; assignments change ``variables`` in place."""
    tree = _parse(source, "exec")
    assert isinstance(tree, ast.Module)
    try:
        _Interpreter(variables, budget).run(tree.body)
    except (_Break, _Continue):
        raise SandboxError("'break' or 'continue' outside a loop") from None
    except RecursionError:
        raise SandboxError("the script is nested too deeply") from None


def safe_number(value: Any) -> bool:
    return isinstance(value, (int, Decimal)) or (isinstance(value, float) and math.isfinite(value))
