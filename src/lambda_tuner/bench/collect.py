"""Collection benchmark: full collection cycles on the twin, at fleet sizes up to 10,000 functions.

Per size, two cycles run against one twin: a cold one (empty state: every function is new) and the next
day's warm one (state from the cold cycle: the steady state of a daily schedule). The collector runs in a
fresh subprocess (spawn) so its peak RSS is the agent's own, not the twin's; its control-plane pacing
runs in real time (the waits overlap the metric and log reads, so only a real clock shows the cycle's
length). `wall_s` includes the twin's own compute time; `agent_cpu_s` is the collector's alone.

The headline numbers of a run are the warm cycle's; the cold cycle is reported alongside.

`versions_per_function` K > 0 makes the fleet version-heavy (every function with K published versions),
so the collector's $LATEST-only listing (`collect_run.VERSION_PAGES_SHARE`) is exercised; each cycle
reports which listing it made (`listing`). `version_pages_share` overrides that share in the collector's
subprocess only (e.g. 1000: never switch, to measure the FunctionVersion=ALL listing on the same fleet).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import resource
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from lambda_tuner.bench.lower_bound import REFRESH_DAYS, Bound, CycleFacts, FunctionFacts, lower_bound
from lambda_tuner.collect import CONTROL_PLANE_BUDGET_S, CollectResult
from lambda_tuner.collect_run import VERSION_HEAVY_KEY, VERSION_PAGES_SHARE
from lambda_tuner.core.cost import MONTH_DAYS, invocation_cost
from lambda_tuner.core.pricing import default_prices
from lambda_tuner.core.selfcost import monthly_cost_usd

SavingsHook = Callable[[CollectResult], float]  # monthly USD the decision core finds in a collection
EPOCH = datetime(2026, 11, 1, tzinfo=UTC)
LOOKBACK_DAYS = 14
CONTROL_PLANE_RPS = 5.0
_PRICES = default_prices()
SCHEDULE = "daily (one cycle per day, 30.4 cycles per month)"


def run(sizes: Sequence[int], *, savings: SavingsHook | None = None, seed: int = 1,
        lookback_days: int = LOOKBACK_DAYS, versions_per_function: int = 0,
        version_pages_share: float | None = None) -> dict[str, Any]:
    heavy: dict[str, Any] = {}
    if versions_per_function:
        heavy["versions_per_function"] = versions_per_function
    if version_pages_share is not None:
        heavy["version_pages_share"] = version_pages_share
    return {
        "schedule": SCHEDULE,
        "lookback_days": lookback_days,
        "control_plane_rps": CONTROL_PLANE_RPS,
        **heavy,
        "savings_hook": None if savings is None else getattr(savings, "__qualname__", repr(savings)),
        "notes": {
            "headline": "a run's top-level numbers are the warm (next-day) cycle; first_cycle: the cold one",
            "api_calls": "operations as the twin served them (AWS's count: retries included)",
            "lower_bound_total": "bench/lower_bound.py: fewest pages under AWS limits for the same data and "
                                 "the same refresh rule, computed from the fleet description",
            "cycle_s_with_pacing": "= wall_s: real time, control-plane pacing included (it overlaps the "
                                   "metric and log reads); the twin's own compute is in it too",
            "agent_cost_usd_per_month": f"cycle_cost_usd x 30.4 at the default schedule: {SCHEDULE}",
            "savings_usd_per_month": "null unless a savings hook (the decision core over the observations) "
                                     "is supplied",
            "listing": "ListFunctions pages the collector made, FunctionVersion=ALL and $LATEST only; mode "
                       "'$LATEST' when the cycle ended with a $LATEST-only listing (a version-heavy account)",
            "all_versions_listing": "what a FunctionVersion=ALL listing of the whole fleet takes: "
                                    "ceil((functions + published versions) / 50) pages, at the paced rate",
        },
        "runs": [run_size(n, savings=savings, seed=seed, lookback_days=lookback_days,
                          versions_per_function=versions_per_function,
                          version_pages_share=version_pages_share) for n in sizes],
    }


def run_size(n: int, *, savings: SavingsHook | None = None, seed: int = 1,
             lookback_days: int = LOOKBACK_DAYS, specs: list[Any] | None = None,
             versions_per_function: int = 0, version_pages_share: float | None = None,
             control_plane_rps: float = CONTROL_PLANE_RPS,
             control_plane_budget_s: float = CONTROL_PLANE_BUDGET_S) -> dict[str, Any]:
    """`control_plane_rps` and `control_plane_budget_s`: the collector's pacing and budget (the bench's
    figures use the defaults; tests shrink the budget and speed the pacing up)."""
    # The twin is imported here, not at the top: the collector's subprocess imports this module too, and
    # must not carry moto and the World in its peak RSS.
    from lambda_tuner.twin.server import Twin
    from lambda_tuner.twin.world import World

    if specs is None:
        from lambda_tuner.twin.fleet import scaled_fleet

        specs = scaled_fleet(n, seed=seed, versions_per_function=versions_per_function)
    cold_at = EPOCH + timedelta(days=lookback_days + 1)
    warm_at = cold_at + timedelta(days=1)
    world = World(specs, seed=seed, epoch=EPOCH, now=cold_at)
    pacing = Pacing(control_plane_rps, control_plane_budget_s, version_pages_share)
    with Twin(world) as twin:
        cold = _cycle(twin, cold_at, {}, lookback_days, savings, pacing=pacing)
        twin.advance(warm_at)
        warm = _cycle(twin, warm_at, cold["state"], lookback_days, savings, pacing=pacing)
    budget = int(control_plane_budget_s * control_plane_rps)
    cap = int(budget * (VERSION_PAGES_SHARE if version_pages_share is None else version_pages_share))
    cold_bound = lower_bound(fleet_facts(specs, cold_at, lookback_days, None, durations_known=set()),
                             _cycle_facts(cold_at, budget, specs, {}, cap))
    warm_bound = lower_bound(fleet_facts(specs, warm_at, lookback_days, cold_at,
                                         durations_known=_durations_known(cold["state"])),
                             _cycle_facts(warm_at, budget, specs, cold["state"], cap))
    entries = len(specs) + sum(published_versions(s) for s in specs)
    pages = -(-entries // 50)
    return {"functions": len(specs), "published_versions": entries - len(specs),
            "all_versions_listing": {"pages": pages, "s_at_paced_rate": round(pages / control_plane_rps, 1)},
            **_summary(warm, warm_bound), "first_cycle": _summary(cold, cold_bound)}


def _summary(cycle: dict[str, Any], bound: Bound) -> dict[str, Any]:
    stats = cycle["stats"]
    total = sum(cycle["api_calls"].values())
    return {
        "api_calls": cycle["api_calls"], "api_calls_total": total,
        "listing": cycle["listing"],
        "lower_bound_total": bound.total, "lower_bound_calls": bound.calls,
        "lower_bound_listing": {"mode": "ALL" if bound.listing.all_versions else "$LATEST",
                                "pages": bound.listing.pages, "abandoned_all_pages": bound.listing.abandoned},
        "ratio_to_lower_bound": round(total / bound.total, 3) if bound.total else None,
        "wall_s": stats["wall_s"], "paced_wait_s": stats["paced_wait_s"],
        "cycle_s_with_pacing": stats["wall_s"],
        "peak_rss_mb": cycle["peak_rss_mb"], "agent_cpu_s": cycle["agent_cpu_s"],
        "phase_s": stats["phase_s"], "control_plane_s": stats["control_plane_s"],
        "metric_queries": stats["metric_queries"], "insights_bytes_scanned": stats["insights_bytes_scanned"],
        "refreshed": stats["refreshed"], "deferred": stats["deferred"],
        "cycle_cost_usd": stats["cost_usd"],
        "agent_cost_usd_per_month": round(monthly_cost_usd(stats["cost_usd"]), 4),
        "savings_usd_per_month": cycle["savings"],
        "insufficient": cycle["insufficient"], "partial": len(stats["partial"]),
        "state_kb": round(len(json.dumps(cycle["state"], default=str)) / 1024, 1),
    }


@dataclass(frozen=True)
class Pacing:
    rps: float = CONTROL_PLANE_RPS
    budget_s: float = CONTROL_PLANE_BUDGET_S
    version_pages_share: float | None = None  # None: the collector's own


def _cycle(twin: Any, now: datetime, state: dict[str, Any], lookback_days: int,
           savings: SavingsHook | None, *, pacing: Pacing = Pacing()) -> dict[str, Any]:
    twin.calls.clear()
    ctx = mp.get_context("spawn")
    with ctx.Pool(1) as pool:
        out: dict[str, Any] = pool.apply(_child, (twin.env(), now, state, lookback_days, savings),
                                           {"pacing": pacing})
    out["api_calls"] = dict(sorted(twin.calls.items()))  # as AWS would count them: retries included
    return out


def _child(env: dict[str, str], now: datetime, state: dict[str, Any], lookback_days: int,
           savings: SavingsHook | None, *, pacing: Pacing = Pacing()) -> dict[str, Any]:
    """Runs in a fresh interpreter: one collection, measured."""
    os.environ.update(env)
    from lambda_tuner import collect_metrics
    from lambda_tuner.adapters import aws
    from lambda_tuner.collect import collect

    aws.reset_clients()
    if pacing.version_pages_share is not None:  # this interpreter's collector only; discover() reads it
        setattr(collect_metrics, "VERSION_PAGES_SHARE", pacing.version_pages_share)  # noqa: B010
    pages = {"all_versions": 0, "latest_only": 0}

    def listed(params: dict[str, Any], **_: Any) -> None:
        pages["all_versions" if params.get("FunctionVersion") == "ALL" else "latest_only"] += 1

    aws.client("lambda").meta.events.register("provide-client-params.lambda.ListFunctions", listed)
    # Real time throughout: the pacing waits overlap the metric and log reads, so only a real clock
    # shows how long a cycle takes.
    result = collect(now, lookback_days, "lambda-tuner:", state, control_plane_rps=pacing.rps,
                     control_plane_budget_s=pacing.budget_s)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    stats = result.stats.model_dump(mode="json")
    return {
        "stats": stats, "state": result.state,
        "listing": {"mode": "$LATEST" if pages["latest_only"] else "ALL",
                    "pages": pages["all_versions"] + pages["latest_only"], **pages,
                    "version_heavy_in_state": VERSION_HEAVY_KEY in result.state},
        "peak_rss_mb": peak_rss_mb(usage),
        "agent_cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "savings": savings(result) if savings is not None else None,
        "insufficient": sum(1 for o in result.observations.values() if o.status != "ok"),
    }


def peak_rss_mb(usage: resource.struct_rusage) -> float:
    """This process's high-water RSS. ru_maxrss survives exec (it would report the parent's peak at fork
    time), so Linux's VmHWM, which starts afresh with the new program, is preferred."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return round(usage.ru_maxrss / 1024, 1)


