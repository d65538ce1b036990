"""Logs Insights over the records the functions would have written, evaluated per population.

Records come as populations (`logrecords`): filters and `by` keys must be constant within a population
(they are for the collector's query); per-record numbers (`@duration`, ...) are distributions,
aggregated analytically with the order-statistic draws of `sampling`. Statistics follow what Insights
bills: bytesScanned counts every byte in the log groups within the window. Null results are left out
of a row, as Insights does.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np

from lambda_tuner.twin.insights_parse import Node, Query, parse
from lambda_tuner.twin.logrecords import Lin, Population, populations
from lambda_tuner.twin.metricdata import EXACT
from lambda_tuner.twin.sampling import Noise, hash_uniform, order_stat, sample_mean, stable_key

if TYPE_CHECKING:
    from lambda_tuner.twin.world import World

AGGREGATIONS = ("count", "sum", "avg", "min", "max", "pct")


def run(world: World, query: str, log_groups: list[str], start: datetime,
        end: datetime) -> tuple[list[list[dict[str, str]]], dict[str, float]]:
    q = parse(query)
    if not q.stats:
        raise ValueError("the twin answers only queries with a stats command")
    pops, scanned, nbytes = populations(world, log_groups, start, end)
    ev = _Eval(q)
    matched = [p for p in pops if all(ev.truth(f, p) for f in q.filters)]
    groups: dict[tuple[object, ...], list[Population]] = defaultdict(list)
    for p in matched:
        groups[tuple(_const(ev.value(node, p), name) for name, node in q.by)].append(p)
    salt = stable_key(world.seed, "insights", start.isoformat(), end.isoformat())
    rows = [_row(ev, q, key, members, salt) for key, members in groups.items()]
    rows = _order(rows, q)
    stats = {"recordsMatched": float(round(sum(p.count for p in matched))),
             "recordsScanned": float(round(scanned)),
             "bytesScanned": nbytes}
    return [[{"field": k, "value": _fmt(v)} for k, v in row.items() if v is not None] for row in rows], stats


def _const(value: object, name: str) -> object:
    if isinstance(value, Lin):
        raise ValueError(f"cannot group by {name!r}: it varies per record (the twin groups by fields that "
                         "are constant per log group and memory size)")
    return value


class _Eval:
    def __init__(self, q: Query) -> None:
        self.q = q

    def value(self, node: Node, p: Population) -> object:  # noqa: PLR0911 - one case per node kind
        kind = node[0]
        if kind in ("num", "str"):
            return node[1]
        if kind == "field":
            if node[1] in self.q.fields:
                return self.value(self.q.fields[node[1]], p)
            return p.value(node[1])
        if kind == "bin":
            return _arith(node[1], self.value(node[2], p), self.value(node[3], p))
        if kind == "call" and node[1] == "coalesce":
            return self._coalesce(node[2], p)
        if kind == "call" and node[1] == "ispresent" and len(node[2]) == 1:
            v = self.value(node[2][0], p)
            return _present(v)
        if kind in ("cmp", "and", "or", "not"):
            return self.truth(node, p)
        raise ValueError(f"unsupported expression {node[1] if kind == 'call' else kind!r}")

    def _coalesce(self, args: list[Node], p: Population) -> object:
        values = [self.value(a, p) for a in args]
        for i, v in enumerate(values):
            if v is None:
                continue
            if isinstance(v, Lin) and v.base == "init" and any(x is not None for x in values[i + 1:]):
                raise ValueError("coalesce of a sometimes-missing field with another field is not supported")
            return v
        return None

    def truth(self, node: Node, p: Population) -> bool:
        kind = node[0]
        if kind == "or":
            return self.truth(node[1], p) or self.truth(node[2], p)
        if kind == "and":
            return self.truth(node[1], p) and self.truth(node[2], p)
        if kind == "not":
            return not self.truth(node[1], p)
        if kind == "cmp":
            return _compare(node[1], self.value(node[2], p), self.value(node[3], p))
        v = self.value(node, p)
        if isinstance(v, Lin):
            raise ValueError("filters on per-record values are not supported by the twin")
        return bool(v)


def _present(v: object) -> bool:
    if isinstance(v, Lin) and v.base == "init":
        raise ValueError("ispresent() of a sometimes-missing field is not supported in filters")
    return v is not None


def _arith(op: str, a: object, b: object) -> object:
    if a is None or b is None:
        return None
    if isinstance(a, float | int) and isinstance(b, float | int):
        return {"+": a + b, "-": a - b, "*": a * b, "/": a / b if b else None}[op]
    if isinstance(a, Lin) and isinstance(b, float | int) and op in "*/" and b:
        return Lin(a.base, a.scale * b if op == "*" else a.scale / b)
    if isinstance(b, Lin) and isinstance(a, float | int) and op == "*":
        return Lin(b.base, b.scale * a)
    raise ValueError(f"arithmetic {op!r} on per-record values: the twin supports only scaling by a constant")


def _compare(op: str, a: object, b: object) -> bool:
    if isinstance(a, Lin) or isinstance(b, Lin):
        raise ValueError("filters on per-record values are not supported by the twin")
    if a is None or b is None:
        return False
    if isinstance(a, str) != isinstance(b, str):
        a, b = str(a), str(b)
    ops = {"=": a == b, "!=": a != b}
    if op in ops:
        return ops[op]
    try:
        return bool({"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op])  # type: ignore[operator]
    except TypeError:
        return False


def _row(ev: _Eval, q: Query, key: tuple[object, ...], members: list[Population],
         salt: int) -> dict[str, object]:
    row: dict[str, object] = {name: value for (name, _), value in zip(q.by, key, strict=True)}
    for name, node in q.stats:
        row[name] = _aggregate(ev, node, members, stable_key(salt, key))
    return row


def _aggregate(ev: _Eval, node: Node, members: list[Population], salt: int) -> float | None:
    fn, args = node[1], node[2]
    if fn not in AGGREGATIONS:
        raise ValueError(f"unsupported aggregation {fn}() (the twin supports {', '.join(AGGREGATIONS)})")
    if fn == "count" and (not args or args[0] == ("star",)):
        return float(sum(p.count for p in members))
    want = 2 if fn == "pct" else 1
    if len(args) != want or (fn == "pct" and args[1][0] != "num"):
        raise ValueError(f"{fn}() takes {'a field and a number' if fn == 'pct' else 'one field'}")
    comps: list[tuple[float, float, Noise]] = []
    base, cap = "", math.inf
    for p in members:
        v = ev.value(args[0], p)
        if isinstance(v, Lin):
            base = v.base
            if base == "duration":
                cap = min(cap, p.cap_ms * v.scale)
            comps += [(n, mean * v.scale, nz) for n, mean, nz in p.comps.get(v.base, []) if n > 0]
        elif isinstance(v, float | int):
            comps.append((p.count, float(v), EXACT))
        elif v is not None:
            raise ValueError(f"{fn}() needs numbers, got {v!r}")
    if fn == "count":
        return float(sum(n for n, _, _ in comps))
    value = _distribution_stat(fn, args, comps, stable_key(salt, base))
    return value if value is None or fn == "sum" else min(value, cap)


def _distribution_stat(fn: str, args: list[Node], comps: list[tuple[float, float, Noise]],
                       salt: int) -> float | None:
    if not comps:
        return None
    w = np.array([[n for n, _, _ in comps]])
    means = np.array([max(m, 1e-9) for _, m, _ in comps])
    noises = [nz for _, _, nz in comps]
    u = hash_uniform(salt, 0)
    if fn == "pct":
        q = float(args[1][1])
        if not 0 < q <= 100:
            raise ValueError(f"pct() needs a percentile in (0, 100], got {q}")
        return float(order_stat(q / 100, w, means, noises, u)[0])
    lo, hi = order_stat(0.0, w, means, noises, u), order_stat(1.0, w, means, noises, u)
    if fn in ("min", "max"):
        return float((lo if fn == "min" else hi)[0])
    avg = float(sample_mean(w, means, noises, hash_uniform(salt, 1), lo=lo, hi=hi)[0])
    return avg * float(w.sum()) if fn == "sum" else avg


def _order(rows: list[dict[str, object]], q: Query) -> list[dict[str, object]]:
    if q.sort:
        name, desc = q.sort
        present = [r for r in rows if isinstance(r.get(name), int | float | str)]
        absent = [r for r in rows if r not in present]
        rows = sorted(present, key=lambda r: (isinstance(r[name], str), r[name]), reverse=desc) + absent
    if q.display is not None:
        rows = [{k: r.get(k) for k in q.display} for r in rows]
    return rows[: q.limit] if q.limit is not None else rows


def _fmt(v: object) -> str:
    if isinstance(v, float) and math.isfinite(v):
        return str(int(v)) if v.is_integer() else f"{v:.4f}".rstrip("0").rstrip(".")
    return str(v)
