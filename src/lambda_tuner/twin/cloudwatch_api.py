"""CloudWatch GetMetricData answered by the World for AWS/Lambda and LambdaInsights, with AWS's limits.

Installed by replacing `CloudWatchResponse.get_metric_data` in moto: moto still parses the request and
serialises the answer in whatever protocol the caller used (botocore 1.44 resolves CloudWatch to
awsJson1.0; moto also speaks query), so the twin never writes protocol code. Queries in other namespaces
go to moto's own backend, so put_metric_data round trips keep working.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import threading
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from moto.cloudwatch.exceptions import ValidationError
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.exceptions import ServiceException
from moto.core.responses import ActionContext, ActionResult
from moto.core.serialize import JSONSerializer

if TYPE_CHECKING:
    from lambda_tuner.twin.server import Twin

WORLD_NAMESPACES = frozenset({"AWS/Lambda", "LambdaInsights"})
MAX_QUERIES = 500
MAX_DATAPOINTS = 100_800
ID_PATTERN = re.compile(r"^[a-z][a-zA-Z0-9_]*$")

_original: Any = None
_cache: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()  # request -> full results, for paging
_cache_lock = threading.Lock()


class InvalidNextToken(ServiceException):
    code = "InvalidNextToken"


def install(twin: Twin) -> None:
    global _original  # noqa: PLW0603 - one patch per process, undone by uninstall()
    if _original is None:
        _original = CloudWatchResponse.get_metric_data
    CloudWatchResponse.get_metric_data = _get_metric_data  # type: ignore[method-assign]


def uninstall() -> None:
    global _original  # noqa: PLW0603
    if _original is not None:
        CloudWatchResponse.get_metric_data = _original  # type: ignore[method-assign]
        _original = None
    with _cache_lock:
        _cache.clear()


def _get_metric_data(self: CloudWatchResponse) -> ActionResult:
    from lambda_tuner.twin.server import active_twin  # here: server imports this module

    params = self._get_params()
    queries = list(params.get("MetricDataQueries") or [])
    start, end = _utc(params["StartTime"]), _utc(params["EndTime"])
    validate(queries, start, end)
    limit = min(int(params.get("MaxDatapoints") or MAX_DATAPOINTS), MAX_DATAPOINTS)
    ascending = (params.get("ScanBy") or "TimestampDescending") == "TimestampAscending"
    key = _request_key(queries, start, end, ascending)
    # A fresh request is always recomputed (the World may have moved on); only continuations reuse it.
    results = _cached(key) if params.get("NextToken") else None
    if results is None:
        results = answer(active_twin(), self, queries, (start, end), ascending)
        _remember(key, results)
    offset = _offset(params.get("NextToken"), key)
    page, next_offset = paginate(results, offset, limit)
    out: dict[str, Any] = {"MetricDataResults": page, "Messages": []}
    if next_offset is not None:
        out["NextToken"] = _token(key, next_offset)
    return MetricDataResult(out)


class MetricDataResult(ActionResult):
    """Serialises awsJson1.0 answers directly: a 14-day per-minute series is tens of thousands of values,
    which moto's generic, per-value serializer takes seconds over. Other protocols keep moto's path."""

    def execute_result(self, context: ActionContext) -> Any:
        if not issubclass(context.serializer_class, JSONSerializer):
            return super().execute_result(context)
        out: dict[str, Any] = self.result  # type: ignore[assignment]
        body = {
            "MetricDataResults": [
                {
                    "Id": r["id"],
                    "Label": r.get("label", r["id"]),
                    "Timestamps": [_utc(t).timestamp() for t in r["timestamps"]],
                    "Values": [float(v) for v in r["values"]],
                    "StatusCode": r.get("status_code", "Complete"),
                }
                for r in out["MetricDataResults"]
            ],
            "Messages": [],
        }
        if "NextToken" in out:
            body["NextToken"] = out["NextToken"]
        return 200, {"Content-Type": "application/x-amz-json-1.0"}, json.dumps(body)


def validate(queries: list[dict[str, Any]], start: datetime, end: datetime) -> None:
    if not queries:
        raise ValidationError("The parameter MetricDataQueries is required.")
    if len(queries) > MAX_QUERIES:
        raise ValidationError(
            f"1 validation error detected: Value at 'metricDataQueries' failed to satisfy constraint: "
            f"Member must have length less than or equal to {MAX_QUERIES} (got {len(queries)})"
        )
    if start >= end:
        raise ValidationError("The parameter StartTime must be less than the parameter EndTime.")
    ids = [str(q.get("Id", "")) for q in queries]
    bad = [i for i in ids if not ID_PATTERN.match(i)]
    if bad:
        raise ValidationError(f"Invalid metric data query Id {bad[0]!r}: must match {ID_PATTERN.pattern}")
    if len(set(ids)) != len(ids):
        raise ValidationError("The values for parameter id in MetricDataQueries are not unique.")
    for query in queries:
        period = int(query.get("MetricStat", {}).get("Period") or query.get("Period") or 60)
        if period < 1 or (period >= 60 and period % 60) or (period < 60 and period not in (1, 5, 10, 30)):
            raise ValidationError(
                f"The parameter Period must be 1, 5, 10, 30 or a multiple of 60 (got {period})."
            )


def answer(
    twin: Twin,
    response: CloudWatchResponse,
    queries: list[dict[str, Any]],
    window: tuple[datetime, datetime],
    ascending: bool,
) -> list[dict[str, Any]]:
    """Full results in query order: World for Lambda namespaces, moto for the rest."""
    start, end = window
    ours = [q for q in queries if _namespace(q) in WORLD_NAMESPACES]
    theirs = [q for q in queries if _namespace(q) not in WORLD_NAMESPACES]
    by_id: dict[str, dict[str, Any]] = {}
    if ours:
        with twin.lock:
            now = twin.world.now
            periods = {str(q["Id"]): int(q["MetricStat"]["Period"]) for q in ours}
            for result in twin.world.metric_data(ours, start, end):
                by_id[str(result["id"])] = retained(result, periods[str(result["id"])], now)
    if theirs:
        scan = "TimestampAscending" if ascending else "TimestampDescending"
        params = response._get_params()  # moto compares its own (naive) timestamps with these
        for result in response.cloudwatch_backend.get_metric_data(
            start_time=params["StartTime"], end_time=params["EndTime"], queries=theirs, scan_by=scan
        ):
            by_id[str(result["id"])] = result
    our_ids = {str(q["Id"]) for q in ours}
    results = []
    for query in queries:
        if query.get("ReturnData") is False or str(query["Id"]) not in by_id:
            continue
        result = dict(by_id[str(query["Id"])])
        result.setdefault("label", query.get("Label") or query["Id"])
        if ascending and str(query["Id"]) in our_ids:
            result["timestamps"] = list(reversed(result["timestamps"]))
            result["values"] = list(reversed(result["values"]))
        results.append(result)
    return results


def retained(result: dict[str, Any], period: int, now: datetime) -> dict[str, Any]:
    """Only the datapoints CloudWatch still keeps at this period (its retention schedule, relative to now).

    1-minute data lives 15 days, 5-minute data 63 days, 1-hour data 455 days; older points come back only
    at a coarser period, so a 60 s query reaching back 20 days gets its last 15 days.
    """
    if period % 3600 == 0:
        keep = timedelta(days=455)
    elif period % 300 == 0:
        keep = timedelta(days=63)
    else:
        keep = timedelta(days=15)
    cutoff = now - keep
    stamps = result["timestamps"]
    if not stamps or min(_utc(stamps[0]), _utc(stamps[-1])) >= cutoff:
        return result  # the usual case: everything asked for is still retained
    pairs = [(t, v) for t, v in zip(stamps, result["values"], strict=True) if _utc(t) >= cutoff]
    return {**result, "timestamps": [t for t, _ in pairs], "values": [v for _, v in pairs]}


def paginate(
    results: list[dict[str, Any]], offset: int, limit: int
) -> tuple[list[dict[str, Any]], int | None]:
    """Results covering datapoints [offset, offset + limit) of the flattened answer, and the next offset."""
    total = sum(len(r["values"]) for r in results)
    stop = min(offset + limit, total)
    page: list[dict[str, Any]] = []
    position = 0
    for result in results:
        size = len(result["values"])
        first, last = position, position + size
        position = last
        lo, hi = max(first, offset), min(last, stop)
        is_last_page = stop >= total
        empty_here = size == 0 and (offset <= first < stop or (is_last_page and first >= offset))
        if hi > lo or empty_here:
            part = dict(result)
            part["timestamps"] = result["timestamps"][lo - first : hi - first]
            part["values"] = result["values"][lo - first : hi - first]
            part["status_code"] = "PartialData" if hi < last else result.get("status_code", "Complete")
            page.append(part)
    return page, (stop if stop < total else None)


def _namespace(query: dict[str, Any]) -> str | None:
    namespace = query.get("MetricStat", {}).get("Metric", {}).get("Namespace")
    return str(namespace) if namespace is not None else None


def _utc(value: Any) -> datetime:
    """moto hands timestamps over as datetimes (naive or aware), epoch numbers or ISO strings."""
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC)
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
    if not isinstance(parsed, datetime):
        raise TypeError(f"not a timestamp: {value!r}")
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _request_key(queries: list[dict[str, Any]], start: datetime, end: datetime, ascending: bool) -> str:
    raw = json.dumps([queries, start.isoformat(), end.isoformat(), ascending], sort_keys=True, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()[:24]


def _token(key: str, offset: int) -> str:
    return base64.b64encode(f"{key}:{offset}".encode()).decode()


def _offset(token: str | None, key: str) -> int:
    if not token:
        return 0
    try:
        token_key, offset = base64.b64decode(token).decode().split(":")
        if token_key != key:
            raise ValueError("token belongs to another request")
        return int(offset)
    except (ValueError, binascii.Error) as exc:
        raise InvalidNextToken(
            "The service cannot process the NextToken; repeat the request unchanged."
        ) from exc


def _cached(key: str) -> list[dict[str, Any]] | None:
    with _cache_lock:
        return _cache.get(key)


def _remember(key: str, results: list[dict[str, Any]]) -> None:
    with _cache_lock:
        _cache[key] = results
        while len(_cache) > 16:
            _cache.popitem(last=False)
