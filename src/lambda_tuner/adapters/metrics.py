"""Reading CloudWatch metrics in as few GetMetricData calls as AWS's limits allow.

One GetMetricData call takes at most 500 queries and returns at most 100,800 datapoints (more come back
behind NextToken). The collector knows how many datapoints each query can return (hourly series have at
most one point per hour in which the function ran), so `plan_batches` packs queries until either limit
would be reached; NextToken is still honoured for the rare series that has more points than estimated.

A call can succeed while single queries in it fail: each result carries a StatusCode (`InternalError`,
`Forbidden`, or `PartialData` with more behind NextToken). A query whose last result is not `Complete` is
recorded as failed, never as an empty series: to the collector, no datapoints means no invocations.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping, Sequence, ValuesView
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lambda_tuner.adapters import aws

MAX_QUERIES_PER_CALL = 500
MAX_DATAPOINTS_PER_CALL = 100_800


class MetricsError(Exception):
    """A GetMetricData call failed after the client's own retries."""


@dataclass(frozen=True)
class MetricQuery:
    key: tuple[str, ...]  # the caller's name for this series, e.g. (function, "p99")
    namespace: str
    metric: str
    dimensions: tuple[tuple[str, str], ...]
    stat: str
    period: int
    expected_points: int

    def to_api(self, query_id: str) -> dict[str, Any]:
        return {
            "Id": query_id,
            "MetricStat": {
                "Metric": {"Namespace": self.namespace, "MetricName": self.metric,
                           "Dimensions": [{"Name": n, "Value": v} for n, v in self.dimensions]},
                "Period": self.period, "Stat": self.stat,
            },
            "ReturnData": True,
        }


class PointSeries(Mapping[datetime, float]):
    """One series as two packed arrays (16 bytes a point, not ~150 for a dict of datetimes): a 10,000
    function cycle holds tens of millions of points."""

    __slots__ = ("_t", "_v")

    def __init__(self, points: Iterable[tuple[datetime, float]] = ()) -> None:
        merged = dict(sorted((int(t.timestamp()), float(v)) for t, v in points))
        self._t = array("q", merged.keys())
        self._v = array("d", merged.values())

    def _index(self, key: object) -> int:
        if isinstance(key, datetime):
            ts = int(key.timestamp())
            i = bisect_left(self._t, ts)
            if i < len(self._t) and self._t[i] == ts:
                return i
        return -1

    def __getitem__(self, key: datetime) -> float:
        i = self._index(key)
        if i < 0:
            raise KeyError(key)
        return self._v[i]

    def __contains__(self, key: object) -> bool:
        return self._index(key) >= 0

    def __iter__(self) -> Iterator[datetime]:
        return (datetime.fromtimestamp(ts, UTC) for ts in self._t)

    def __len__(self) -> int:
        return len(self._t)

    def values(self) -> ValuesView[float]:
        return _Values(self._v)


class _Values(ValuesView[float]):
    def __init__(self, values: array[float]) -> None:
        self._values = values

    def __iter__(self) -> Iterator[float]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, value: object) -> bool:
        return value in self._values


@dataclass
class MetricResults:
    series: dict[tuple[str, ...], PointSeries] = field(default_factory=dict)
    failed: dict[tuple[str, ...], str] = field(default_factory=dict)  # key -> why
    calls: int = 0
    queries: int = 0


def plan_batches(
    queries: Iterable[MetricQuery],
    max_queries: int = MAX_QUERIES_PER_CALL,
    max_points: int = MAX_DATAPOINTS_PER_CALL,
) -> list[list[MetricQuery]]:
    """Pack queries so that both limits bind together: as few calls as max(queries/500, points/100,800).

    Long series are taken largest first up to an even share of the points; the call's spare query slots
    are then filled with the shortest series, which cost almost no points. Packing only by points leaves
    the short series for last, in calls bound by the 500-query limit; packing only by count overflows.
    """
    ordered = sorted(queries, key=lambda q: -q.expected_points)
    if not ordered:
        return []

    def need(q: MetricQuery) -> int:
        return min(max(q.expected_points, 1), max_points)

    total = sum(need(q) for q in ordered)
    calls = max(math.ceil(len(ordered) / max_queries), math.ceil(total / max_points))
    share = math.ceil(total / calls)
    batches: list[list[MetricQuery]] = []
    i, j = 0, len(ordered) - 1
    while i <= j:
        batch, points = [ordered[i]], need(ordered[i])
        i += 1
        while i <= j and len(batch) < max_queries and points + need(ordered[i]) <= share:
            points += need(ordered[i])
            batch.append(ordered[i])
            i += 1
        while i <= j and len(batch) < max_queries and points + need(ordered[j]) <= max_points:
            points += need(ordered[j])
            batch.append(ordered[j])
            j -= 1
        batches.append(batch)
    return batches


def fetch(
    queries: Sequence[MetricQuery], start: datetime, end: datetime, *, client: Any = None, threads: int = 4,
) -> MetricResults:
    """Every series asked for; a batch that fails is recorded per query and the others go on."""
    cw = client or aws.client("cloudwatch")
    results = MetricResults(queries=len(queries))
    batches = plan_batches(queries)
    with ThreadPoolExecutor(max_workers=max(1, min(threads, len(batches)))) as pool:
        for outcome in pool.map(lambda b: _one_batch(cw, b, start, end), batches):
            calls, series, failed = outcome
            results.calls += calls
            results.failed.update(failed)
            results.series.update(series)
    return results


