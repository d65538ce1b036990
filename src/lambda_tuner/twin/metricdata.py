"""CloudWatch statistics of AWS/Lambda and LambdaInsights metrics, from a function's minutes.

Three kinds of metric:
- counts (Invocations, Errors, Throttles, PC invocations/spill-over): one 0/1 value per call, so Sum is
  the count, SampleCount the calls, Average the rate; a period with no calls has no datapoint.
- distributions (Duration; Lambda Insights per-invocation values): sample statistics of the period's
  calls drawn as order statistics (see `sampling`); no datapoint without calls.
- gauges (ConcurrentExecutions: one value per minute with calls; ProvisionedConcurrencyUtilization and
  ProvisionedConcurrentExecutions: one value per minute while PC is configured, 0 when idle — that is how
  idle provisioned concurrency shows up in AWS).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lambda_tuner.twin.sampling import (
    LogNormalNoise,
    Noise,
    hash_uniform,
    order_stat,
    peak_concurrency,
    sample_mean,
    stable_key,
)
from lambda_tuner.twin.simulate import Level, Minutes, Stream
from lambda_tuner.twin.spec import LATEST, FunctionSpec

_PCT = re.compile(r"^p(\d{1,2}(?:\.\d+)?|100)$")
BASIC_STATS = ("Sum", "Average", "Maximum", "Minimum", "SampleCount")
MEM_NOISE = LogNormalNoise(0.03)
INIT_NOISE = LogNormalNoise(0.12)
EXACT = LogNormalNoise(0.0)


def parse_stat(stat: str) -> float | str:
    """A basic statistic name, or a percentile as a fraction in (0, 1]."""
    if stat in BASIC_STATS:
        return stat
    m = _PCT.match(stat)
    if m and 0 < float(m.group(1)) <= 100:
        return float(m.group(1)) / 100
    raise ValueError(f"statistic {stat!r} is not supported by the twin (use {', '.join(BASIC_STATS)} or pNN)")


@dataclass
class Selection:
    """Which calls a query's dimensions select."""

    streams: list[Stream]
    pc_entries: set[str] | None  # None: every entry with PC


@dataclass
class Series:
    """Per-minute data of one metric: counts, a distribution over levels, or a gauge."""

    kind: str  # "count" | "dist" | "gauge"
    events: np.ndarray | None = None
    samples: np.ndarray | None = None
    weights: np.ndarray | None = None  # [minutes, K]
    means: np.ndarray | None = None  # [K]
    noise: Noise | None = None
    gauge: np.ndarray | None = None  # NaN where there is no value
    cap: float = np.inf  # largest possible value (durations stop at the timeout)


def series(namespace: str, metric: str, m: Minutes, sel: Selection, *, spec: FunctionSpec,
           noise: Noise) -> Series | None:
    """The per-minute series of a metric, or None when the function never emits it."""
    if namespace == "LambdaInsights":
        return _insights(metric, m, sel, spec) if spec.insights else None
    builder = _LAMBDA.get(metric)
    return builder(m, sel, noise) if builder else None


def _sum(arrays: list[np.ndarray], n: int) -> np.ndarray:
    return np.asarray(sum(arrays, np.zeros(n)), dtype=float)


def _count(events: list[np.ndarray], samples: list[np.ndarray], n: int) -> Series:
    return Series("count", events=_sum(events, n), samples=_sum(samples, n))


def _dist(m: Minutes, streams: list[Stream], counts: Callable[[Stream], np.ndarray],
          value: Callable[[Level], float], noise: Noise, *, capped: bool = False) -> Series:
    k = max(len(m.levels), 1)
    w = np.zeros(m.n * k)
    rows = np.arange(m.n) * k
    for s in streams:
        ok = s.level >= 0
        w += np.bincount(rows[ok] + s.level[ok], weights=counts(s)[ok], minlength=m.n * k)
    means = np.array([value(lv) for lv in m.levels] or [1.0])
    caps = [value(lv) * lv.timeout_ms / lv.mean_ms for lv in m.levels] if capped else []
    cap = min(caps, default=np.inf)
    return Series("dist", weights=w.reshape(m.n, k), means=np.maximum(means, 1e-9), noise=noise, cap=cap)


