"""The part of CloudWatch metric math the twin's alarms evaluate: arithmetic on metric series.

An expression such as `canary / live` names the Ids of other queries; it is evaluated at each
timestamp where every series it names has a value. As in CloudWatch, a division by zero gives no
datapoint there. Functions (`IF`, `FILL`, `METRICS()`, ...) are not implemented: an alarm using one
is a clear error, not a silent guess.
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


class MetricMathError(ValueError):
    pass


def names(expression: str) -> set[str]:
    """The query Ids an expression reads."""
    return {n.id for n in ast.walk(_parse(expression)) if isinstance(n, ast.Name)}


def evaluate(expression: str, series: Mapping[str, Series]) -> dict[datetime, float]:
    """The expression's value at every timestamp where all the series it reads have one."""
    tree = _parse(expression)
    used = names(expression)
    missing = used - set(series)
    if missing:
        raise MetricMathError(f"metric math {expression!r} reads unknown ids {sorted(missing)}")
    stamps = set.intersection(*(set(series[n]) for n in used)) if used else set()
    out = {}
    for t in sorted(stamps):
        value = _value(tree.body, {n: series[n][t] for n in used})
        if value is not None and math.isfinite(value):
            out[t] = value
    return out


def _parse(expression: str) -> ast.Expression:
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise MetricMathError(f"metric math {expression!r} does not parse: {exc.msg}") from exc
    for node in ast.walk(tree):
        allowed = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.USub, ast.UAdd, ast.Name, ast.Load)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            continue
        if isinstance(node, allowed) or type(node) in OPERATORS:
            continue
        raise MetricMathError(
            f"metric math {expression!r}: {type(node).__name__} is not supported by the twin "
            "(arithmetic on query ids and numbers only)"
        )
    return tree


def _value(node: ast.expr, values: Mapping[str, float]) -> float | None:
    if isinstance(node, ast.Name):
        return values[node.id]
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.UnaryOp):
        inner = _value(node.operand, values)
        return None if inner is None else (-inner if isinstance(node.op, ast.USub) else inner)
    assert isinstance(node, ast.BinOp)  # _parse admits nothing else
    left, right = _value(node.left, values), _value(node.right, values)
    if left is None or right is None or (isinstance(node.op, ast.Div) and right == 0):
        return None
    return OPERATORS[type(node.op)](left, right)
