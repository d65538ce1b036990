"""The part of CloudWatch metric math the twin's alarms evaluate.

An expression names the Ids of other queries: arithmetic (`canary / live`), comparisons (1 or 0, as
in CloudWatch), `IF(condition, value[, otherwise])` (no datapoint where the condition is false and
nothing else is given) and `EPOCH(m)` (each datapoint's timestamp in seconds since 1970). It is
evaluated at each timestamp where every series it names has a value; as in CloudWatch, a division by
zero gives no datapoint there. Other functions (`FILL`, `METRICS()`, ...) are not implemented: an alarm
using one is a clear error, not a silent guess.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping
from datetime import datetime

Series = Mapping[datetime, float]

OPERATORS: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}
COMPARISONS: dict[type[ast.cmpop], Callable[[float, float], bool]] = {
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}
FUNCTIONS = {"IF": (2, 3), "EPOCH": (1, 1)}  # name: (fewest, most) arguments
SYNTAX = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.USub, ast.UAdd, ast.Name, ast.Load, ast.Compare)


class MetricMathError(ValueError):
    pass


def names(expression: str) -> set[str]:
    """The query Ids an expression reads (function names are not Ids)."""
    return _ids(_parse(expression))


def _ids(tree: ast.Expression) -> set[str]:
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in called}


def evaluate(expression: str, series: Mapping[str, Series]) -> dict[datetime, float]:
    """The expression's value at every timestamp where all the series it reads have one."""
    tree = _parse(expression)
    used = _ids(tree)
    missing = used - set(series)
    if missing:
        raise MetricMathError(f"metric math {expression!r} reads unknown ids {sorted(missing)}")
    stamps = set.intersection(*(set(series[n]) for n in used)) if used else set()
    out = {}
    for t in sorted(stamps):
        value = _value(tree.body, {n: series[n][t] for n in used}, t)
        if value is not None and math.isfinite(value):
            out[t] = value
    return out


def _parse(expression: str) -> ast.Expression:
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise MetricMathError(f"metric math {expression!r} does not parse: {exc.msg}") from exc
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            continue
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else ""
            fewest, most = FUNCTIONS.get(name, (-1, -1))
            if node.keywords or not fewest <= len(node.args) <= most:
                raise MetricMathError(
                    f"metric math {expression!r}: {name or 'this call'}(...) is not supported"
                )
            continue
        if isinstance(node, SYNTAX) or type(node) in OPERATORS or type(node) in COMPARISONS:
            continue
        raise MetricMathError(
            f"metric math {expression!r}: {type(node).__name__} is not supported by the twin "
            "(arithmetic, comparisons, IF and EPOCH on query ids and numbers only)"
        )
    return tree


def _value(node: ast.expr, values: Mapping[str, float], t: datetime) -> float | None:  # noqa: PLR0911
    if isinstance(node, ast.Name):
        return values[node.id]
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.UnaryOp):
        inner = _value(node.operand, values, t)
        return None if inner is None else (-inner if isinstance(node.op, ast.USub) else inner)
    if isinstance(node, ast.Call):
        return _call(node, values, t)
    if isinstance(node, ast.Compare):
        left = _value(node.left, values, t)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = _value(right_node, values, t)
            if left is None or right is None:
                return None
            if not COMPARISONS[type(op)](left, right):
                return 0.0
            left = right
        return 1.0
    assert isinstance(node, ast.BinOp)  # _parse admits nothing else
    left, right = _value(node.left, values, t), _value(node.right, values, t)
    if left is None or right is None or (isinstance(node.op, ast.Div) and right == 0):
        return None
    return OPERATORS[type(node.op)](left, right)


def _call(node: ast.Call, values: Mapping[str, float], t: datetime) -> float | None:
    assert isinstance(node.func, ast.Name)  # _parse admits nothing else
    if node.func.id == "EPOCH":
        return t.timestamp()
    condition = _value(node.args[0], values, t)
    if condition is None:
        return None
    if condition != 0:
        return _value(node.args[1], values, t)
    return _value(node.args[2], values, t) if len(node.args) == 3 else None
