"""`lambda-tuner bench cycle`: whole agent cycles (collect, decide, record, notify) on the twin.

`bench collect` times collection alone. This runs the deployed agent handler, unchanged, against the
twin's fleet of `n` functions with the stack's tables, topic and apply function in place (mode
`recommend`, so nothing is applied), for a first and the following days, and reports per day the wall
time of the whole cycle, the part of it collection took, and the calls made to each AWS service. The
handler runs in a fresh interpreter, as in Lambda, so the twin's own work does not share its CPU. The
DynamoDB calls are what deciding and recording add; against the real service each costs a few
milliseconds more than against the local twin, so the report also gives the cycle projected at an
assumed latency per call (`DYNAMODB_CALL_S`, stated, not measured).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import resource
import time
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from lambda_tuner.bench.collect import EPOCH, LOOKBACK_DAYS, peak_rss_mb

DYNAMODB_CALL_S = 0.008  # an assumed round trip to DynamoDB from Lambda in the same region
TIMEOUT_S = 900


def run_cycle_bench(n: int, *, days: int = 2, seed: int = 1) -> dict[str, Any]:
    """The first (cold) and following (warm) days of the agent over `n` functions of `scaled_fleet`."""
    if n < 1 or days < 1:
        raise ValueError("need at least one function and one day")
    # The twin is imported here: `lambda-tuner bench --help` must stay light.
    from lambda_tuner.adapters import aws
    from lambda_tuner.twin.fleet import scaled_fleet
    from lambda_tuner.twin.server import Twin, apply_env
    from lambda_tuner.twin.stack import LocalStack
    from lambda_tuner.twin.world import World

    specs = scaled_fleet(n, seed=seed)
    start = EPOCH + timedelta(days=LOOKBACK_DAYS + 1)
    world = World(specs, seed=seed, epoch=EPOCH, now=start)
    rows: list[dict[str, Any]] = []
    saved = dict(os.environ)
    try:
        with Twin(world) as twin:
            apply_env(twin)
            aws.reset_clients()
            LocalStack(twin, mode="recommend").deploy()  # sets the stack's LT_* settings here
            env = {k: v for k, v in os.environ.items() if k.startswith(("LT_", "AWS_"))}
            ctx = mp.get_context("spawn")
            for day in range(days):
                now = start + timedelta(days=day)
                twin.advance(now)
                before = Counter(twin.calls)
                with ctx.Pool(1) as pool:
                    out: dict[str, Any] = pool.apply(_child, (env, now, twin.region, twin.account))
                rows.append(_day(day, out, Counter(twin.calls) - before))
    finally:
        os.environ.clear()
        os.environ.update(saved)
        aws.reset_clients()
    return {"functions": n, "seed": seed, "dynamodb_call_s_assumed": DYNAMODB_CALL_S, "days": rows}


def _child(env: dict[str, str], now: datetime, region: str, account: str) -> dict[str, Any]:
    """Runs in a fresh interpreter: one scheduled agent invocation, measured."""
    os.environ.update(env)
    from lambda_tuner.handlers import agent
    from lambda_tuner.twin.lambda_invoke import LambdaContext
    from lambda_tuner.twin.stack import AGENT, scheduled_event

    context = LambdaContext(
        function_name=AGENT,
        function_version="$LATEST",
        memory_limit_in_mb=2048,
        invoked_function_arn=f"arn:aws:lambda:{region}:{account}:function:{AGENT}",
        timeout_s=TIMEOUT_S,
    )
    started = time.monotonic()
    result = agent.handler(scheduled_event(now, account, region), context)
    wall = time.monotonic() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    summary = result.get("summary") or {}
    return {
        "ok": bool(result.get("ok")),
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": peak_rss_mb(usage),  # VmHWM: ru_maxrss would carry the twin's peak over exec
        "collect_s": float((summary.get("collect_stats") or {}).get("wall_s", 0.0)),
        "recommendations": len(summary.get("recommendations") or []),
        "repeated_notes": int(summary.get("repeated_notes", 0)),
    }


def _day(day: int, out: dict[str, Any], calls: Counter[str]) -> dict[str, Any]:
    by_service: Counter[str] = Counter()
    for operation, count in calls.items():
        by_service[operation.split(".", 1)[0]] += count
    dynamodb = by_service.get("dynamodb", 0)
    wall_s, collect_s = out["wall_s"], out["collect_s"]
    projected = wall_s + dynamodb * DYNAMODB_CALL_S
    return {
        "day": day + 1,
        "ok": out["ok"],
        "cycle_s": round(wall_s, 1),
        "collect_s": round(collect_s, 1),
        "rest_s": round(wall_s - collect_s, 1),
        "agent_cpu_s": round(out["cpu_s"], 1),
        "peak_rss_mb": round(out["peak_rss_mb"]),
        "recommendations_recorded": out["recommendations"],
        "repeated_notes": out["repeated_notes"],
        "calls_by_service": dict(sorted(by_service.items())),
        "dynamodb_calls": dict(sorted((k, v) for k, v in calls.items() if k.startswith("dynamodb."))),
        "projected_cycle_s": round(projected, 1),
        "within_timeout": projected < TIMEOUT_S,
    }
