"""`lambda-tuner demo`: the unchanged agent, approval and apply functions for several days on the twin.

Day by day: the scheduled agent runs, the digest arrives in the inbox, a person approves the proposed
changes through the approval page, the apply function changes the functions, the next days measure the
effect; one applied change then regresses on purpose and its alarm rolls it back.
"""

from __future__ import annotations

import json
import os
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from lambda_tuner.adapters import aws
from lambda_tuner.cli import demo_view
from lambda_tuner.twin import person
from lambda_tuner.twin.fleet import demo_fleet
from lambda_tuner.twin.lambda_invoke import LambdaContext
from lambda_tuner.twin.server import Twin, apply_env
from lambda_tuner.twin.stack import AGENT, LocalStack, scheduled_event
from lambda_tuner.twin.world import World

START = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)  # fixed: the demo is deterministic for a seed
HISTORY_DAYS = 15
SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "data"
REGRESSION_FACTOR = 4.0


@dataclass
class DemoRecord:
    days: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    regression: dict[str, Any] | None = None


def _default(path: Path | None, candidate: Path) -> Path | None:
    return path if path is not None else (candidate if candidate.exists() else None)


def run_demo(*, cycles: int, seed: int, json_out: Path | None, curves: Path | None, quiet: bool) -> int:
    console = demo_view.wide_console()
    specs = demo_fleet(
        seed=seed,
        curves_path=_default(curves, SHARED / "lambda-curves" / "curves.csv"),
        trace_dir=_default(None, SHARED / "azure-functions-2019"),
    )
    world = World(specs, seed=seed, epoch=START - timedelta(days=HISTORY_DAYS), now=START)
    record = DemoRecord()
    with ExitStack() as stack:
        twin = stack.enter_context(Twin(world))
        previous = apply_env(twin)
        stack.callback(_restore_env, previous)
        aws.reset_clients()
        local = LocalStack(twin, mode="approve").deploy()
        from lambda_tuner.handlers import agent

        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as progress:
            task = progress.add_task("simulated days", total=cycles)
            for day in range(cycles):
                now = START + timedelta(days=day)
                twin.advance(now)
                progress.update(task, description=f"day {day + 1}/{cycles}: agent cycle")
                context = LambdaContext(
                    function_name=AGENT,
                    function_version="$LATEST",
                    memory_limit_in_mb=1024,
                    invoked_function_arn=f"arn:aws:lambda:{twin.region}:{twin.account}:function:{AGENT}",
                    timeout_s=900,
                )
                started = time.monotonic()
                result = agent.handler(scheduled_event(now), context)
                mail = local.inbox()
                agent_s = time.monotonic() - started
                progress.update(task, description=f"day {day + 1}/{cycles}: approvals")
                once = not any(d["decision"] == "reject" for d in record.decisions)
                record.decisions += _answer_mail(mail, result.get("summary") or {}, now, reject_one=once)
                approvals_s = time.monotonic() - started - agent_s
                if record.regression is None and day >= 1 and day < cycles - 1:
                    record.regression = _regress_one(twin, world, local, now)
                record.days.append(
                    {
                        "day": day + 1,
                        "time": now.isoformat(),
                        "summary": result.get("summary"),
                        "mail": mail,
                        "agent_s": round(agent_s, 2),
                        "approvals_s": round(approvals_s, 2),
                        "day_s": round(time.monotonic() - started, 2),
                    }
                )
                progress.advance(task)
        out = _result(twin, local, record)
    demo_view.show(console, out, record, quiet=quiet)
    if json_out is not None:
        json_out.write_text(json.dumps(out, indent=2, default=str))
        console.print(f"wrote {json_out}")
    return 0 if out["applied"] else 1


def _restore_env(previous: dict[str, str | None]) -> None:
    for key, value in previous.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    aws.reset_clients()


