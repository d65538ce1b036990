"""One collection: discover every function, read its metrics and REPORT facts, hand the core clean values.

Order of calls, chosen so the expensive steps only touch functions that need them:
1. ListFunctions (every cycle, paced to the agent's share of the Lambda control-plane quota).
2. Census: Invocations per function per hour, densely packed into GetMetricData calls. Idle functions stop
   here (their observations say "no invocations"), and the census ranks new functions for step 3.
3. Detail calls (tags, reserved concurrency, aliases, PC) for changed / PC-holding / new / due functions,
   within a control-plane budget (see `adapters.inventory.plan_refresh`).
4. Duration statistics, errors, throttles, concurrency, PC and Lambda Insights series for active functions
   whose bill can pay for reading them (see `_below_mark`): a function billed under `min_monthly_bill_usd`
   (default $1/month) cannot save more than its bill, while its eight detail series cost $0.0024 a month
   at the daily schedule; it stays in the census and is read again once its bill passes the mark.
5. REPORT aggregates from Logs Insights, only for bytes written since the last scan of each log group.
6. The pure core splits series into epochs per memory size and builds `Observations`.

Periods: hourly for every series (aligned to the hour, which all of CloudWatch's retention tiers accept:
60 s data for 15 days, 300 s for 63, 3600 s for 455), because per-epoch statistics need tens of periods,
not thousands, and 336 hourly points per series let ~300 series share one call where 1-minute data would
allow 5. Concurrency is the exception: it is read per minute (over the last 14 days at most, within 60 s
retention) for functions where provisioned concurrency is a question — PC configured, a cold-start
objective tag, or at least 600 invocations in some hour — and hourly (peak per hour) for the rest.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from lambda_tuner.adapters import aws, inventory, metrics, reports
from lambda_tuner.adapters.metrics import MetricQuery
from lambda_tuner.adapters.pacing import TokenBucket, paced
from lambda_tuner.core import epochs as ep
from lambda_tuner.core.models import FunctionPolicy, Inventory, Observations, ReportStats
from lambda_tuner.core.pricing import default_prices
from lambda_tuner.core.selfcost import CycleUsage, cycle_cost_usd
from lambda_tuner.core.tags import detect_iac, parse_policy

HOUR = 3600
MINUTE = 60
PER_MINUTE_DAYS = 14  # per-minute concurrency: two weeks show the daily and the weekly pattern
PC_QUESTION_INVOCATIONS_PER_HOUR = 600
HIDING_LEVELS = ("WARN", "ERROR", "FATAL")  # JSON system log levels that drop platform.report records
STATE_VERSION = 1
CONTROL_PLANE_BUDGET_S = 420.0  # of a 900 s invocation: leaves room for metrics, logs and decisions
MIN_MONTHLY_BILL_USD = 1.0  # below this a function's detail metrics cost over 1 % of what tuning could save


class CollectError(Exception):
    """The collection cannot go on at all (the function listing itself could not be read)."""


class CollectStats(BaseModel):
    api_calls: dict[str, int] = {}
    metric_queries: int = 0
    metric_calls: int = 0
    insights_bytes_scanned: float = 0.0
    insights_queries: int = 0
    wall_s: float = 0.0
    control_plane_s: float = 0.0  # Lambda control-plane attempts / the configured share (minimum time)
    paced_wait_s: float = 0.0  # time actually spent waiting for the share (fake in benchmarks)
    cost_usd: float = 0.0
    functions: int = 0
    refreshed: int = 0
    deferred: int = 0
    partial: list[str] = []  # what was read only partly, and why
    notes: dict[str, str] = {}  # function -> a fact about its data worth showing (e.g. REPORT hidden)
    phase_s: dict[str, float] = {}  # time per step (pacing waits included)


class CollectResult(BaseModel):
    inventory: Inventory
    observations: dict[str, Observations]
    stats: CollectStats
    state: dict[str, Any]


def collect(
    now: datetime, lookback_days: int, tag_prefix: str, state: dict[str, Any], *,
    memory_history: Mapping[str, list[tuple[datetime, int]]] | None = None,
    exclude: Collection[str] = (), control_plane_rps: float = 5.0,
    lambda_client: Any = None, cloudwatch_client: Any = None, logs_client: Any = None,
    sleep: Callable[[float], None] = time.sleep, monotonic: Callable[[], float] = time.monotonic,
    control_plane_budget_s: float = CONTROL_PLANE_BUDGET_S, agent_memory_mb: int = 1024,
    min_monthly_bill_usd: float = MIN_MONTHLY_BILL_USD,
) -> CollectResult:
    if lookback_days < 1 or lookback_days > 455:
        raise ValueError(f"lookback_days must be between 1 and 455, got {lookback_days}")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    started = monotonic()
    clients = _Clients(
        lam=lambda_client or aws.client("lambda"), cw=cloudwatch_client or aws.client("cloudwatch"),
        logs=logs_client or aws.client("logs"),
    )
    end = now.replace(minute=0, second=0, microsecond=0)
    run = _Run(now=now, start=end - timedelta(days=lookback_days), end=end, prefix=tag_prefix,
                    state=dict(state), history=dict(memory_history or {}), exclude=set(exclude),
                    min_bill_usd=min_monthly_bill_usd)
    bucket = TokenBucket(control_plane_rps, monotonic=monotonic, sleep=sleep)
    phases: dict[str, float] = {}

    def timed(name: str, step: Callable[[], None]) -> None:
        t0 = monotonic()
        step()
        phases[name] = round(monotonic() - t0, 3)

    budget = int(control_plane_budget_s * control_plane_rps)
    with _counting(clients) as counter, paced(clients.lam, bucket):
        timed("discover", lambda: _discover(run, clients, budget_calls=budget))
        timed("census", lambda: _census(run, clients))
        run.below_mark = _below_mark(run)
        # Detail reads spend most of their time waiting for the control-plane share: metrics and logs
        # are read meanwhile, with the details known from earlier cycles; what the reads change about
        # aliases and PC is fetched just after.
        known = {name: run.details_of(name) for name in run.names()}
        with ThreadPoolExecutor(max_workers=1) as pool:
            refreshing = pool.submit(timed, "refresh", lambda: _refresh(run, clients))
            timed("metrics", lambda: _details(run, clients, known))
            timed("logs", lambda: _scan_logs(run, clients, sleep=sleep, monotonic=monotonic))
            refreshing.result()
        timed("metrics_after_refresh", lambda: _details_after_refresh(run, clients, known))
    observations: dict[str, Observations] = {}
    timed("observe", lambda: observations.update({name: _observe(run, name) for name in run.names()}))
    stats = _stats(run, counter.snapshot(), bucket, control_plane_rps,
                   wall_s=monotonic() - started, agent_memory_mb=agent_memory_mb)
    stats.phase_s = phases
    return CollectResult(inventory=run.build_inventory(), observations=observations, stats=stats,
                         state=run.next_state())


def _stats(run: _Run, calls: dict[str, int], bucket: TokenBucket, rps: float, *, wall_s: float,
           agent_memory_mb: int) -> CollectStats:
    state_bytes = len(json.dumps(run.next_state(), default=str))
    usage = CycleUsage(
        metrics_requested=run.metric_queries_billed, insights_bytes_scanned=run.bytes_scanned,
        agent_memory_mb=agent_memory_mb, agent_run_s=wall_s + bucket.waited_s,
        dynamodb_writes=math.ceil(state_bytes / 1024), dynamodb_reads=math.ceil(state_bytes / 4096),
    )
    return CollectStats(
        api_calls=calls, metric_queries=run.metric_queries, metric_calls=run.metric_calls,
        insights_bytes_scanned=run.bytes_scanned, insights_queries=run.insights_queries,
        wall_s=round(wall_s, 3), control_plane_s=round(bucket.acquired / rps, 3),
        paced_wait_s=round(bucket.waited_s, 3), cost_usd=cycle_cost_usd(usage),
        functions=len(run.listing.latest) if run.listing else 0, refreshed=len(run.refreshed),
        deferred=len(run.deferred), partial=sorted(run.partial), notes=dict(sorted(run.notes.items())),
    )


# ---------------------------------------------------------------- the collection's working state


@dataclass(frozen=True)
class _Clients:
    lam: Any
    cw: Any
    logs: Any


@dataclass
class _Run:
    now: datetime
    start: datetime
    end: datetime
    prefix: str
    state: dict[str, Any]
    history: dict[str, list[tuple[datetime, int]]]
    exclude: set[str]
    min_bill_usd: float = MIN_MONTHLY_BILL_USD
    below_mark: dict[str, str] = field(default_factory=dict)  # function -> why its details are not read
    listing: inventory.Listing | None = None
    budget_calls: int = 0
    unreserved: int | None = None
    series: dict[tuple[str, ...], Mapping[datetime, float]] = field(default_factory=dict)
    traffic: dict[str, float] = field(default_factory=dict)
    metric_problems: dict[str, list[str]] = field(default_factory=dict)
    details: dict[str, inventory.Details] = field(default_factory=dict)
    refreshed: set[str] = field(default_factory=set)
    deferred: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    deleted: dict[str, str] = field(default_factory=dict)
    per_minute: set[str] = field(default_factory=set)
    watermarks: dict[str, str] = field(default_factory=dict)
    report_windows: dict[str, list[Mapping[str, object]]] = field(default_factory=dict)
    metric_queries: int = 0
    metric_queries_billed: int = 0
    metric_calls: int = 0
    bytes_scanned: float = 0.0
    insights_queries: int = 0
    partial: set[str] = field(default_factory=set)
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def known(self) -> dict[str, Any]:
        return dict(self.state.get("functions") or {})

    def names(self) -> list[str]:
        listed = self.listing.latest if self.listing else {}
        return sorted(n for n in listed if n not in self.exclude)

    def entry(self, name: str) -> dict[str, Any]:
        assert self.listing is not None
        return self.listing.latest[name]

    def details_of(self, name: str) -> inventory.Details | None:
        if name in self.details:
            return self.details[name]
        stored = self.known.get(name, {}).get("d")
        return inventory.Details.from_state(stored) if stored is not None else None

    def hours(self) -> int:
        return int((self.end - self.start).total_seconds() // HOUR)

    def build_inventory(self) -> Inventory:
        configs = []
        for name in self.names():
            if name in self.deleted:
                continue
            details = self.details_of(name)
            configs.append(inventory.to_config(self.entry(name), details, self.policy(name, details),
                                               detect_iac(details.tags) if details else None))
        errors = {**self.errors, **self.deleted}
        return Inventory(functions=tuple(configs), unreserved_concurrency=self.unreserved, errors=errors)

    def policy(self, name: str, details: inventory.Details | None) -> FunctionPolicy:
        if details is None:
            why = self.deferred.get(name) or self.errors.get(name) or "details not read"
            return FunctionPolicy(errors=(f"tags not read yet ({why}): no changes until they are",))
        return parse_policy(details.tags, self.prefix)

    def next_state(self) -> dict[str, Any]:
        day = self.now.date().toordinal()
        functions: dict[str, Any] = {}
        for name in self.names():
            if name in self.deleted:
                continue
            old = self.known.get(name, {})
            entry = dict(old)
            entry["h"] = len(self.series.get((name, "", "inv"), {})) if name in self.traffic else old.get("h")
            if (ms := _mean_duration_ms(self, name)) is not None:
                entry["ms"] = round(ms, 1)  # what the next cycles' bill estimate uses
            if name in self.details:
                assert self.listing is not None
                entry.update(fp=inventory.fingerprint(self.entry(name), self.listing.versions.get(name, {})),
                             day=day, d=_compact(self.details[name], self.prefix).to_state())
            functions[name] = entry
        logs = {**(self.state.get("logs") or {}), **self.watermarks}
        reports_state = {**(self.state.get("reports") or {}), **self.report_windows}
        listed = set(functions)
        return {**self.state, "v": STATE_VERSION, "functions": functions, "logs": logs,
                "reports": {k: v for k, v in reports_state.items() if k in listed}}


_STATE_TAG_PREFIXES = ("aws:", "lambda:", "pulumi:", "cdk-", "serverless", "sls", "managed")


def _compact(details: inventory.Details, prefix: str) -> inventory.Details:
    """Only the tags the agent reads are kept in state (state is one DynamoDB item per collector)."""
    keep = {k: v for k, v in details.tags.items()
            if k.startswith(prefix) or k.lower().startswith(_STATE_TAG_PREFIXES)
            or k.lower() in ("terraform", "stage")}
    return inventory.Details(keep, details.reserved_concurrency, details.aliases, details.pc_on_versions)


@contextmanager
def _counting(clients: _Clients) -> Iterator[Any]:
    """Counts this collection's API calls by operation, whatever client objects were passed in."""
    counter = aws.ApiCounter()
    ids = []
    for client in (clients.lam, clients.cw, clients.logs):
        service = client.meta.service_model.service_name

        def count(model: Any, service: str = service, **_: Any) -> None:
            with counter._lock:
                counter.calls[f"{service}.{model.name}"] += 1

        uid = f"lambda-tuner-collect-{id(counter)}-{service}"
        client.meta.events.register("before-call", count, unique_id=uid)
        ids.append((client, uid))
    try:
        yield counter
    finally:
        for client, uid in ids:
            client.meta.events.unregister("before-call", unique_id=uid)