def _means(m: Minutes) -> np.ndarray:
    return np.array([lv.mean_ms for lv in m.levels] + [0.0])


def _concurrency(m: Minutes, sel: Selection, noise: Noise) -> Series:
    means = _means(m)
    calls = _sum([s.inv for s in sel.streams], m.n)
    c = _sum([s.inv * means[s.level] for s in sel.streams], m.n) / 60_000.0
    return Series("gauge", gauge=np.where(calls > 0, peak_concurrency(c, calls), np.nan))


def _pc_gauge(utilisation: bool) -> Callable[[Minutes, Selection, Noise], Series]:
    def build(m: Minutes, sel: Selection, noise: Noise) -> Series:
        pcs = [p for p in m.pcs if sel.pc_entries is None or p.entry in sel.pc_entries]
        level = _sum([p.level for p in pcs], m.n)
        used = _sum([np.minimum(p.peak, p.level) for p in pcs], m.n)
        value = used / np.maximum(level, 1) if utilisation else used
        return Series("gauge", gauge=np.where(level > 0, value, np.nan))

    return build


def _pc_count(spill: bool) -> Callable[[Minutes, Selection, Noise], Series]:
    def build(m: Minutes, sel: Selection, noise: Noise) -> Series:
        events, samples = [], []
        for p in m.pcs:
            if sel.pc_entries is not None and p.entry not in sel.pc_entries:
                continue
            on = p.level > 0
            for s in filter(p.covers, m.streams):
                events.append(np.where(on, s.spill if spill else s.inv - s.spill, 0))
                samples.append(np.where(on, s.inv, 0))
        return _count(events, samples, m.n)

    return build


_LAMBDA: dict[str, Callable[[Minutes, Selection, Noise], Series]] = {
    "Invocations": lambda m, sel, nz: _count([s.inv for s in sel.streams], [s.inv for s in sel.streams], m.n),
    "Errors": lambda m, sel, nz: _count([s.errors for s in sel.streams], [s.inv for s in sel.streams], m.n),
    "Throttles": lambda m, sel, nz: _count([s.throttles for s in sel.streams], [s.req for s in sel.streams],
                                           m.n),
    "Duration": lambda m, sel, nz: _dist(m, sel.streams, lambda s: s.inv, lambda lv: lv.mean_ms, nz,
                                         capped=True),
    "ConcurrentExecutions": _concurrency,
    "ProvisionedConcurrencyUtilization": _pc_gauge(utilisation=True),
    "ProvisionedConcurrentExecutions": _pc_gauge(utilisation=False),
    "ProvisionedConcurrencySpilloverInvocations": _pc_count(spill=True),
    "ProvisionedConcurrencyInvocations": _pc_count(spill=False),
}


def _insights(metric: str, m: Minutes, sel: Selection, spec: FunctionSpec) -> Series | None:
    st = sel.streams
    if metric == "cpu_total_time":
        return _dist(m, st, lambda s: s.inv, lambda lv: lv.mean_ms * spec.cpu_fraction, spec.noise_model(),
                     capped=True)
    if metric == "memory_utilization":
        return _dist(m, st, lambda s: s.inv, lambda lv: 100 * lv.mem_used_mb / lv.memory_mb, MEM_NOISE)
    if metric == "used_memory_max":
        return _dist(m, st, lambda s: s.inv, lambda lv: lv.mem_used_mb, MEM_NOISE)
    if metric == "total_memory":
        return _dist(m, st, lambda s: s.inv, lambda lv: float(lv.memory_mb), EXACT)
    if metric == "init_duration":
        return _dist(m, st, lambda s: s.cold, lambda lv: lv.init_ms, INIT_NOISE)
    return None


