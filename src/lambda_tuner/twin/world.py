"""The twin's ground truth: a fleet of simulated functions over simulated time.

The server asks the World what AWS would show — metric series, Logs Insights aggregates over REPORT
records, REPORT lines — and tells it about configuration changes. Everything is lazy: constructing a
World over 10,000 functions simulates nothing; a query simulates only the functions it names, for the
window it asks, and the same seed and calls always give the same answers.

Time: minutes are counted since 1970-01-01Z; a configuration change at t applies from the first whole
minute starting at or after t (`memory_at(t)` itself answers exactly). Only whole minutes before `now`
have data.
"""

from __future__ import annotations

import math
from collections import Counter, OrderedDict
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from lambda_tuner.twin import insights as insights_mod
from lambda_tuner.twin import reportlines
from lambda_tuner.twin.metricdata import Series, parse_stat, select, series, statistic
from lambda_tuner.twin.sampling import Noise, stable_key
from lambda_tuner.twin.shapes import MAX_MB, MIN_MB
from lambda_tuner.twin.simulate import History, Minutes, Timeline, simulate
from lambda_tuner.twin.spec import LATEST, FunctionSpec

NAMESPACES = ("AWS/Lambda", "LambdaInsights")
_CACHE_SIZE = 64


class World:
    def __init__(  # noqa: PLR0917 - the contract the server codes against
        self, specs: list[FunctionSpec], seed: int, epoch: datetime, now: datetime | None = None,
        account: str = "123456789012", region: str = "us-east-1",
    ) -> None:
        self.specs: dict[str, FunctionSpec] = {}
        for spec in specs:
            if spec.name in self.specs:
                raise ValueError(f"duplicate function name {spec.name!r}")
            self.specs[spec.name] = spec
        self.seed = seed
        self.epoch = _utc(epoch, "epoch")
        self.now: datetime = _utc(now, "now") if now is not None else self.epoch
        self.account, self.region = account, region
        self.evaluated: Counter[str] = Counter()  # simulations run per function (observable laziness)
        self._timelines: dict[str, Timeline] = {}
        self._noise: dict[str, Noise] = {}
        self._cache: OrderedDict[tuple[str, int, int, int], Minutes] = OrderedDict()
        self._grids: dict[tuple[int, int, int], list[datetime]] = {}
        self._by_group: dict[str, list[str]] | None = None

    # ---------------------------------------------------------------- clock and configuration

    def advance(self, to: datetime) -> None:
        to = _utc(to, "to")
        if to < self.now:
            raise ValueError(f"the simulated clock only moves forward: {to} < {self.now}")
        self.now = to

    def set_memory(self, name: str, memory_mb: int, at: datetime | None = None,
                   qualifier: str | None = None) -> None:
        if not MIN_MB <= memory_mb <= MAX_MB:
            raise ValueError(f"memory_mb must be within {MIN_MB}–{MAX_MB}, got {memory_mb}")
        tl, t = self.timeline(name), self._at(at)
        version = self._version(name, qualifier, t)
        tl.memory.setdefault(version, History(self.specs[name].memory_mb)).change(t, int(memory_mb))
        self._changed(tl)

    def set_pc(self, name: str, qualifier: str, level: int, at: datetime | None = None) -> None:
        if qualifier in ("", LATEST):
            raise ValueError("provisioned concurrency needs an alias or a published version, not $LATEST")
        if level < 0:
            raise ValueError(f"provisioned concurrency must be >= 0, got {level}")
        tl = self.timeline(name)
        tl.pc.setdefault(qualifier, History(0)).change(self._at(at), int(level))
        self._changed(tl)

    def set_reserved_concurrency(self, name: str, level: int | None, at: datetime | None = None) -> None:
        """From `at`, calls beyond `level` concurrent executions are throttled (None: no reservation)."""
        if level is not None and level < 0:
            raise ValueError(f"reserved concurrency must be >= 0, got {level}")
        tl = self.timeline(name)
        tl.reserved.change(self._at(at), level)
        self._changed(tl)

    def point_alias(self, name: str, alias: str, version: str, routing: dict[str, float] | None = None,
                    at: datetime | None = None) -> None:
        """Move (or create) an alias: from `at` it runs `version`, plus `routing` weights to others."""
        weights = tuple(sorted((routing or {}).items()))
        if sum(w for _, w in weights) >= 1 or any(w < 0 for _, w in weights):
            raise ValueError(f"routing weights must be >= 0 and sum below 1, got {routing}")
        tl = self.timeline(name)
        empty: tuple[tuple[str, float], ...] = ()
        tl.alias.setdefault(alias, History((version, empty))).change(self._at(at), (version, weights))
        self._changed(tl)

    def inject_regression(self, name: str, factor: float, at: datetime | None = None,
                          error_rate: float | None = None) -> None:
        """From `at`, durations are `factor` × the truth; the error rate becomes `error_rate` if given."""
        if factor <= 0 or (error_rate is not None and not 0 <= error_rate <= 1):
            raise ValueError("factor must be > 0 and error_rate within [0, 1]")
        tl = self.timeline(name)
        tl.regression.change(self._at(at), (float(factor), error_rate))
        self._changed(tl)

    def memory_at(self, name: str, t: datetime, qualifier: str | None = None) -> int:
        ts = _utc(t, "t").timestamp()
        history = self.timeline(name).memory.get(self._version(name, qualifier, ts))
        return history.at(ts) if history else self.specs[name].memory_mb

    def pc_at(self, name: str, qualifier: str, t: datetime) -> int:
        history = self.timeline(name).pc.get(qualifier)
        return history.at(_utc(t, "t").timestamp()) if history else 0

    def alias_at(self, name: str, alias: str, t: datetime) -> tuple[str, dict[str, float]]:
        history = self.timeline(name).alias.get(alias)
        if history is None:
            raise ValueError(f"{name} has no alias {alias!r}")
        version, routing = history.at(_utc(t, "t").timestamp())
        return version, dict(routing)

    def truth(self, name: str) -> FunctionSpec:
        return self._spec(name)

    # ---------------------------------------------------------------- queries

    def metric_data(self, queries: list[dict[str, Any]], start: datetime, end: datetime, *,
                    until: datetime | None = None) -> list[dict[str, Any]]:
        """Datapoints of whole minutes before `now`, as CloudWatch shows them.

        `until` moves that limit to a later time: the twin's alarms look ahead within one `advance`
        (its clock still at the advance's start) for the first moment an alarm would act. The answer
        is what the same query will give once the clock reaches `until`, if no configuration changes.
        """
        start, end = _utc(start, "start"), _utc(end, "end")
        if end <= start:
            raise ValueError("end must be after start")
        horizon = self.now if until is None else max(self.now, _utc(until, "until"))
        plans = [self._plan(q, start, end) for q in queries]
        now_minute = math.floor(horizon.timestamp() / 60)
        windows: dict[str, tuple[int, int]] = {}
        for plan in plans:
            if plan and plan["function"] in self.specs:
                pm = plan["period_min"]  # nothing to simulate past the period that holds `now`
                plan["b"] = max(plan["a"], min(plan["b"], math.ceil((now_minute + 1) / pm) * pm))
                a, b = windows.get(plan["function"], (plan["a"], plan["b"]))
                windows[plan["function"]] = (min(a, plan["a"]), max(b, plan["b"]))
        results = []
        memo: dict[tuple[object, ...], Series | None] = {}  # several statistics of one series share it
        for query, plan in zip(queries, plans, strict=True):
            if query.get("ReturnData", True) is False:
                continue
            label = query.get("Label") or (plan["metric"] if plan else query.get("Id", ""))
            result = {"id": query.get("Id"), "label": label, "timestamps": [], "values": [],
                      "status_code": "Complete" if plan else "InternalError"}
            if plan and plan["function"] in self.specs and plan["b"] > plan["a"]:
                wa, wb = windows[plan["function"]]
                m = self.minutes(plan["function"], wa, wb - wa)
                ts, vals = self._answer(plan, m, now_minute, memo)
                result["timestamps"], result["values"] = ts, vals
            results.append(result)
        return results

    def insights(self, query: str, log_groups: list[str], start: datetime,
                 end: datetime) -> tuple[list[list[dict[str, str]]], dict[str, float]]:
        return insights_mod.run(self, query, log_groups, _utc(start, "start"), _utc(end, "end"))

    def report_lines(self, name: str, start: datetime, end: datetime, limit: int = 50) -> list[str]:
        return reportlines.lines(self, self._spec(name), _utc(start, "start"), _utc(end, "end"), limit)

    # ---------------------------------------------------------------- shared with insights/reportlines

    def timeline(self, name: str) -> Timeline:
        spec = self._spec(name)
        if name not in self._timelines:
            self._timelines[name] = Timeline.of(spec)
        return self._timelines[name]

    def noise(self, name: str) -> Noise:
        if name not in self._noise:
            self._noise[name] = self._spec(name).noise_model()
        return self._noise[name]

    def key(self, name: str) -> int:
        return stable_key(self.seed, name)

    def minutes(self, name: str, start_minute: int, n: int) -> Minutes:
        """The simulated minutes [start_minute, start_minute + n) of a function (cached)."""
        tl = self.timeline(name)
        cache_key = (name, start_minute, n, tl.revision)
        if cache_key in self._cache:
            self._cache.move_to_end(cache_key)
            return self._cache[cache_key]
        self.evaluated[name] += 1
        result = simulate(self._spec(name), tl, self.key(name), start_minute, n)
        self._cache[cache_key] = result
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return result

    def functions_in_group(self, log_group: str) -> list[str]:
        """Functions writing to a log group (several may share a custom one)."""
        if self._by_group is None:
            self._by_group = {}
            for name, spec in self.specs.items():
                self._by_group.setdefault(spec.log_group_name, []).append(name)
        return self._by_group.get(log_group, [])

    def valid_minutes(self, start_minute: int, n: int) -> np.ndarray:
        """Mask of minutes that have fully elapsed by `now`."""
        now_minute = math.floor(self.now.timestamp() / 60)
        return np.arange(start_minute, start_minute + n) < now_minute

    # ---------------------------------------------------------------- internals

    def _spec(self, name: str) -> FunctionSpec:
        try:
            return self.specs[name]
        except KeyError:
            raise ValueError(f"no function named {name!r} in this world") from None

    def _at(self, at: datetime | None) -> float:
        return (self.now if at is None else _utc(at, "at")).timestamp()

    def _version(self, name: str, qualifier: str | None, t: float) -> str:
        if qualifier in (None, "", LATEST):
            return LATEST
        assert qualifier is not None
        alias = self.timeline(name).alias.get(qualifier)
        return alias.at(t)[0] if alias else qualifier

    def _changed(self, tl: Timeline) -> None:
        tl.revision += 1

    def _plan(self, query: dict[str, Any], start: datetime, end: datetime) -> dict[str, Any] | None:
        try:
            return self._plan_stat(query, start, end)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"query {query.get('Id')!r} is malformed: missing or bad {exc}") from exc

    def _plan_stat(self, query: dict[str, Any], start: datetime, end: datetime) -> dict[str, Any] | None:
        stat_block = query.get("MetricStat")
        if not stat_block:
            return None  # metric math: the agent does not use it
        metric = stat_block["Metric"]
        namespace, name = metric.get("Namespace"), metric.get("MetricName", "")
        dims = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
        period = int(stat_block["Period"])
        if period <= 0 or period % 60:
            raise ValueError(f"query {query.get('Id')}: Period must be a positive multiple of 60, "
                             f"got {period}")
        pm = period // 60
        a = math.floor(start.timestamp() / 60 / pm) * pm
        b = math.ceil(end.timestamp() / 60 / pm) * pm
        function = dims.get("FunctionName") or dims.get("function_name") or ""
        ok = namespace in NAMESPACES
        return {"function": function if ok else "", "metric": name, "namespace": namespace, "dims": dims,
                "stat": parse_stat(stat_block["Stat"]), "period_min": pm, "a": a, "b": b}

    def _answer(self, plan: dict[str, Any], m: Minutes, now_minute: int,
                memo: dict[tuple[object, ...], Series | None]) -> tuple[list[datetime], list[float]]:
        name = plan["function"]
        dims = tuple(sorted(plan["dims"].items()))
        memo_key = (name, plan["namespace"], plan["metric"], dims, m.start, m.n)
        if memo_key not in memo:
            sel = select(m, name, plan["dims"], plan["namespace"])
            memo[memo_key] = None if sel is None else series(
                plan["namespace"], plan["metric"], m, sel, spec=self.specs[name], noise=self.noise(name))
        s = memo[memo_key]
        if s is None:
            return [], []
        off, n = plan["a"] - m.start, plan["b"] - plan["a"]
        sliced = _slice(s, off, n)
        valid = np.arange(plan["a"], plan["b"]) < now_minute
        pm = plan["period_min"]
        key = stable_key(self.key(name), plan["namespace"], plan["metric"], sorted(plan["dims"].items()), pm)
        idx, values = statistic(sliced, plan["stat"], pm, valid, key=key, first_period=plan["a"] // pm)
        grid = self._grid(plan["a"], pm, n // pm)
        return [grid[i] for i in idx[::-1].tolist()], values[::-1].tolist()

    def _grid(self, a: int, pm: int, count: int) -> list[datetime]:
        """Period start times, built once per (start, period) and shared by all queries of a call."""
        key = (a, pm, count)
        if key not in self._grids:
            first = datetime.fromtimestamp(a * 60, tz=UTC)
            step = timedelta(minutes=pm)
            self._grids = {key: [first + step * i for i in range(count)]}
        return self._grids[key]


def _slice(s: Series, off: int, n: int) -> Series:
    def cut(a: np.ndarray | None) -> np.ndarray | None:
        return None if a is None else a[off:off + n]

    return replace(s, events=cut(s.events), samples=cut(s.samples), weights=cut(s.weights),
                   gauge=cut(s.gauge))


def _utc(t: datetime, what: str) -> datetime:
    if t.tzinfo is None:
        raise ValueError(f"{what} must be timezone-aware (UTC), got naive {t}")
    return t.astimezone(UTC)


def minute_of(t: datetime) -> int:
    return math.floor(t.timestamp() / 60)


def time_of(minute: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(minutes=minute)
