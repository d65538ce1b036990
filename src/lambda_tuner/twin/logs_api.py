"""CloudWatch Logs Insights (StartQuery / GetQueryResults / StopQuery) answered by the World.

Like AWS: at most 50 log groups per query, at most 30 queries running at once per account (the twin's
documented cap), syntax errors refused by StartQuery with MalformedQueryException, and a query that is
Scheduled, then Running, until its run time has passed (real time: a fixed start-up plus the bytes it
scans at a steady rate), then Complete with rows and statistics. The World is asked at StartQuery time, so
a query sees the account as it was when it started.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from moto.logs.models import logs_backends

from lambda_tuner.twin.wire import Call, Reply, aws_error

if TYPE_CHECKING:
    from lambda_tuner.twin.server import Twin

MAX_LOG_GROUPS = 50
MAX_RUNNING = 30
CONTENT_TYPE = "application/x-amz-json-1.1"


@dataclass
class Query:
    id: str
    groups: list[str]
    rows: list[list[dict[str, str]]]
    statistics: dict[str, float]
    ready_at: float = 0.0  # on the book's clock: when the query has finished scanning
    polls: int = 0
    status: str = "Scheduled"  # Scheduled | Running | Complete | Cancelled


@dataclass
class QueryBook:
    """The account's Insights queries and how long one takes: `startup_s` plus its bytes at
    `scan_bytes_per_s` (AWS publishes no figure; small queries take about a second there). `clock` is
    replaceable so a test's fake clock drives the queries too (and a slow query is a clock not moved)."""

    queries: dict[str, Query] = field(default_factory=dict)
    startup_s: float = 0.5
    scan_bytes_per_s: float = 5e9
    clock: Callable[[], float] = time.monotonic

    def run_time_s(self, bytes_scanned: float) -> float:
        return self.startup_s + bytes_scanned / self.scan_bytes_per_s

    def running(self) -> int:
        return sum(1 for q in self.queries.values() if q.status in ("Scheduled", "Running"))


def group_name(identifier: str) -> str:
    """A log group name from a name or ARN (`arn:aws:logs:...:log-group:NAME[:*]`)."""
    if identifier.startswith("arn:"):
        name = identifier.split(":log-group:", 1)[1]
        return name[:-2] if name.endswith(":*") else name
    return identifier


def start_query(twin: Twin, call: Call) -> Reply:
    body = call.json()
    groups = requested_groups(twin, call, body)
    if isinstance(groups, Reply):
        return groups
    start, end = int(body.get("startTime", 0)), int(body.get("endTime", 0))
    if start >= end:
        return aws_error(call, "InvalidParameterException", "endTime must be greater than startTime")
    with twin.lock:
        if twin.queries.running() >= MAX_RUNNING:
            message = f"Account maximum query concurrency limit of [{MAX_RUNNING}] reached."
            return aws_error(call, "LimitExceededException", message)
        try:
            rows, stats = twin.world.insights(
                str(body.get("queryString", "")),
                groups,
                datetime.fromtimestamp(start, UTC),
                datetime.fromtimestamp(end, UTC),
            )
        except ValueError as exc:
            return aws_error(call, "MalformedQueryException", str(exc))
        limit = body.get("limit")
        run_s = twin.queries.run_time_s(float(stats.get("bytesScanned", 0.0)))
        query = Query(str(uuid.uuid4()), groups, rows[: int(limit)] if limit else rows, dict(stats),
                      ready_at=twin.queries.clock() + run_s)
        twin.queries.queries[query.id] = query
    return Reply.of_json({"queryId": query.id}, content_type=CONTENT_TYPE)


def requested_groups(twin: Twin, call: Call, body: dict[str, Any]) -> list[str] | Reply:
    """The query's log group names, or AWS's error for none, more than 50, or one that does not exist."""
    identifiers = [body["logGroupName"]] if body.get("logGroupName") else []
    identifiers += list(body.get("logGroupNames") or []) + list(body.get("logGroupIdentifiers") or [])
    if not identifiers:
        return aws_error(call, "InvalidParameterException", "Specify at least one log group for the query")
    if len(identifiers) > MAX_LOG_GROUPS:
        return aws_error(
            call,
            "InvalidParameterException",
            f"1 validation error detected: Value at 'logGroupNames' failed to satisfy constraint: "
            f"Member must have length less than or equal to {MAX_LOG_GROUPS}",
        )
    groups = [group_name(i) for i in identifiers]
    known = logs_backends[twin.account][twin.region].groups
    missing = [g for g in groups if g not in known]
    if missing:
        return aws_error(call, "ResourceNotFoundException", f"Log group '{missing[0]}' does not exist")
    return groups


def get_query_results(twin: Twin, call: Call) -> Reply:
    with twin.lock:
        query = twin.queries.queries.get(str(call.json().get("queryId", "")))
        if query is None:
            return aws_error(call, "ResourceNotFoundException", "Query does not exist")
        if query.status in ("Scheduled", "Running"):
            query.polls += 1
            if twin.queries.clock() >= query.ready_at:
                query.status = "Complete"
            else:
                query.status = "Scheduled" if query.polls == 1 else "Running"
        payload: dict[str, Any] = {"status": query.status, "results": [], "statistics": _zero(query)}
        if query.status == "Complete":
            payload.update(results=query.rows, statistics=query.statistics)
    return Reply.of_json(payload, content_type=CONTENT_TYPE)


def _zero(query: Query) -> dict[str, float]:
    return dict.fromkeys(query.statistics, 0.0) or {
        "recordsMatched": 0.0,
        "recordsScanned": 0.0,
        "bytesScanned": 0.0,
    }


def stop_query(twin: Twin, call: Call) -> Reply:
    with twin.lock:
        query = twin.queries.queries.get(str(call.json().get("queryId", "")))
        if query is None:
            return aws_error(call, "ResourceNotFoundException", "Query does not exist")
        if query.status not in ("Scheduled", "Running"):
            return aws_error(
                call, "InvalidParameterException", f"Query is not running (status {query.status})"
            )
        query.status = "Cancelled"
    return Reply.of_json({"success": True}, content_type=CONTENT_TYPE)


ROUTES = {
    "logs.StartQuery": start_query,
    "logs.GetQueryResults": get_query_results,
    "logs.StopQuery": stop_query,
}