def select(m: Minutes, function: str, dims: dict[str, str], namespace: str) -> Selection | None:
    """Streams the dimensions pick out; None when AWS would have no such metric.

    AWS/Lambda publishes three dimension sets: FunctionName; FunctionName + Resource (`name:alias` or
    `name:version`); and, for calls through an alias only, FunctionName + Resource (`name:alias`) +
    ExecutedVersion (the version that ran them, which is how a weighted alias's versions are told
    apart). ExecutedVersion without Resource is not a set AWS publishes, so it has no data here either.
    """
    if namespace == "LambdaInsights":
        return Selection(m.streams, None) if set(dims) == {"function_name"} else None
    rest = set(dims) - {"FunctionName"}
    if not rest:
        return Selection(m.streams, None)
    name, _, qualifier = dims.get("Resource", "").partition(":")
    entry = qualifier or LATEST
    if rest == {"Resource"} and name == function:
        return Selection(m.streams_for(resource=entry), {entry})
    by_alias = name == function and entry != LATEST and not entry.isdigit()
    if rest == {"Resource", "ExecutedVersion"} and by_alias:  # only alias invocations carry it
        return Selection(m.streams_for(resource=entry, executed=dims["ExecutedVersion"]), {entry})
    return None


def statistic(s: Series, stat: float | str, period_min: int, valid: np.ndarray, *, key: int,
              first_period: int) -> tuple[np.ndarray, np.ndarray]:
    """(period indices with data, values) for one statistic; `valid` masks minutes not yet elapsed."""
    n_periods = valid.size // period_min
    if s.kind == "gauge":
        assert s.gauge is not None
        g = np.where(valid, s.gauge, np.nan).reshape(n_periods, period_min)
        has = ~np.isnan(g).all(axis=1)
        return np.flatnonzero(has), _gauge_stat(g[has], stat)
    if s.kind == "count":
        assert s.events is not None and s.samples is not None
        ev = np.where(valid, s.events, 0).reshape(n_periods, period_min).sum(axis=1)
        sa = np.where(valid, s.samples, 0).reshape(n_periods, period_min).sum(axis=1)
        has = sa > 0
        return np.flatnonzero(has), _count_stat(ev[has], sa[has], stat)
    assert s.weights is not None and s.means is not None and s.noise is not None
    w = np.where(valid[:, None], s.weights, 0).reshape(n_periods, period_min, -1).sum(axis=1)
    has = w.sum(axis=1) > 0
    idx = np.flatnonzero(has)
    values = _dist_stat(w[has], s.means, s.noise, stat, key=key, periods=first_period + idx)
    if stat not in ("Sum", "SampleCount"):
        values = np.minimum(values, s.cap)
    return idx, values


def _gauge_stat(g: np.ndarray, stat: float | str) -> np.ndarray:
    if isinstance(stat, float):
        return np.asarray(np.nanquantile(g, stat, axis=1, method="inverted_cdf"), dtype=float)
    if stat == "Maximum":
        return np.asarray(np.nanmax(g, axis=1), dtype=float)
    if stat == "Minimum":
        return np.asarray(np.nanmin(g, axis=1), dtype=float)
    if stat == "Average":
        return np.asarray(np.nanmean(g, axis=1), dtype=float)
    if stat == "Sum":
        return np.asarray(np.nansum(g, axis=1), dtype=float)
    return np.asarray((~np.isnan(g)).sum(axis=1), dtype=float)


def _count_stat(events: np.ndarray, samples: np.ndarray, stat: float | str) -> np.ndarray:
    if isinstance(stat, float):
        return np.asarray(stat > 1 - events / samples, dtype=float)
    table: dict[str, np.ndarray] = {
        "Sum": events,
        "SampleCount": samples,
        "Average": events / samples,
        "Maximum": (events > 0).astype(float),
        "Minimum": (events >= samples).astype(float),
    }
    return table[stat]


def _dist_stat(w: np.ndarray, means: np.ndarray, noise: Noise, stat: float | str, *, key: int,
               periods: np.ndarray) -> np.ndarray:
    noises = [noise] * means.size
    u = hash_uniform(stable_key(key, "order"), periods)
    if isinstance(stat, float):
        return order_stat(stat, w, means, noises, u)
    n = w.sum(axis=1)
    if stat == "SampleCount":
        return np.asarray(n, dtype=float)
    if stat in ("Minimum", "Maximum"):
        return order_stat(0.0 if stat == "Minimum" else 1.0, w, means, noises, u)
    lo, hi = order_stat(0.0, w, means, noises, u), order_stat(1.0, w, means, noises, u)
    avg = sample_mean(w, means, noises, hash_uniform(stable_key(key, "mean"), periods), lo=lo, hi=hi)
    return np.asarray(avg * n if stat == "Sum" else avg, dtype=float)
