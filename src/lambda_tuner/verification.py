"""Verification: what each applied change did, measured on the following days, against its projection.

A memory change is judged at its new size (an epoch of the collected data). A provisioned-concurrency
change leaves the size alone, so it is judged on its own evidence: the calls, the PC spillover and the
PC utilisation in the concurrency series after the change, next to the cold-start rate it projected.
Either way the change is closed (APPLIED → VERIFIED) once it has been in force a day, so the next
change to the function, held while one is in flight, is not held longer than that. Its guard ends
then too: the cycle hands each change closed here to the apply function, which removes its alarms.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from lambda_tuner.core.canary import canary_of
from lambda_tuner.core.cost import invocation_cost
from lambda_tuner.core.models import AuditRecord, Epoch, Observations, Recommendation
from lambda_tuner.core.pricing import PriceTable, default_prices

VERIFY_AFTER = timedelta(hours=20)  # a day of traffic at the new size, give or take the schedule's jitter
VERIFY_GIVE_UP = timedelta(days=7)
VERIFY_MIN_INVOCATIONS = 50
EPOCH_SLACK = timedelta(hours=1)  # an epoch's start is on the hour; the change falls within one
# core.pc_reason.cold_text: "cold starts 1,200 → 300 a month (0.40% → 0.10% of calls)"
_PROJECTED_COLD_RATE = re.compile(r"→\s*([0-9.]+)% of calls\)")


def verify_applied(observations: Mapping[str, Observations], store: Any, now: datetime) -> list[str]:
    """Close every applied change that has had its day, with what happened next to what was projected.

    Memory: once there is a day of data at the new size; one that never gets enough traffic there is
    closed as inconclusive after a week. Provisioned concurrency: a day after the change, whatever the
    traffic (a PC change is often the removal of idle PC, with no traffic to wait for).
    """
    done: list[str] = []
    prices = default_prices()
    # A canary is closed by its conclusion (audited as its verification), not by a day of data at the
    # trial size: verified early, it would stop holding its function and never be concluded.
    recs = [r for r in store.list_recommendations(status="APPLIED") if canary_of(r) is None]
    # when each was applied: one read of the audit for all of them, not one per change
    records = store.list_audit(since=min(r.created_at for r in recs)) if recs else []
    for rec in recs:
        obs, applied = observations.get(rec.function), applied_at_in(records, rec)
        if is_pc_change(rec):
            data = _pc_outcome(rec, obs, applied, now)
        else:
            data = _memory_outcome(rec, obs, applied, now, prices)
        if data is None:
            continue
        if store.transition(rec.id, "APPLIED", "VERIFIED", now):
            try:
                store.append_audit(
                    "verification", now, function=rec.function, recommendation_id=rec.id, data=data
                )
            except Exception:
                # Not VERIFIED without its record: back to APPLIED, judged again (and audited) next cycle
                store.transition(rec.id, "VERIFIED", "APPLIED", now)
                raise
            done.append(rec.id)
    return done


def is_pc_change(rec: Recommendation) -> bool:
    return "memory_mb" not in rec.proposed and ("pc" in rec.proposed or "pc_schedule" in rec.proposed)


# ---------------------------------------------------------------- memory


def _memory_outcome(
    rec: Recommendation, obs: Observations | None, applied: datetime, now: datetime, prices: PriceTable
) -> dict[str, Any] | None:
    """Judged on data since the change was made (`applied`), not since it was proposed: an approval
    can come days later, and an earlier stint at the same size is no evidence of this change."""
    epoch = _epoch_at(obs, rec.proposed.get("memory_mb"), since=applied) if obs is not None else None
    age = now - applied
    if epoch is not None and (epoch.invocations < VERIFY_MIN_INVOCATIONS or not epoch.duration_avg_ms):
        epoch = None  # not enough at the new size yet
    if age < VERIFY_AFTER or (epoch is None and age < VERIFY_GIVE_UP):
        return None
    if epoch is None:
        return {"inconclusive": "too little traffic at the new size"}
    return _verification(rec, epoch, prices)


def _verification(rec: Recommendation, epoch: Epoch, prices: PriceTable) -> dict[str, Any]:
    """Realised duration and monthly saving next to what was projected for them."""
    assert epoch.duration_avg_ms is not None
    memory = int(epoch.memory_mb)
    realised_cost = invocation_cost(prices, epoch.arch, memory, epoch.duration_avg_ms)
    data: dict[str, Any] = {
        "realised": {
            "duration_ms": epoch.duration_avg_ms,
            "p99_ms": epoch.duration_p99_ms,
            "invocations": epoch.invocations,
            "cost_per_invocation_usd": realised_cost,
        }
    }
    if rec.after is not None:
        projected = rec.after.duration_ms
        data["projected_duration_ms"] = projected.model_dump()
        data["within_interval"] = projected.low <= epoch.duration_avg_ms <= projected.high
    if rec.before is not None and rec.monthly_saving_usd is not None:
        before = rec.before.cost_per_invocation_usd.expected
        per_month = rec.before.monthly_cost_usd.expected / before if before > 0 else 0.0
        data["realised_monthly_saving_usd"] = round((before - realised_cost) * per_month, 4)
        data["projected_monthly_saving_usd"] = rec.monthly_saving_usd.model_dump()
    return data


def _epoch_at(obs: Observations, memory_mb: object, *, since: datetime) -> Epoch | None:
    """The latest epoch at `memory_mb` that began after `since` (the collector's windows are hourly:
    one that began within the hour before holds the calls after the change)."""
    matches = [e for e in obs.epochs if e.memory_mb == memory_mb and e.start >= since - EPOCH_SLACK]
    return matches[-1] if matches else None


# ---------------------------------------------------------------- provisioned concurrency


def applied_at_in(records: Iterable[AuditRecord], rec: Recommendation) -> datetime:
    """When the change was made (its successful `change` audit record), from records already read (any
    functions' records since `rec` was made): approval can come days after creation, and a day of
    evidence (or a canary's day) must be a day with the change in force."""
    changes = [
        r.at
        for r in records
        if r.type == "change" and r.recommendation_id == rec.id and r.data.get("ok", True)
    ]
    return max(changes, default=rec.created_at)


def _pc_outcome(
    rec: Recommendation, obs: Observations | None, applied_at: datetime, now: datetime
) -> dict[str, Any] | None:
    in_force = now - applied_at
    if in_force < VERIFY_AFTER:
        return None
    realised = _pc_evidence(obs, applied_at)
    projected_rate = rec.cold_start_rate_after
    if projected_rate is None:  # recommendations stored before the rate had its own field
        projected_rate = _projected_cold_rate(rec.latency_effect)
    data: dict[str, Any] = {
        "applied_at": applied_at.isoformat(),
        "realised": realised,
        "projected": {
            "cold_start_rate": projected_rate,
            "latency_effect": rec.latency_effect,
            "monthly_saving_usd": rec.monthly_saving_usd.model_dump() if rec.monthly_saving_usd else None,
        },
        "within_projection": None,
    }
    hours = f"{in_force.total_seconds() / 3600:.0f} h"
    if not realised["invocations"]:
        data["inconclusive"] = (
            f"no invocations measured in the {hours} since the change, so nothing to compare with the "
            "projection; closed because no rollback alarm fired and the function should not stay held"
        )
        return data
    rate = realised["spillover_rate"]
    calls = f"{realised['invocations']:,} calls in {realised['hours']:g} h after the change"
    if rate is None:
        data["verdict"] = (
            f"{calls}; PC spillover is not measured (no PC on the alias when collected), so cold starts "
            f"cannot be compared with the projection; no rollback alarm fired in {hours}"
        )
    elif projected_rate is not None and rate <= projected_rate:
        data["within_projection"] = True
        data["verdict"] = (
            f"{calls}; {rate:.2%} spilled over to on-demand, so at most that many started cold: within "
            f"the projected {projected_rate:.2%}"
        )
    else:
        than = f" (projected cold starts {projected_rate:.2%})" if projected_rate is not None else ""
        data["verdict"] = (
            f"{calls}; {rate:.2%} spilled over to on-demand{than}; spillover counts warm on-demand calls "
            f"too, so it bounds cold starts only from above; no rollback alarm fired in {hours}"
        )
    return data


def _pc_evidence(obs: Observations | None, since: datetime) -> dict[str, Any]:
    """Calls, PC spillover and PC utilisation in the periods that began at or after `since`."""
    series = obs.concurrency if obs is not None else None
    if series is None or not series.invocations:
        return {
            "hours": 0.0,
            "invocations": 0,
            "pc_spillover_invocations": None,
            "spillover_rate": None,
            "pc_utilization_max_mean": None,
        }
    step = timedelta(seconds=series.period_s)
    after = [i for i in range(len(series.invocations)) if series.start + i * step >= since]
    calls = sum(series.invocations[i] for i in after)
    dense = len(series.invocations)  # PC series are empty when the alias had no PC at collection
    spill = [series.pc_spillover[i] for i in after] if len(series.pc_spillover) == dense else []
    util = [series.pc_utilization_max[i] for i in after] if len(series.pc_utilization_max) == dense else []
    spilled = sum(spill) if spill else None
    return {
        "hours": round(len(after) * series.period_s / 3600, 2),
        "invocations": round(calls),
        "pc_spillover_invocations": round(spilled) if spilled is not None else None,
        "spillover_rate": spilled / calls if spilled is not None and calls > 0 else None,
        "pc_utilization_max_mean": round(sum(util) / len(util), 4) if util else None,
    }


def _projected_cold_rate(latency_effect: str) -> float | None:
    match = _PROJECTED_COLD_RATE.search(latency_effect)
    return float(match.group(1)) / 100 if match else None