def _answer_mail(
    mail: list[dict[str, Any]], summary: dict[str, Any], now: datetime, *, reject_one: bool = True
) -> list[dict[str, Any]]:
    """Approve every proposed change in the digest; with `reject_one`, reject its first experiment instead,
    so the demo shows both answers. The demo does that once, in the first digest with an experiment: a
    rejected change is not asked for again, and a person who said no to one trial does not say no to the
    next one every morning."""
    by_url = {link: r for r in summary.get("recommendations", []) for link in r.get("links", {}).values()}
    decisions: list[dict[str, Any]] = []
    rejected_one = not reject_one
    for message in mail:
        for action, url in person.links_in(message["text"]):
            routed = by_url.get(url)
            if routed is None:
                continue
            rec = routed["recommendation"]
            wanted = "reject" if rec["kind"] == "experiment" and not rejected_one else "approve"
            if action != wanted:
                continue
            rejected_one = rejected_one or wanted == "reject"
            page, answer = person.decide(url)
            decisions.append(
                {
                    "time": now.isoformat(),
                    "function": rec["function"],
                    "decision": wanted,
                    "recommendation_id": rec["id"],
                    "page": page.title,
                    "page_status": page.status,
                    "result": answer.title if answer else None,
                    "result_status": answer.status if answer else None,
                }
            )
    return decisions


def _regress_one(twin: Twin, world: World, local: LocalStack, now: datetime) -> dict[str, Any] | None:
    """Make one freshly changed function slow down (as a bad dependency would) and let its alarm act."""
    ddb = boto3.client("dynamodb", region_name=twin.region)
    from lambda_tuner.adapters.store import Store

    store = Store(local.settings["LT_STATE_TABLE"], local.settings["LT_AUDIT_TABLE"], client=ddb)
    applied = store.list_recommendations(status="APPLIED")
    if not applied:
        return None
    victim = sorted(applied, key=lambda r: r.function)[0]
    at = now + timedelta(minutes=30)
    world.inject_regression(victim.function, REGRESSION_FACTOR, at=at)
    twin.advance(now + timedelta(hours=3))
    after = store.get_recommendation(victim.id)
    rollbacks = [r for r in store.list_audit(function=victim.function) if r.type == "rollback"]
    return {
        "function": victim.function,
        "recommendation_id": victim.id,
        "injected_at": at.isoformat(),
        "factor": REGRESSION_FACTOR,
        "status_after": after.status if after else None,
        "rollback_audit_ids": [r.id for r in rollbacks],
    }


def _result(twin: Twin, local: LocalStack, record: DemoRecord) -> dict[str, Any]:
    from lambda_tuner.adapters.store import Store
    from lambda_tuner.core.audit import verify_chain

    store = Store(local.settings["LT_STATE_TABLE"], local.settings["LT_AUDIT_TABLE"])
    audit = store.list_audit()
    lam = boto3.client("lambda", region_name=twin.region)
    applied = []
    for rec in audit:
        after = rec.data.get("after") if rec.type == "change" and rec.data.get("ok") else None
        before = rec.data.get("before")
        if rec.function and isinstance(after, dict) and isinstance(before, dict) and after.get("memory_mb"):
            live = lam.get_function_configuration(FunctionName=rec.function)["MemorySize"]
            applied.append(
                {
                    "function": rec.function,
                    "recommendation_id": rec.recommendation_id,
                    "before": {"memory_mb": before.get("memory_mb")},
                    "after": {"memory_mb": after["memory_mb"], "canary_weight": after.get("canary_weight")},
                    "audit_id": rec.id,
                    "memory_mb_in_account_now": live,
                    "at": rec.at.isoformat(),
                }
            )
    recommendations = [
        r["recommendation"] | {"route": r["route"], "why": r["why"]}
        for day in record.days
        for r in (day["summary"] or {}).get("recommendations", [])
    ]
    head = store.audit_head()
    return {
        "recommendations": recommendations,
        "applied": applied,
        "decisions": record.decisions,
        "regression": record.regression,
        "verifications": [r.model_dump(mode="json") for r in audit if r.type == "verification"],
        "audit": [r.model_dump(mode="json") for r in audit],
        "audit_verify": {
            "problems": verify_chain(audit, head.hash if head else None),
            "head": head.hash if head else None,
        },
        "days": [
            {k: v for k, v in d.items() if k != "summary"}
            | {
                "collect_stats": (d["summary"] or {}).get("collect_stats"),
                "monthly_saving_usd": (d["summary"] or {}).get("monthly_saving_usd"),
            }
            for d in record.days
        ],
        "twin_calls": dict(twin.calls),
    }
