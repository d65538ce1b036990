"""Advice to move an x86_64 function to arm64: its lower price, with an honest range for the speed change.

Architecture cannot be changed by a configuration update (it needs new code packaged for arm64), so this
is advice only, never applied. How fast the code runs on Graviton is unknown until it is tried: the
duration ratio arm64 / x86_64 is taken as uniform on [0.8, 1.2] (typical published ports range from
about 20 % faster to 20 % slower), combined with the fitted model's own uncertainty at the current size.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np

from lambda_tuner.core.cost import MONTH_DAYS, cost_rates
from lambda_tuner.core.fitting import DurationFit
from lambda_tuner.core.fitting_draws import draw, interval
from lambda_tuner.core.memory_usage import span_days
from lambda_tuner.core.models import (
    FunctionConfig,
    Interval,
    Observations,
    Projection,
    Reason,
    Recommendation,
)
from lambda_tuner.core.pricing import PriceTable

SPEED_RATIO = (0.8, 1.2)


def _iv(samples: np.ndarray) -> Interval:
    mean, low, high = interval(samples)
    return Interval(expected=float(mean), low=float(low), high=float(high))


def decide_arm64(  # noqa: PLR0917 - the contract others call positionally
    fn: FunctionConfig, obs: Observations, fit: DurationFit, prices: PriceTable, now: datetime, rec_id: str
) -> Recommendation | None:
    """arm64 advice for an x86_64 function with traffic, or None (already arm64, no traffic, no saving)."""
    if fn.arch != "x86_64":
        return None
    epochs = [e for e in obs.epochs if e.arch == "x86_64" and e.invocations > 0]
    days = span_days(epochs)
    if not epochs or days <= 0:
        return None
    per_month = sum(e.invocations for e in epochs) / days * MONTH_DAYS
    d = draw(fit, [fn.memory_mb])
    x86_ms = d.mean_noisy[:, 0]
    ratio = np.random.default_rng(11).uniform(*SPEED_RATIO, size=x86_ms.shape)
    arm_ms = x86_ms * ratio

    def monthly(ms: np.ndarray, arch: str) -> np.ndarray:
        rates = cost_rates(prices, "x86_64" if arch == "x86_64" else "arm64")
        return (
            rates.request_usd + fn.memory_mb / 1024 * (ms + 0.5) * rates.duration_usd_per_gb_ms
        ) * per_month

    before_cost, after_cost = monthly(x86_ms, "x86_64"), monthly(arm_ms, "arm64")
    saving = _iv(before_cost - after_cost)
    if saving.expected <= 0:
        return None
    before = _projection(fn.memory_mb, x86_ms, fit.p99_ratio, before_cost, per_month)
    after = _projection(fn.memory_mb, arm_ms, fit.p99_ratio, after_cost, per_month)
    effect = (
        f"duration {before.duration_ms.expected:,.0f} ms → {after.duration_ms.low:,.0f}–"
        f"{after.duration_ms.high:,.0f} ms (unknown until tried on arm64)"
    )
    reason = Reason(
        summary=(
            f"Consider arm64: about ${saving.expected:,.2f}/month less (90 %: ${saving.low:,.2f}–"
            f"${saving.high:,.2f}) if the code runs 0.8×–1.2× as long on Graviton"
        ),
        observed=f"{sum(e.invocations for e in epochs):,} invocations on x86_64 over {days:.1f} days",
        model=f"fitted {fit.best.form} duration at {fn.memory_mb} MB × uniform speed ratio 0.8–1.2",
        decided_by="arm64 price is lower; architecture needs a code/package change, so advice only",
        alternatives=(before, after),
    )
    return Recommendation(
        id=rec_id,
        function=fn.name,
        kind="arm64_advice",
        created_at=now,
        current={"arch": "x86_64", "memory_mb": fn.memory_mb},
        proposed={"arch": "arm64", "memory_mb": fn.memory_mb},
        before=before,
        after=after,
        monthly_saving_usd=saving,
        latency_effect=effect,
        confidence="medium" if saving.low > 0 else "low",
        reason=reason,
        revision_id=fn.revision_id,
        qualifier=obs.qualifier,
        status="RECORDED",
    )


def _projection(
    memory_mb: int, ms: np.ndarray, p99_ratio: float, monthly: np.ndarray, per_month: float
) -> Projection:
    return Projection(
        memory_mb=memory_mb,
        duration_ms=_iv(ms),
        p99_ms=_iv(ms * p99_ratio),
        cost_per_invocation_usd=_iv(monthly / per_month),
        monthly_cost_usd=_iv(monthly),
    )