# ---------------------------------------------------------------- steps


def _discover(run: _Run, clients: _Clients, *, budget_calls: int) -> None:
    try:
        run.listing = inventory.list_functions(client=clients.lam)
    except inventory.InventoryError as exc:
        raise CollectError(f"cannot list functions: {exc}") from exc
    try:
        run.unreserved = inventory.unreserved_concurrency(client=clients.lam)
    except inventory.InventoryError as exc:
        run.partial.add(f"account settings: {exc}")
    run.budget_calls = max(0, budget_calls - run.listing.pages - 1)


def _census(run: _Run, clients: _Clients) -> None:
    """Invocations per hour for every function: who is idle, how busy the rest are, how many points."""
    hours = run.hours()
    known = run.known
    queries = [metrics.invocations_query(n, "", HOUR, _expected(known.get(n, {}).get("h"), hours))
               for n in run.names()]
    got = _fetch(run, clients, queries, run.start)
    for name in run.names():
        key = (name, "", "inv")
        if key in got.failed:
            run.metric_problems.setdefault(name, []).append(f"invocations unreadable: {got.failed[key]}")
        else:
            run.traffic[name] = sum(got.series.get(key, {}).values())


def _below_mark(run: _Run) -> dict[str, str]:
    """Functions whose monthly bill, estimated from the census, is under the mark: their detail series are
    not read this cycle. The estimate uses the mean duration seen last time or, for a function never read,
    its timeout (an upper bound). Never gated: functions the agent changed in the look-back (their change
    is being verified), functions with provisioned concurrency or a cold-start objective (the allocation,
    not the calls, is the bill), and functions carrying any of the agent's tags (someone asked)."""
    if run.min_bill_usd <= 0:
        return {}
    prices = default_prices()
    days = max(run.hours() / 24, 1 / 24)
    out: dict[str, str] = {}
    for name in _active(run):
        details = run.details_of(name)
        if name in run.history or name not in run.traffic or (details is not None and (
                details.pc_on_versions or any(a.pc_requested for a in details.aliases)
                or any(k.startswith(run.prefix) for k in details.tags))):
            continue
        entry = run.entry(name)
        known_ms = run.known.get(name, {}).get("ms")
        ms = float(known_ms) if known_ms is not None else float(entry.get("Timeout") or 900) * 1000
        arch = (entry.get("Architectures") or ["x86_64"])[0]
        per_call = ms / 1000 * int(entry["MemorySize"]) / 1024 * prices.tier1_usd_per_gb_s(arch)
        per_call += prices.request_usd_per_million / 1e6
        bill = run.traffic[name] / days * 30.4 * per_call
        if bill < run.min_bill_usd:
            basis = "its mean duration" if known_ms is not None else "its timeout as the duration"
            out[name] = (f"billed about ${bill:.2f}/month ({basis}), under the ${run.min_bill_usd:.2f}/month "
                         "worth reading its duration metrics for: watched in the daily census, read again "
                         "once its bill passes the mark")
    return out


