"""The words and projections of a PC recommendation: what was observed, the model, the money."""

from __future__ import annotations

import numpy as np

from lambda_tuner.core.models import Interval, Projection
from lambda_tuner.core.pc_candidates import History, PlanScore
from lambda_tuner.core.pc_model import ModelParams
from lambda_tuner.core.pc_objective import DAYS
from lambda_tuner.core.pc_prices import PcPrices


def observed_text(history: History, mean_ms: float, current: int, utilisation: float | None) -> str:
    conc = history.concurrency
    p50, p95 = np.percentile(conc, [50, 95]) if len(conc) else (0.0, 0.0)
    days = history.hours / 24
    text = (
        f"{days:.1f} days: {history.invocations.sum() / days:,.0f} calls/day, "
        f"mean duration {mean_ms:,.0f} ms; "
        f"concurrency per period p50 {p50:.1f}, p95 {p95:.1f}, max {conc.max(initial=0.0):.0f}"
    )
    busiest, quietest = _profile_extremes(history)
    if busiest:
        span = "week" if history.bins == 168 else "day"
        text += f"; by hour of {span}: busiest {busiest}, quietest {quietest}"
    text += f"; PC now {current}"
    if utilisation is not None:
        text += f", mean utilisation {utilisation:.0%}"
    return text


def _profile_extremes(history: History) -> tuple[str, str]:
    """The hour-of-week (or -day) bins with the highest and lowest p95 of per-period concurrency."""
    per_hour = history.concurrency.reshape(history.hours, history.periods_per_hour)
    bins = history.bin_of_hour()
    p95 = {int(b): float(np.percentile(per_hour[bins == b], 95)) for b in np.unique(bins)}
    if len(p95) < 2:
        return "", ""
    hi, lo = max(p95, key=lambda b: p95[b]), min(p95, key=lambda b: p95[b])
    name = _bin_name
    return f"{name(hi, history.bins)} p95 {p95[hi]:.1f}", f"{name(lo, history.bins)} p95 {p95[lo]:.1f}"


def _bin_name(b: int, bins: int) -> str:
    day, hour = divmod(b, 24)
    return f"{DAYS[day].title()} {hour:02d}:00" if bins == 168 else f"{hour:02d}:00"


def burst_text(history: History) -> str:
    """'hourly burst at :00 (mean peak concurrency 20.0 there, 0.1 elsewhere)' from 5-minute peaks."""
    per_hour = history.concurrency.reshape(history.hours, history.periods_per_hour)
    blocks = 12 if history.periods_per_hour % 12 == 0 else history.periods_per_hour
    peaks = per_hour.reshape(history.hours, blocks, -1).max(axis=2).mean(axis=0)
    top = int(peaks.argmax())
    rest = float(np.delete(peaks, top).mean()) if blocks > 1 else 0.0
    minute = top * 60 // blocks
    there = f"mean peak concurrency {peaks[top]:.1f} there, {rest:.1f} elsewhere"
    return f"hourly burst at :{minute:02d} ({there})"


def model_text(history: History, prices: PcPrices, params: ModelParams, lam: float) -> str:
    return (
        f"per-period model over {history.hours} whole hours at {params.memory_mb} MB {prices.arch}: "
        f"PC allocation ${prices.pc_allocation_gb_s}/GB-s, "
        f"PC-served duration ${prices.pc_duration_gb_s}/GB-s, "
        f"on-demand spillover ${prices.duration_gb_s}/GB-s, {params.init_s:g} s INIT per cold start; "
        f"on-demand environments warm {params.keep_alive_min} min after use; "
        f"λ = ${lam:g} per cold start; projected to 730 hours a month"
    )


def projection(memory_mb: int, mean_ms: float, p99_ms: float | None, plan: PlanScore) -> Projection:
    low, high = plan.cost_interval()
    per_call = plan.cost_month / plan.calls_month if plan.calls_month > 0 else 0.0
    scale_low = low / plan.cost_month if plan.cost_month > 0 else 1.0
    scale_high = high / plan.cost_month if plan.cost_month > 0 else 1.0
    p99 = p99_ms if p99_ms is not None else mean_ms
    return Projection(
        memory_mb=memory_mb,
        duration_ms=Interval(expected=mean_ms, low=mean_ms, high=mean_ms),
        p99_ms=Interval(expected=p99, low=p99, high=p99),
        cost_per_invocation_usd=Interval(
            expected=per_call, low=per_call * scale_low, high=per_call * scale_high
        ),
        monthly_cost_usd=Interval(expected=plan.cost_month, low=low, high=high),
    )


def saving(before: PlanScore, after: PlanScore) -> Interval:
    """Monthly cost saving (positive = cheaper); the interval is the spread over single days."""
    diffs = [b - a for b, a in zip(before.day_costs_month, after.day_costs_month, strict=True)]
    expected = before.cost_month - after.cost_month
    diffs = diffs or [expected]
    return Interval(expected=expected, low=min(*diffs, expected), high=max(*diffs, expected))


def cold_text(before: PlanScore, after: PlanScore) -> str:
    return (
        f"cold starts {before.cold_month:,.0f} → {after.cold_month:,.0f} a month "
        f"({before.cold_rate:.2%} → {after.cold_rate:.2%} of calls)"
    )