# ---------------------------------------------------------------- the fleet, described for the bound


def fleet_facts(specs: Sequence[Any], now: datetime, lookback_days: int,
                last_scan: datetime | None, durations_known: set[str] | None = None) -> list[FunctionFacts]:
    """What the lower bound needs to know, from the fleet's ground truth (traffic per minute).

    The bill mark's rule estimates a bill from the mean duration seen in an earlier cycle; a function
    never read yet can only be judged by its timeout, so its bill is taken at the timeout here too
    (`durations_known`: the functions an earlier cycle measured; None = all)."""
    end = now.replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=lookback_days)
    minute_start = max(start, end - timedelta(days=14))
    first = int(start.timestamp() // 60)
    n = int((end - start).total_seconds() // 60)
    skip = int((minute_start - start).total_seconds() // 60)
    scan_from = int(((last_scan or start).replace(minute=0, second=0, microsecond=0) - start).total_seconds()
                    // 60)
    facts = []
    for spec in specs:
        counts = np.asarray(spec.traffic.counts(first, n))
        hourly = counts.reshape(-1, 60).sum(axis=1)
        pc_aliases = sum(1 for a in spec.aliases if a.pc > 0)
        scanned = not spec.insights and spec.emits_reports
        known = durations_known is None or spec.name in durations_known
        mean_ms = float(np.asarray(spec.curve.duration(spec.memory_mb))) if known else spec.timeout_s * 1000.0
        per_call = invocation_cost(_PRICES, spec.arch, spec.memory_mb, mean_ms)
        facts.append(FunctionFacts(
            name=spec.name, versions=published_versions(spec), aliases=len(spec.aliases),
            alias_versions=frozenset(v for a in spec.aliases for v in (a.version, *(r for r, _ in a.routing))
                                     if v != "$LATEST"),
            pc_aliases=pc_aliases,
            active_hours=int((hourly > 0).sum()), active_minutes=int((counts[skip:] > 0).sum()),
            peak_hour_invocations=float(hourly.max(initial=0)),
            cold_start_objective=any(k.endswith("cold-start-objective") for k in spec.tags),
            insights=spec.insights, log_group=spec.log_group_name if scanned else None,
            ran_in_scan_window=bool(counts[scan_from:].sum() > 0),
            monthly_bill_usd=float(counts.sum()) / lookback_days * MONTH_DAYS * per_call,
            agent_tags=any(k.startswith("lambda-tuner:") for k in spec.tags),
        ))
    return facts


def _durations_known(state: dict[str, Any]) -> set[str]:
    return {n for n, e in (state.get("functions") or {}).items() if "ms" in e}


def published_versions(spec: Any) -> int:
    """Versions are published in order from 1: `published`, or as many as the highest one an alias names."""
    return max(int(getattr(spec, "published", 0)), *(int(v) for v in spec.versions), 0)


def _cycle_facts(now: datetime, budget_calls: int, specs: Sequence[Any], state: dict[str, Any],
                 version_pages_cap: int | None = None) -> CycleFacts:
    """`budget_calls`: the whole control-plane budget (the bound takes its own listing pages off it)."""
    known = state.get("functions") or {}
    day = now.date().toordinal()
    heavy = state.get(VERSION_HEAVY_KEY)
    return CycleFacts(
        day=day, budget_calls=0, control_plane_calls=budget_calls,
        known=frozenset(n for n, v in known.items() if "d" in v),
        last_read_day={n: int(v["day"]) for n, v in known.items() if "day" in v},
        quiet_since={n: int(v["q"]) for n, v in known.items() if "q" in v},
        version_pages_cap=version_pages_cap,
        latest_only=heavy is not None and day - int(heavy) < REFRESH_DAYS,
        with_aliases=frozenset(n for n, v in known.items() if (v.get("d") or {}).get("a")
                               or (v.get("d") or {}).get("pv")),
        sized_versions={n: frozenset(v["vm"]) for n, v in known.items() if v.get("vm")},
    )