def _one_batch(
    cw: Any, batch: list[MetricQuery], start: datetime, end: datetime
) -> tuple[int, dict[tuple[str, ...], PointSeries], dict[tuple[str, ...], str]]:
    """The batch's series, and why each failed query failed (all of them when the call itself failed)."""
    by_id = {f"q{i}": q for i, q in enumerate(batch)}
    series: dict[tuple[str, ...], list[tuple[datetime, float]]] = {q.key: [] for q in batch}
    status: dict[tuple[str, ...], str | None] = {}  # the query's last result: None when Complete
    request: dict[str, Any] = {
        "MetricDataQueries": [q.to_api(i) for i, q in by_id.items()],
        "StartTime": start, "EndTime": end, "ScanBy": "TimestampAscending",
    }
    calls = 0
    try:
        while True:
            calls += 1
            page = cw.get_metric_data(**request)
            for result in page.get("MetricDataResults", []):
                query = by_id.get(result["Id"])
                if query is not None:
                    series[query.key].extend(
                        zip(result.get("Timestamps", []), result.get("Values", []), strict=False))
                    status[query.key] = _not_complete(result)
            token = page.get("NextToken")
            if not token:
                failed = {k: why for k, why in status.items() if why is not None}
                return calls, {k: PointSeries(v) for k, v in series.items() if k not in failed}, failed
            request["NextToken"] = token  # PartialData: the rest of those series is behind it
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        return calls, {}, dict.fromkeys(series, f"GetMetricData {code}: {exc}")
    except BotoCoreError as exc:
        return calls, {}, dict.fromkeys(series, f"GetMetricData: {exc}")


def _not_complete(result: Mapping[str, Any]) -> str | None:
    """Why one query's result cannot be used whole (None: it can). A result without a StatusCode (only
    stubs and fakes send one) counts as complete."""
    code = result.get("StatusCode") or "Complete"
    if code == "Complete":
        return None
    said = "; ".join(str(m.get("Value") or m.get("Code") or "") for m in result.get("Messages") or [])
    return f"GetMetricData status {code}" + (f": {said}" if said else "")


# ---------------------------------------------------------------- what the collector asks for

_LAMBDA = "AWS/Lambda"
# series name -> (metric, stat)
DURATION_SERIES = {
    "avg": ("Duration", "Average"), "p50": ("Duration", "p50"), "p95": ("Duration", "p95"),
    "p99": ("Duration", "p99"), "max": ("Duration", "Maximum"), "err": ("Errors", "Sum"),
    "thr": ("Throttles", "Sum"),
}
PC_SERIES = {
    "pcu": ("ProvisionedConcurrencyUtilization", "Maximum"),
    "pcs": ("ProvisionedConcurrencySpilloverInvocations", "Sum"),
    "pce": ("ProvisionedConcurrentExecutions", "Maximum"),
}
INSIGHTS_SERIES = {
    "ins_init": ("init_duration", "Average"), "ins_cold": ("init_duration", "SampleCount"),
    "ins_mem": ("memory_utilization", "Maximum"), "ins_cpu": ("cpu_total_time", "Average"),
}


def _dims(function: str, qualifier: str) -> tuple[tuple[str, str], ...]:
    if qualifier:
        return (("FunctionName", function), ("Resource", f"{function}:{qualifier}"))
    return (("FunctionName", function),)


def invocations_query(function: str, qualifier: str, period: int, points: int) -> MetricQuery:
    return MetricQuery((function, qualifier, "inv"), _LAMBDA, "Invocations", _dims(function, qualifier),
                       "Sum", period, points)


def detail_queries(function: str, qualifier: str, period: int, points: int) -> list[MetricQuery]:
    """Duration statistics, errors and throttles for the function, or for one alias of it."""
    dims = _dims(function, qualifier)
    return [MetricQuery((function, qualifier, name), _LAMBDA, metric, dims, stat, period, points)
            for name, (metric, stat) in DURATION_SERIES.items()]


def version_queries(function: str, alias: str, version: str, period: int, points: int) -> list[MetricQuery]:
    """Calls, duration statistics, errors and throttles of the calls an alias routed to one of its versions.

    AWS Lambda publishes alias invocations under FunctionName + Resource (<function>:<alias>) +
    ExecutedVersion as well: the series a weighted alias's canary is judged by, one per version."""
    dims = (*_dims(function, alias), ("ExecutedVersion", version))
    return [MetricQuery((function, alias, name, version), _LAMBDA, metric, dims, stat, period, points)
            for name, (metric, stat) in {"inv": ("Invocations", "Sum"), **DURATION_SERIES}.items()]


def minute_invocations_query(function: str, points: int) -> MetricQuery:
    """Invocations per minute: with the concurrency peaks, what the provisioned-concurrency plan scores."""
    return MetricQuery((function, "", "invm"), _LAMBDA, "Invocations", _dims(function, ""), "Sum", 60, points)


def concurrency_query(function: str, period: int, points: int) -> MetricQuery:
    return MetricQuery((function, "", "conc"), _LAMBDA, "ConcurrentExecutions", _dims(function, ""),
                       "Maximum", period, points)


def pc_queries(function: str, alias: str, period: int, points: int) -> list[MetricQuery]:
    dims = _dims(function, alias)
    return [MetricQuery((function, alias, name), _LAMBDA, metric, dims, stat, period, points)
            for name, (metric, stat) in PC_SERIES.items()]


def insights_queries(function: str, period: int, points: int) -> list[MetricQuery]:
    dims = (("function_name", function),)
    return [MetricQuery((function, "", name), "LambdaInsights", metric, dims, stat, period, points)
            for name, (metric, stat) in INSIGHTS_SERIES.items()]