def _mean_duration_ms(run: _Run, name: str) -> float | None:
    """Invocation-weighted mean duration over the window, from the hourly series this cycle read."""
    inv, avg = run.series.get((name, "", "inv"), {}), run.series.get((name, "", "avg"), {})
    calls = sum(inv.get(t, 0.0) for t in avg)
    return sum(v * inv.get(t, 0.0) for t, v in avg.items()) / calls if calls > 0 else None


def _expected(previous: int | None, hours: int) -> int:
    """Points a census series will return: last cycle's active hours plus a margin; for a function never
    seen, a share that lets 500 of them fill one call (NextToken covers the busy ones)."""
    if previous is None:
        return min(hours, metrics.MAX_DATAPOINTS_PER_CALL // metrics.MAX_QUERIES_PER_CALL)
    return min(hours, int(previous * 1.1) + 24)


def _minutes_with_calls(hourly: Mapping[datetime, float], since: datetime) -> int:
    """Expected minutes with at least one call (Poisson within each hour): the per-minute series' length."""
    return math.ceil(sum(60 * (1 - math.exp(-n / 60)) for t, n in hourly.items() if t >= since) * 1.05) + 1


def _refresh(run: _Run, clients: _Clients) -> None:
    assert run.listing is not None
    plan = inventory.plan_refresh(run.listing, run.known, day=run.now.date().toordinal(),
                                  budget_calls=run.budget_calls, traffic=run.traffic, exclude=run.exclude)
    run.deferred = dict(plan.deferred)
    for name in plan.chosen:
        try:
            run.details[name] = inventory.read_details(
                name, with_aliases=bool(run.listing.versions.get(name)), client=clients.lam)
            run.refreshed.add(name)
        except inventory.FunctionNotFoundError as exc:
            run.deleted[name] = f"deleted during the cycle: {exc}"
        except inventory.InventoryError as exc:
            run.errors[name] = str(exc)
            run.partial.add(f"{name}: details unreadable ({exc})")


def _active(run: _Run) -> list[str]:
    return [n for n in run.names() if n not in run.deleted and (run.traffic.get(n, 1.0) > 0)]


def _details_after_refresh(
    run: _Run, clients: _Clients, known: Mapping[str, inventory.Details | None]
) -> None:
    """Alias and PC series for the aliases this cycle's detail reads found and the earlier ones lacked."""
    fresh: dict[str, inventory.Details] = {}
    for name, details in list(run.details.items()):
        before = {a.name: a.pc_requested for a in (known.get(name) or inventory.Details({}, None)).aliases}
        new = tuple(a for a in details.aliases if before.get(a.name, -1) != a.pc_requested)
        if new and name not in run.deleted and run.traffic.get(name, 1.0) > 0:
            fresh[name] = inventory.Details(details.tags, details.reserved_concurrency, new, {})
    if fresh:
        _details(run, clients, fresh, aliases_only=True)


def _details(run: _Run, clients: _Clients, known: Mapping[str, inventory.Details | None], *,
             aliases_only: bool = False) -> None:
    hours = run.hours()
    minute_start = max(run.start, run.end - timedelta(days=PER_MINUTE_DAYS))
    hourly: list[MetricQuery] = []
    minutely: list[MetricQuery] = []
    window_minutes = int((run.end - minute_start).total_seconds() // MINUTE)
    for name in (n for n in _active(run) if n in known and n not in run.below_mark):
        census = run.series.get((name, "", "inv"))
        active = len(census) if census is not None else hours
        details = known[name]
        if aliases_only and details is not None:
            minute = name in run.per_minute or any(a.pc_requested for a in details.aliases)
            if minute and name not in run.per_minute:
                # PC found only now: its concurrency is needed per minute (replaces the hourly series)
                run.per_minute.add(name)
                points = _minutes_with_calls(census, minute_start) if census is not None else window_minutes
                minutely.append(metrics.concurrency_query(name, MINUTE, points))
                minutely.append(metrics.minute_invocations_query(name, points))
            for alias in details.aliases:
                hourly.append(metrics.invocations_query(name, alias.name, HOUR, active))
                hourly.extend(metrics.detail_queries(name, alias.name, HOUR, active))
                if alias.pc_requested:
                    target, period = (minutely, MINUTE) if minute else (hourly, HOUR)
                    target.extend(metrics.pc_queries(name, alias.name, period,
                                                     window_minutes if minute else hours))
            continue
        pc_aliases = [a.name for a in details.aliases if a.pc_requested] if details else []
        minute = _pc_question(run, name, details, pc_aliases)
        if minute:
            run.per_minute.add(name)
            points = _minutes_with_calls(census, minute_start) if census is not None else window_minutes
            minutely.append(metrics.concurrency_query(name, MINUTE, points))
            minutely.append(metrics.minute_invocations_query(name, points))
            # PC gauges have a value every minute while PC is configured, calls or not
            minutely.extend(q for alias in pc_aliases
                            for q in metrics.pc_queries(name, alias, MINUTE, window_minutes))
        else:
            hourly.append(metrics.concurrency_query(name, HOUR, active))
            hourly.extend(q for a in pc_aliases for q in metrics.pc_queries(name, a, HOUR, hours))
        hourly.extend(metrics.detail_queries(name, "", HOUR, active))
        for alias in details.aliases if details else ():
            hourly.append(metrics.invocations_query(name, alias.name, HOUR, active))
            hourly.extend(metrics.detail_queries(name, alias.name, HOUR, active))
        if inventory.has_insights(run.entry(name)):
            hourly.extend(metrics.insights_queries(name, HOUR, active))
    if minute_start == run.start:
        _fetch_into(run, clients, hourly + minutely, run.start)
    else:
        _fetch_into(run, clients, hourly, run.start)
        _fetch_into(run, clients, minutely, minute_start)


def _pc_question(run: _Run, name: str, details: inventory.Details | None, pc_aliases: list[str]) -> bool:
    if pc_aliases or (details and details.pc_on_versions):
        return True
    if details and parse_policy(details.tags, run.prefix).cold_start_objective:
        return True
    busiest = max(run.series.get((name, "", "inv"), {}).values(), default=0.0)
    return busiest >= PC_QUESTION_INVOCATIONS_PER_HOUR


def _fetch(
    run: _Run, clients: _Clients, queries: list[MetricQuery], start: datetime
) -> metrics.MetricResults:
    if not queries:
        return metrics.MetricResults()
    got = metrics.fetch(queries, start, run.end, client=clients.cw)
    run.metric_queries += got.queries
    run.metric_queries_billed += got.queries
    run.metric_calls += got.calls
    run.series.update(got.series)
    return got


def _fetch_into(run: _Run, clients: _Clients, queries: list[MetricQuery], start: datetime) -> None:
    got = _fetch(run, clients, queries, start)
    for key, why in got.failed.items():
        run.metric_problems.setdefault(key[0], []).append(f"{key[2]} unreadable: {why}")


def _scan_logs(run: _Run, clients: _Clients, *, sleep: Callable[[float], None],
               monotonic: Callable[[], float]) -> None:
    """REPORT aggregates for the log bytes written since each group's watermark, never twice."""
    owners = _log_owners(run)
    stored = run.state.get("logs") or {}
    windows: dict[str, tuple[datetime, datetime]] = {}
    for group, names in owners.items():
        mark = max(run.start, datetime.fromisoformat(stored[group])) if group in stored else run.start
        if mark >= run.end:
            continue
        if any(_ran_since(run, n, mark) for n in names):
            windows[group] = (mark, run.end)
        else:
            run.watermarks[group] = run.end.isoformat()  # no invocations: nothing to scan, nothing missed
    outcome = reports.scan(reports.batch_jobs(windows), client=clients.logs, sleep=sleep, monotonic=monotonic)
    run.bytes_scanned += outcome.bytes_scanned
    run.insights_queries += outcome.queries
    for group, why in outcome.failed.items():
        run.partial.add(f"log group {group}: {why}")
    for group in sorted(outcome.partial_groups):
        run.partial.add(f"log group {group}: Insights query timed out, partial REPORT results used")
    rows_by_group: dict[str, list[reports.ReportRow]] = {}
    for row in outcome.rows:
        rows_by_group.setdefault(row.log_group, []).append(row)
    for group, end in outcome.scanned.items():
        run.watermarks[group] = end.isoformat()
        start = windows[group][0]
        for name, cells in _attribute(run, group, owners[group], rows_by_group.get(group, [])).items():
            entries = list(run.state.get("reports", {}).get(name, []))
            if cells:
                entries.append(ep.window_entry(start, end, cells))
            run.report_windows[name] = ep.prune_windows(entries, run.start)


def _log_owners(run: _Run) -> dict[str, list[str]]:
    owners: dict[str, list[str]] = {}
    for name in _active(run):
        entry = run.entry(name)
        logging = entry.get("LoggingConfig") or {}
        if inventory.has_insights(entry):
            continue  # Lambda Insights metrics carry the same facts without scanning logs
        if logging.get("LogFormat") == "JSON" and logging.get("SystemLogLevel") in HIDING_LEVELS:
            run.notes[name] = (f"REPORT records hidden: JSON log format with system log level "
                               f"{logging['SystemLogLevel']}; no cold-start or max-memory facts")
            continue
        owners.setdefault(logging.get("LogGroup") or f"/aws/lambda/{name}", []).append(name)
    return owners


def _ran_since(run: _Run, name: str, mark: datetime) -> bool:
    series = run.series.get((name, "", "inv"))
    if series is None:
        return True  # the census could not tell: scan rather than miss
    return any(t + timedelta(seconds=HOUR) > mark and v > 0 for t, v in series.items())


def _attribute(run: _Run, group: str, names: list[str], rows: list[reports.ReportRow],
               ) -> dict[str, dict[int, ep.Cell]]:
    """Rows are per (log group, memory size); a shared group is told apart only by memory size."""
    cells: dict[str, dict[int, ep.Cell]] = {n: {} for n in names}
    for row in rows:
        owner = names[0] if len(names) == 1 else _only_owner(run, names, row.memory_mb)
        if owner is None:
            run.partial.add(f"log group {group} is shared by {', '.join(names)}: REPORT rows at "
                            f"{row.memory_mb} MB cannot be attributed to one function")
            continue
        v = row.values
        cells[owner][row.memory_mb] = [row.invocations, row.cold_starts, v.get("init_ms_avg"),
                                       v.get("billed_ms_avg"), v.get("duration_ms_avg"), v.get("max_mem_p99"),
                                       v.get("max_mem_max"), int(row.partial)]
    return cells


def _only_owner(run: _Run, names: list[str], memory_mb: int) -> str | None:
    assert run.listing is not None
    matches = [n for n in names if memory_mb == run.entry(n)["MemorySize"]
               or any(v.get("MemorySize") == memory_mb for v in run.listing.versions.get(n, {}).values())]
    return matches[0] if len(matches) == 1 else None


# ---------------------------------------------------------------- observations


def _observe(run: _Run, name: str) -> Observations:
    if name in run.deleted:
        return ep.observe(name, None, run.start, run.end, epochs=(), dropped=0, problems=[run.deleted[name]])
    entry = run.entry(name)
    problems = list(run.metric_problems.get(name, []))
    if run.traffic.get(name) == 0 and not problems:
        return ep.observe(name, None, run.start, run.end, epochs=(), dropped=0)
    if name in run.below_mark:
        return ep.observe(name, None, run.start, run.end, epochs=(), dropped=0,
                          problems=[*problems, run.below_mark[name]])
    qualifier, memory_mb = _serving(run, name)
    series = {s: run.series.get((name, qualifier, s), {}) for s in ep.SERIES}
    entries = run.report_windows.get(name, run.state.get("reports", {}).get(name, []))
    entries = ep.prune_windows(entries, run.start)
    arch = (entry.get("Architectures") or ["x86_64"])[0]
    epochs, dropped = ep.build_epochs(
        series, HOUR, arch, memory_mb, history=run.history.get(name, []),
        windows=ep.report_windows(entries), reports=ep.merge_windows(entries))
    if inventory.has_insights(entry):
        epochs = tuple(e.model_copy(update={"reports": _insights_stats(run, name, e)}) for e in epochs)
    return ep.observe(name, qualifier or None, run.start, run.end, epochs=epochs, dropped=dropped,
                      concurrency=_concurrency(run, name), problems=problems)


def _serving(run: _Run, name: str) -> tuple[str, int]:
    """The alias that serves most of the traffic (at least half), else the function; and its memory."""
    assert run.listing is not None
    latest_mb = int(run.entry(name)["MemorySize"])
    details = run.details_of(name)
    total = run.traffic.get(name, 0.0)
    best: tuple[float, str, str] | None = None
    for alias in details.aliases if details else ():
        served = sum(run.series.get((name, alias.name, "inv"), {}).values())
        if served > 0 and served >= 0.5 * total and (best is None or served > best[0]):
            best = (served, alias.name, alias.function_version)
    if best is None:
        return "", latest_mb
    version = run.listing.versions.get(name, {}).get(best[2])
    return best[1], int(version["MemorySize"]) if version else latest_mb


def _insights_stats(run: _Run, name: str, epoch: Any) -> ReportStats:
    def within(s: str) -> list[tuple[datetime, float]]:
        return [(t, v) for t, v in run.series.get((name, "", s), {}).items() if epoch.start <= t < epoch.end]

    cold = dict(within("ins_cold"))
    init = [(v, cold.get(t, 0.0)) for t, v in within("ins_init")]
    cpu = [v for _, v in within("ins_cpu")]
    mem = [v for _, v in within("ins_mem")]
    weight = sum(w for _, w in init)
    return ReportStats(
        invocations=epoch.invocations, cold_starts=round(sum(cold.values())),
        init_ms_avg=sum(v * w for v, w in init) / weight if weight else None,
        max_memory_used_mb_max=max(mem) / 100 * epoch.memory_mb if mem else None,
        cpu_ms_avg=sum(cpu) / len(cpu) if cpu else None,
    )


def _concurrency(run: _Run, name: str) -> Any:
    maxima = run.series.get((name, "", "conc"))
    if maxima is None:
        return None
    minute = name in run.per_minute
    start = max(run.start, run.end - timedelta(days=PER_MINUTE_DAYS)) if minute else run.start
    details = run.details_of(name)
    pc_alias = next((a.name for a in details.aliases if a.pc_requested), "") if details else ""
    return ep.concurrency_series(
        start, run.end, MINUTE if minute else HOUR, maxima,
        invocations=run.series.get((name, "", "invm" if minute else "inv")),
        pc_utilization=run.series.get((name, pc_alias, "pcu")) if pc_alias else None,
        pc_spillover=run.series.get((name, pc_alias, "pcs")) if pc_alias else None,
    )


# ---------------------------------------------------------------- storing the state


def split_state(state: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The state as a small shared part and one part per function, for stores with per-item size limits
    (DynamoDB: 400 KB an item; a 10,000-function fleet needs megabytes). `join_state` reverses it."""
    shared = {k: v for k, v in state.items() if k not in ("functions", "reports", "logs")}
    logs = dict(state.get("logs") or {})
    per_function: dict[str, dict[str, Any]] = {}
    for name, entry in (state.get("functions") or {}).items():
        part = per_function.setdefault(name, {"f": entry})
        if (mark := logs.pop(f"/aws/lambda/{name}", None)) is not None:
            part["w"] = mark  # a default log group belongs to exactly one function
    for name, windows in (state.get("reports") or {}).items():
        per_function.setdefault(name, {})["r"] = windows
    shared["logs"] = logs  # custom (possibly shared) log groups only
    return shared, per_function


def join_state(shared: Mapping[str, Any], per_function: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    state = dict(shared)
    logs = dict(state.get("logs") or {})
    functions, reports_state = {}, {}
    for name, part in per_function.items():
        if "f" in part:
            functions[name] = part["f"]
        if "r" in part:
            reports_state[name] = part["r"]
        if "w" in part:
            logs[f"/aws/lambda/{name}"] = part["w"]
    return {**state, "functions": functions, "reports": reports_state, "logs": logs}
