"""REPORT-line facts from CloudWatch Logs Insights: many log groups per query, a few queries in flight.

One query covers up to 50 log groups and returns one row per (log group, memory size). At most
`max_in_flight` (default 10) queries run at once, well under the account's concurrent-query quota, so the
user's own Insights queries keep room. A query is first polled `first_poll_s` after it starts (queries over a
day of a few dozen log groups are usually done by then, so most need one GetQueryResults), then with
growing intervals until it completes or its deadline passes; then it is stopped, its rows are dropped and
its groups are tried again in halves (see `_incomplete`).

StartQuery refused with LimitExceededException means the account's concurrent queries are all in use. While
ours run, their ends free slots; while none of ours runs, someone else's queries hold them, for as long as
they like: after `busy_wait_s` of refusals (or at the caller's `deadline`), the queries not yet started are
skipped (`ScanOutcome.skipped`): their groups are not scanned, so their watermarks stay and the next cycle
scans them, instead of the agent waiting out its own timeout and losing the whole cycle.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lambda_tuner.adapters import aws

REPORT_QUERY = """filter @type = "REPORT" or type = "platform.report"
| fields coalesce(@memorySize / 1000000, record.metrics.memorySizeMB) as memory_mb,
    coalesce(@initDuration, record.metrics.initDurationMs) as init_ms,
    coalesce(@maxMemoryUsed / 1000000, record.metrics.maxMemoryUsedMB) as max_mem_mb,
    coalesce(@billedDuration, record.metrics.billedDurationMs) as billed_ms,
    coalesce(@duration, record.metrics.durationMs) as duration_ms
