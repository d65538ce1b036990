"""Verification: what each applied change did, measured on the following days, against its projection."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from lambda_tuner.core.cost import invocation_cost
from lambda_tuner.core.models import Epoch, Observations, Recommendation
from lambda_tuner.core.pricing import PriceTable, default_prices

VERIFY_AFTER = timedelta(hours=20)  # a day of traffic at the new size, give or take the schedule's jitter
VERIFY_GIVE_UP = timedelta(days=7)
VERIFY_MIN_INVOCATIONS = 50


def verify_applied(observations: Mapping[str, Observations], store: Any, now: datetime) -> list[str]:
    """Compare what happened after each applied change with what was projected, once there is a day of
    data at the new size; a change that never gets enough traffic is closed as inconclusive after a week."""
    done: list[str] = []
    prices = default_prices()
    for rec in store.list_recommendations(status="APPLIED"):
        obs = observations.get(rec.function)
        epoch = _epoch_at(obs, rec.proposed.get("memory_mb")) if obs is not None else None
        age = now - rec.created_at
        if epoch is not None and (epoch.invocations < VERIFY_MIN_INVOCATIONS or not epoch.duration_avg_ms):
            epoch = None  # not enough at the new size yet
        if age < VERIFY_AFTER or (epoch is None and age < VERIFY_GIVE_UP):
            continue
        data = (
            _verification(rec, epoch, prices)
            if epoch is not None
            else {"inconclusive": "too little traffic at the new size"}
        )
        if store.transition(rec.id, "APPLIED", "VERIFIED", now):
            store.append_audit(
                "verification", now, function=rec.function, recommendation_id=rec.id, data=data
            )
            done.append(rec.id)
    return done


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


def _epoch_at(obs: Observations, memory_mb: object) -> Epoch | None:
    matches = [e for e in obs.epochs if e.memory_mb == memory_mb]
    return matches[-1] if matches else None
