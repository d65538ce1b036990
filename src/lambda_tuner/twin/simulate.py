"""Minute-by-minute behaviour of one function over a window, from its spec and configuration history.

Nothing here is per invocation: each minute holds counts (requests, invocations, errors, throttles,
spill-over past provisioned concurrency, cold starts) per *stream* — one (entry qualifier, executed
version) pair — and the index of the *level* (memory, mean duration, ...) in force, so metric and log
queries aggregate arrays instead of samples.

Models, chosen to be simple and explainable:
- Splitting a minute's requests between streams (alias routing, several entry points) uses systematic
  rounding of cumulative shares: exact in expectation and the parts always sum to the total.
- Concurrency in a minute = invocations × mean duration / 60,000; its peak adds a burst margin of
  1.5·√c (at most one instance per call).
- Cold starts: a warm pool per stream. Instances stay warm 10 minutes after use; a minute needing more
  instances than were busy in the previous 10 minutes (of the same configuration — a memory change or
  a new version discards warm instances) starts the difference cold. Instances are also recycled after
  about 3 hours. Provisioned-concurrency instances are always warm: only spill-over can start cold.
- Provisioned concurrency on an entry (alias or version) serves its calls first; the spill-over share
  is E[(X - pc)+] / c for Poisson concurrency X of mean c (normal approximation).
- Reserved concurrency (from the spec or `World.set_reserved_concurrency`) throttles the share of
  demand above it in the same way; throttled requests are not invocations.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np

from lambda_tuner.twin.sampling import (
    excess_fraction,
    hash_uniform,
    peak_concurrency,
    random_round,
    stable_key,
)
from lambda_tuner.twin.spec import LATEST, FunctionSpec

WARM_MINUTES = 10
RECYCLE_MINUTES = 180.0

Routing = tuple[tuple[str, float], ...]
T = TypeVar("T")


@dataclass
class History(Generic[T]):
    """A value that changes at given times (seconds since 1970), constant in between."""

    initial: T
    times: list[float] = field(default_factory=list)
    values: list[T] = field(default_factory=list)

    def change(self, at_s: float, value: T) -> None:
        i = bisect.bisect_right(self.times, at_s)
        self.times.insert(i, at_s)
        self.values.insert(i, value)

    def at(self, t_s: float) -> T:
        i = bisect.bisect_right(self.times, t_s)
        return self.values[i - 1] if i else self.initial

    def per_minute(self, start: int, n: int, missing: float = 0.0) -> np.ndarray:
        """The value in force in each minute [start, start + n), as floats (None -> `missing`)."""
        out = np.empty(n)
        bounds = sorted({start, start + n} | self.minute_boundaries(start, start + n))
        for s0, s1 in itertools.pairwise(bounds):
            value = self.at(s0 * 60.0)
            out[s0 - start:s1 - start] = missing if value is None else float(value)  # type: ignore[arg-type]
        return out

    def minute_boundaries(self, a: int, b: int) -> set[int]:
        """Minutes in (a, b) from which a changed value applies (a change inside a minute: the next)."""
        return {m for t in self.times if a < (m := math.ceil(t / 60)) < b}


@dataclass
class Timeline:
    """Configuration history of one function: memory per version, aliases, PC, injected regressions."""

    memory: dict[str, History[int]]
    alias: dict[str, History[tuple[str, Routing]]]  # alias -> (version, routing)
    pc: dict[str, History[int]]  # alias or version -> level
    regression: History[tuple[float, float | None]]  # (duration factor, error rate or None)
    reserved: History[int | None]  # reserved concurrency; None: the function uses the unreserved pool
    revision: int = 0

    @classmethod
    def of(cls, spec: FunctionSpec) -> Timeline:
        memory = {v: History(spec.memory_mb) for v in (LATEST, *spec.versions)}
        alias = {a.name: History((a.version, a.routing)) for a in spec.aliases}
        pc = {a.name: History(a.pc) for a in spec.aliases}
        regression: History[tuple[float, float | None]] = History((1.0, None))
        reserved: History[int | None] = History(spec.reserved_concurrency)
        return cls(memory=memory, alias=alias, pc=pc, regression=regression, reserved=reserved)

    def all_histories(self) -> list[History[Any]]:
        return [*self.memory.values(), *self.alias.values(), *self.pc.values(), self.regression,
                self.reserved]


@dataclass(frozen=True)
class Level:
    version: str
    memory_mb: int
    mean_ms: float
    error_p: float
    init_ms: float
    mem_used_mb: float
    timeout_ms: float  # no call runs longer: Lambda stops it and reports an error


@dataclass
class Stream:
    entry: str  # the qualifier the caller invoked ($LATEST, a version or an alias)
    version: str  # the version that ran
    level: np.ndarray  # index into Minutes.levels, -1 where the stream gets no traffic
    req: np.ndarray
    inv: np.ndarray
    errors: np.ndarray
    throttles: np.ndarray
    spill: np.ndarray  # invocations not served by provisioned concurrency
    cold_fn: Callable[[], np.ndarray] | None = None
    _cold: np.ndarray | None = None

    @property
    def cold(self) -> np.ndarray:
        """Cold starts per minute, computed on first use (metric queries rarely need them)."""
        if self._cold is None:
            assert self.cold_fn is not None
            self._cold, self.cold_fn = self.cold_fn(), None
        return self._cold


@dataclass
class EntryPC:
    entry: str  # the alias or version PC is configured on
    level: np.ndarray  # PC configured per minute
    peak: np.ndarray  # peak concurrency of the calls it serves

    def covers(self, s: Stream) -> bool:
        """PC on an alias serves calls to the alias; PC on a version also serves aliases routed to it."""
        return self.entry in (s.entry, s.version)


@dataclass
class Minutes:
    start: int  # first minute (since 1970)
    n: int
    levels: list[Level]
    streams: list[Stream]
    pcs: list[EntryPC]

    def streams_for(self, resource: str | None = None, executed: str | None = None) -> list[Stream]:
        out = self.streams
        if resource is not None:
            out = [s for s in out if s.entry == resource]
        if executed is not None:
            out = [s for s in out if s.version == executed and s.entry != LATEST]
        return out


def simulate(spec: FunctionSpec, tl: Timeline, key: int, start: int, n: int) -> Minutes:
    """The minutes [start, start + n) of one function (with a warm-pool lead computed and dropped)."""
    a = start - WARM_MINUTES
    total = n + WARM_MINUTES
    minutes = np.arange(a, a + total, dtype=np.int64)
    req_total = np.asarray(spec.traffic.counts(a, total), dtype=np.int64)
    levels: list[Level] = []
    level_ids: dict[Level, int] = {}
    shares: dict[tuple[str, str], np.ndarray] = {}
    lvl: dict[tuple[str, str], np.ndarray] = {}
    bounds = sorted({a, a + total} | set().union(*(h.minute_boundaries(a, a + total)
                                                   for h in tl.all_histories())))
    for s0, s1 in itertools.pairwise(bounds):
        t = s0 * 60.0
        for entry, share in spec.invoked:
            for version, weight in _route(tl, entry, t):
                level = _level(spec, tl, version, t)
                idx = level_ids.setdefault(level, len(levels))
                if idx == len(levels):
                    levels.append(level)
                pair = (entry, version)
                shares.setdefault(pair, np.zeros(total))[s0 - a:s1 - a] += share * weight
                lvl.setdefault(pair, np.full(total, -1, dtype=np.int64))[s0 - a:s1 - a] = idx
    pairs = list(shares)
    means = np.array([lv.mean_ms for lv in levels] + [0.0])  # index -1 -> 0 ms
    req = ([req_total] if len(pairs) == 1
           else _split(req_total, [shares[p] for p in pairs],
                       hash_uniform(stable_key(key, "split"), minutes)))
    streams = []
    for i, pair in enumerate(pairs):
        streams.append(_stream(key, i, pair, level=lvl[pair], req=req[i], levels=levels, minutes=minutes))
    reserved = tl.reserved.per_minute(a, total, missing=np.inf)
    if np.isfinite(reserved).any():
        _throttle(streams, means, reserved, key, minutes)
    pcs = _provisioned(tl, streams, means, key, minutes)
    for i, s in enumerate(streams):
        s.cold_fn = _lazy_cold(s, means, key, i, minutes)
    return _drop_lead(Minutes(start=a, n=total, levels=levels, streams=streams, pcs=pcs))


def _route(tl: Timeline, entry: str, t: float) -> list[tuple[str, float]]:
    if entry in tl.alias:
        version, routing = tl.alias[entry].at(t)
        extra = list(routing)
        return [(version, 1.0 - sum(w for _, w in extra)), *extra]
    return [(entry, 1.0)]


def _level(spec: FunctionSpec, tl: Timeline, version: str, t: float) -> Level:
    history = tl.memory.get(version)
    memory = history.at(t) if history is not None else spec.memory_mb
    factor, error_rate = tl.regression.at(t)
    mean = spec.mean_ms(memory) * float(factor)
    error_p = spec.error_rate if error_rate is None else float(error_rate)
    timeout_ms = spec.timeout_s * 1000.0
    over = 1.0 - float(spec.noise_model().cdf(np.array([timeout_ms / mean]))[0])
    error_p = max(error_p, over)
    if spec.oom_floor_mb is not None and memory < spec.oom_floor_mb:
        error_p = 1.0
    return Level(version=version, memory_mb=memory, mean_ms=min(mean, timeout_ms), error_p=error_p,
                 init_ms=spec.init_at(memory), mem_used_mb=spec.max_memory_used(memory),
                 timeout_ms=timeout_ms)


def _split(total: np.ndarray, shares: list[np.ndarray], u: np.ndarray) -> list[np.ndarray]:
    cum = np.zeros(total.shape)
    prev = np.zeros(total.shape, dtype=np.int64)
    parts = []
    for i, share in enumerate(shares):
        cum = np.round(cum + share, 9)  # shares summing to 1 must give exactly the total
        upto = total if i == len(shares) - 1 else np.minimum(random_round(total * cum, u), total)
        upto = np.maximum(upto, prev)
        parts.append(upto - prev)
        prev = upto
    return parts


def _stream(key: int, i: int, pair: tuple[str, str], *, level: np.ndarray, req: np.ndarray,
            levels: list[Level], minutes: np.ndarray) -> Stream:
    err_p = np.array([lv.error_p for lv in levels] + [0.0])[level]
    zero = np.zeros(req.shape, dtype=np.int64)
    s = Stream(entry=pair[0], version=pair[1], level=level, req=req, inv=req.copy(), errors=zero,
               throttles=zero.copy(), spill=req.copy())
    if err_p.any():  # most functions never fail: skip drawing
        s.errors = random_round(s.inv * err_p, hash_uniform(stable_key(key, "errors", i), minutes))
    return s


def _throttle(streams: list[Stream], means: np.ndarray, reserved: np.ndarray, key: int,
              minutes: np.ndarray) -> None:
    c = sum(s.req * means[s.level] for s in streams) / 60_000.0
    limited = np.isfinite(reserved)
    excess = excess_fraction(np.asarray(c, dtype=float), np.where(limited, reserved, 0.0))
    frac = np.where(limited, excess, 0.0)
    for i, s in enumerate(streams):
        s.throttles = np.minimum(random_round(s.req * frac, hash_uniform(stable_key(key, "thr", i), minutes)),
                                 s.req)
        s.inv = s.req - s.throttles
        s.errors = np.minimum(s.errors, s.inv)
        s.spill = s.inv.copy()


def _provisioned(tl: Timeline, streams: list[Stream], means: np.ndarray, key: int,
                 minutes: np.ndarray) -> list[EntryPC]:
    out = []
    for entry, history in tl.pc.items():
        level = history.per_minute(int(minutes[0]), minutes.size)
        if not level.any():
            continue
        probe = EntryPC(entry, level, level)
        mine = [s for s in streams if probe.covers(s)]
        calls = sum((s.inv for s in mine), np.zeros(minutes.shape, dtype=np.int64))
        c = sum((s.inv * means[s.level] for s in mine), np.zeros(minutes.shape)) / 60_000.0
        frac = excess_fraction(c, level)
        for s in mine:
            u = hash_uniform(stable_key(key, "spill", s.entry, s.version), minutes)
            s.spill = np.minimum(random_round(s.inv * frac, u), s.inv)
        out.append(EntryPC(entry=entry, level=level, peak=peak_concurrency(c, calls)))
    return out


def _lazy_cold(s: Stream, means: np.ndarray, key: int, i: int,
               minutes: np.ndarray) -> Callable[[], np.ndarray]:
    spill, level = s.spill, s.level  # full arrays, lead included

    def compute() -> np.ndarray:
        u = hash_uniform(stable_key(key, "recycle", i), minutes)
        return _cold_starts(spill, level, means, u)[WARM_MINUTES:]

    return compute


def _cold_starts(spill: np.ndarray, level: np.ndarray, means: np.ndarray, u: np.ndarray) -> np.ndarray:
    need = peak_concurrency(spill * means[level] / 60_000.0, spill)
    warm = np.zeros(need.shape)
    for k in range(1, WARM_MINUTES + 1):
        prev = np.concatenate([np.zeros(k), need[:-k]])
        same = np.concatenate([np.full(k, -2), level[:-k]]) == level
        warm = np.maximum(warm, np.where(same, prev, 0.0))
    cold = np.maximum(need - warm, 0) + random_round(need / RECYCLE_MINUTES, u)
    return np.asarray(np.minimum(cold.astype(np.int64), spill), dtype=np.int64)


def _drop_lead(m: Minutes) -> Minutes:
    cut = slice(WARM_MINUTES, None)
    for s in m.streams:
        for name in ("level", "req", "inv", "errors", "throttles", "spill"):
            setattr(s, name, getattr(s, name)[cut])
    for p in m.pcs:
        p.level, p.peak = p.level[cut], p.peak[cut]
    return Minutes(start=m.start + WARM_MINUTES, n=m.n - WARM_MINUTES, levels=m.levels, streams=m.streams,
                   pcs=m.pcs)
