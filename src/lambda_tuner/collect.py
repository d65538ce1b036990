"""One collection: discover every function, read its metrics and REPORT facts, hand the core clean values.

Order of calls, chosen so the expensive steps only touch functions that need them:
1. ListFunctions (every cycle, paced to the agent's share of the Lambda control-plane quota), with every
   published version, or — on an account whose versions would take more than a tenth of the control-plane
   budget (`VERSION_PAGES_SHARE`) — $LATEST only. Then a function's versions are known through its aliases,
   each one's memory size read once (GetFunctionConfiguration) and kept in the state; the state remembers
   the account as version-heavy, and the full listing is tried again after a week.
2. Census: Invocations per function per hour, densely packed into GetMetricData calls. Idle functions stop
   here (their observations say "no invocations"), and the census ranks new functions for step 3.
3. Detail calls (tags, reserved concurrency, aliases, PC) for changed / PC-holding / new / due functions,
   within a control-plane budget (see `adapters.inventory.plan_refresh`).
4. Duration statistics, errors, throttles, concurrency, PC and Lambda Insights series for active functions
   whose bill can pay for reading them (see `_below_mark`): a function billed under `min_monthly_bill_usd`
   (default $1/month) cannot save more than its bill, while its eight detail series cost $0.0024 a month
   at the daily schedule; it stays in the census and is read again once its bill passes the mark.
   An alias that ran a canary in the look-back (recorded by the agent, or routing now to a version at
   another memory size) also has its versions' series read (ExecutedVersion), to split the canary's window.
5. REPORT aggregates from Logs Insights, only for bytes written since the last scan of each log group.
6. The pure core splits series into epochs per memory size and builds `Observations`.
Steps 1–4 live in `collect_metrics`, 5 in `collect_logs`, 6 in `collect_observe`; the working state they
share is `collect_run.Run`, and `collect_state` stores it between cycles.

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
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from lambda_tuner.adapters import aws
from lambda_tuner.adapters.pacing import TokenBucket, paced
from lambda_tuner.collect_logs import scan_logs
from lambda_tuner.collect_metrics import (
    below_mark,
    census,
    details_after_refresh,
    discover,
    read_details,
    refresh,
)
from lambda_tuner.collect_observe import observe
from lambda_tuner.collect_run import (
    CONTROL_PLANE_BUDGET_S,
    LOGS_START_BY_S,
    MIN_MONTHLY_BILL_USD,
    Clients,
    CollectError,
    Run,
)
from lambda_tuner.collect_state import history_from_audit, join_state, split_state
from lambda_tuner.core.epochs import CanaryWindow, HistoryItem
from lambda_tuner.core.models import Inventory, Observations
from lambda_tuner.core.selfcost import CycleUsage, cycle_cost_usd

__all__ = ["CONTROL_PLANE_BUDGET_S", "MIN_MONTHLY_BILL_USD", "CanaryWindow", "CollectError", "CollectResult",
           "CollectStats", "HistoryItem", "collect", "history_from_audit", "join_state", "split_state"]


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
    memory_history: Mapping[str, Sequence[HistoryItem]] | None = None,
    exclude: Collection[str] = (), control_plane_rps: float = 5.0,
    lambda_client: Any = None, cloudwatch_client: Any = None, logs_client: Any = None,
    sleep: Callable[[float], None] = time.sleep, monotonic: Callable[[], float] = time.monotonic,
    control_plane_budget_s: float = CONTROL_PLANE_BUDGET_S, agent_memory_mb: int = 2048,
    min_monthly_bill_usd: float = MIN_MONTHLY_BILL_USD,
) -> CollectResult:
    if lookback_days < 1 or lookback_days > 455:
        raise ValueError(f"lookback_days must be between 1 and 455, got {lookback_days}")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    started = monotonic()
    clients = Clients(
        lam=lambda_client or aws.client("lambda"), cw=cloudwatch_client or aws.client("cloudwatch"),
        logs=logs_client or aws.client("logs"),
    )
    end = now.replace(minute=0, second=0, microsecond=0)
    run = Run(now=now, start=end - timedelta(days=lookback_days), end=end, prefix=tag_prefix,
              state=dict(state), history={k: list(v) for k, v in (memory_history or {}).items()},
              exclude=set(exclude),
              min_bill_usd=min_monthly_bill_usd)
    bucket = TokenBucket(control_plane_rps, monotonic=monotonic, sleep=sleep)
    phases: dict[str, float] = {}

    def timed(name: str, step: Callable[[], None]) -> None:
        t0 = monotonic()
        step()
        phases[name] = round(monotonic() - t0, 3)

    budget = int(control_plane_budget_s * control_plane_rps)
    with _counting(clients) as counter, paced(clients.lam, bucket):
        timed("discover", lambda: discover(run, clients, budget_calls=budget))
        timed("census", lambda: census(run, clients))
        run.below_mark = below_mark(run)
        # Detail reads spend most of their time waiting for the control-plane share: metrics and logs
        # are read meanwhile, with the details known from earlier cycles; what the reads change about
        # aliases and PC is fetched just after.
        known = {name: run.details_of(name) for name in run.names()}
        with ThreadPoolExecutor(max_workers=1) as pool:
            refreshing = pool.submit(timed, "refresh", lambda: refresh(run, clients))
            timed("metrics", lambda: read_details(run, clients, known))
            # From a $LATEST-only listing the versions' memory sizes, which tell apart the REPORT rows of a
            # shared log group, are read by the refresh: the rows wait for it (as the cycle does next)
            settled = refreshing.result if run.listing and not run.listing.all_versions else None
            timed("logs", lambda: scan_logs(run, clients, sleep=sleep, monotonic=monotonic,
                                            deadline=started + LOGS_START_BY_S, before_attributing=settled))
            refreshing.result()
        timed("metrics_after_refresh", lambda: details_after_refresh(run, clients, known))
    observations: dict[str, Observations] = {}
    timed("observe", lambda: observations.update({name: observe(run, name) for name in run.names()}))
    stats = _stats(run, counter.snapshot(), bucket, control_plane_rps,
                   wall_s=monotonic() - started, agent_memory_mb=agent_memory_mb)
    stats.phase_s = phases
    return CollectResult(inventory=run.build_inventory(), observations=observations, stats=stats,
                         state=run.next_state())


def _stats(run: Run, calls: dict[str, int], bucket: TokenBucket, rps: float, *, wall_s: float,
           agent_memory_mb: int) -> CollectStats:
    state_bytes = len(json.dumps(run.next_state(), default=str))
    usage = CycleUsage(
        metrics_requested=run.metric_queries_billed, insights_bytes_scanned=run.bytes_scanned,
        agent_memory_mb=agent_memory_mb, agent_run_s=wall_s,  # waits for the quota are inside wall_s
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


@contextmanager
def _counting(clients: Clients) -> Iterator[Any]:
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