| stats count(*) as invocations, count(init_ms) as cold_starts, avg(init_ms) as init_ms_avg,
    pct(max_mem_mb, 99) as max_mem_p99, max(max_mem_mb) as max_mem_max, avg(billed_ms) as billed_ms_avg,
    avg(duration_ms) as duration_ms_avg, pct(duration_ms, 99) as duration_ms_p99 by @log, memory_mb"""

MAX_GROUPS_PER_QUERY = 50
BUSY_WAIT_S = 120.0  # refused with none of ours running: how long to wait for someone else's queries
_FLOAT_FIELDS = ("init_ms_avg", "max_mem_p99", "max_mem_max", "billed_ms_avg", "duration_ms_avg",
                 "duration_ms_p99")


@dataclass(frozen=True)
class ReportRow:
    log_group: str
    memory_mb: int
    invocations: int
    cold_starts: int
    values: dict[str, float | None]  # the _FLOAT_FIELDS


@dataclass(frozen=True)
class ScanJob:
    groups: tuple[str, ...]
    start: datetime
    end: datetime


@dataclass
class ScanOutcome:
    rows: list[ReportRow] = field(default_factory=list)
    scanned: dict[str, datetime] = field(default_factory=dict)  # group -> end of the window it covered
    failed: dict[str, str] = field(default_factory=dict)  # group -> why
    skipped: dict[str, str] = field(default_factory=dict)  # group -> why its query never started
    bytes_scanned: float = 0.0
    queries: int = 0


@dataclass
class _Running:
    job: ScanJob
    query_id: str
    deadline: float
    next_poll: float
    interval: float


def batch_jobs(windows: dict[str, tuple[datetime, datetime]]) -> list[ScanJob]:
    """Groups sharing a window go together, 50 to a query (after the first cycle nearly all share one)."""
    by_window: dict[tuple[datetime, datetime], list[str]] = {}
    for group, window in sorted(windows.items()):
        by_window.setdefault(window, []).append(group)
    return [ScanJob(tuple(groups[i : i + MAX_GROUPS_PER_QUERY]), start, end)
            for (start, end), groups in by_window.items()
            for i in range(0, len(groups), MAX_GROUPS_PER_QUERY)]


def scan(
    jobs: Sequence[ScanJob], *, client: Any = None, max_in_flight: int = 10, timeout_s: float = 300.0,
    first_poll_s: float = 2.0, busy_wait_s: float = BUSY_WAIT_S, deadline: float | None = None,
    sleep: Callable[[float], None] = time.sleep, monotonic: Callable[[], float] = time.monotonic,
) -> ScanOutcome:
    """`deadline` (on `monotonic`'s clock): no query starts after it; one started before keeps its own
    `timeout_s`."""
    logs = client or aws.client("logs")
    out = ScanOutcome()
    queue: deque[ScanJob] = deque(jobs)
    running: list[_Running] = []
    refused_since: float | None = None  # StartQuery refused while none of ours ran, since then
    while queue or running:
        while queue and len(running) < max_in_flight:
            job = queue.popleft()
            started = _start(logs, job, out, queue, now=monotonic(), timeout_s=timeout_s,
                             first_poll_s=first_poll_s)
            if isinstance(started, str):
                queue.appendleft(job)
                if not running and refused_since is None:
                    refused_since = monotonic()
                break
            refused_since = None
            if started is not None:
                running.append(started)
        now = monotonic()
        if running:
            refused_since = None  # ours will end and free slots
        if queue and (why := _give_up(now, refused_since, busy_wait_s, deadline)):
            for job in queue:
                out.skipped.update(dict.fromkeys(job.groups, why))
            queue.clear()
            continue
        due = [r for r in running if r.next_poll <= now]
        if not due:
            sleep(max(0.05, min(r.next_poll for r in running) - now) if running else 1.0)
            continue
        for run in due:
            if _poll(logs, run, out, queue, monotonic()):
                running.remove(run)
    return out


def _give_up(now: float, refused_since: float | None, busy_wait_s: float,
             deadline: float | None) -> str | None:
    """Why the queries not started yet are skipped this cycle, or None to keep trying."""
    if deadline is not None and now >= deadline:
        return "not started before the logs step's deadline"
    if refused_since is not None and now - refused_since >= busy_wait_s:
        return (f"StartQuery refused for {now - refused_since:.0f} s (LimitExceededException): the account's "
                "concurrent Logs Insights queries are held by others")
    return None


def _start(logs: Any, job: ScanJob, out: ScanOutcome, queue: deque[ScanJob], *, now: float,
           timeout_s: float, first_poll_s: float) -> _Running | str | None:
    try:
        query_id = logs.start_query(
            logGroupNames=list(job.groups), startTime=int(job.start.timestamp()),
            # both bounds are inclusive: the window's last second is end - 1, its end second is the next
            # window's first (a line written then would otherwise count in both)
            endTime=int(job.end.timestamp()) - 1, queryString=REPORT_QUERY, limit=10_000,
        )["queryId"]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        if code == "LimitExceededException":
            return "busy"  # too many queries running account-wide: wait for ours to finish
        if code == "ResourceNotFoundException" and len(job.groups) > 1:
            # One missing group fails the whole query: split to find it instead of losing the others.
            queue.extend(_halves(job))
            return None
        out.failed.update(dict.fromkeys(job.groups, f"StartQuery {code}"))
        return None
    except BotoCoreError as exc:
        out.failed.update(dict.fromkeys(job.groups, f"StartQuery: {exc}"))
        return None
    out.queries += 1
    return _Running(job, query_id, deadline=now + timeout_s, next_poll=now + first_poll_s, interval=1.0)


def _poll(logs: Any, run: _Running, out: ScanOutcome, queue: deque[ScanJob], now: float) -> bool:
    """True when the query is finished with (complete, or not and dropped)."""
    try:
        got = logs.get_query_results(queryId=run.query_id)
    except (ClientError, BotoCoreError) as exc:
        if now < run.deadline:
            run.next_poll, run.interval = now + run.interval, min(run.interval * 2, 15.0)
            return False
        out.failed.update(dict.fromkeys(run.job.groups, f"GetQueryResults: {exc}"))
        return True
    status = got.get("status")
    if status in ("Scheduled", "Running") and now < run.deadline:
        run.next_poll, run.interval = now + run.interval, min(run.interval * 2, 15.0)
        return False
    if status in ("Scheduled", "Running"):
        _stop(logs, run.query_id)
    out.bytes_scanned += float(got.get("statistics", {}).get("bytesScanned", 0.0))
    if status != "Complete":
        _incomplete(run.job, out, queue, "timed out" if status in ("Scheduled", "Running") else status)
        return True
    out.rows.extend(_row(r) for r in got.get("results", []))
    for group in run.job.groups:
        out.scanned[group] = run.job.end
    return True


def _incomplete(job: ScanJob, out: ScanOutcome, queue: deque[ScanJob], why: str) -> None:
    """A query that did not complete aggregated part of its window: its rows are not used (a maximum of
    memory used read over part of the calls would set the memory floor too low) and its groups are not
    marked scanned, so their watermarks stay. Several groups are tried again in halves (each half has
    fewer bytes to read in the same time), one alone is left for the next cycle."""
    if len(job.groups) > 1:
        queue.extend(_halves(job))
        return
    out.failed.update(dict.fromkeys(job.groups, f"Insights query {why}: scanned again next cycle"))


def _halves(job: ScanJob) -> tuple[ScanJob, ScanJob]:
    half = len(job.groups) // 2
    return ScanJob(job.groups[:half], job.start, job.end), ScanJob(job.groups[half:], job.start, job.end)


def _stop(logs: Any, query_id: str) -> None:
    # It may have just finished; its partial results are already in hand either way.
    with contextlib.suppress(ClientError, BotoCoreError):
        logs.stop_query(queryId=query_id)


def _row(fields: list[dict[str, str]]) -> ReportRow:
    raw = {f["field"]: f.get("value") for f in fields}
    log = raw.get("@log") or ""
    group = log.split(":", 1)[1] if ":" in log else log
    values = {k: float(v) if v not in (None, "") else None for k, v in raw.items() if k in _FLOAT_FIELDS}
    return ReportRow(log_group=group, memory_mb=round(float(raw.get("memory_mb") or 0)),
                     invocations=int(float(raw.get("invocations") or 0)),
                     cold_starts=int(float(raw.get("cold_starts") or 0)), values=values)
