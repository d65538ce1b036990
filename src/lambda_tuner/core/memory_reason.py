"""A memory decision in words and numbers: projections, chart, the reason, and the recommendation itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from lambda_tuner.core.canary import share_text
from lambda_tuner.core.digest import money
from lambda_tuner.core.exploration import ExperimentChoice
from lambda_tuner.core.fitting import DurationFit, natural
from lambda_tuner.core.fitting_draws import interval
from lambda_tuner.core.mean_stop import canary_mean_ratio_stop, extra_cost_limit, mean_stop_ms
from lambda_tuner.core.memory_types import Evaluation, MemoryPolicy, argmin_within
from lambda_tuner.core.models import (
    ChartPoint,
    FunctionConfig,
    Interval,
    Observations,
    Projection,
    Reason,
    Recommendation,
)


def projections(ev: Evaluation, indices: list[int]) -> list[Projection]:
    """Projections at several sizes, every interval computed in one pass over the chosen columns."""
    monthly = ev.cost_noisy[:, indices]
    stacked = np.hstack(
        [
            ev.draws.mean_noisy[:, indices],
            ev.draws.p99_noisy[:, indices],
            monthly / ev.invocations_per_month,
            monthly,
        ]
    )
    means, lows, highs = interval(stacked)
    k = len(indices)

    def iv(block: int, j: int) -> Interval:
        i = block * k + j
        return Interval(expected=float(means[i]), low=float(lows[i]), high=float(highs[i]))

    return [
        Projection(
            memory_mb=int(ev.memory_mb[index]),
            duration_ms=iv(0, j),
            p99_ms=iv(1, j),
            cost_per_invocation_usd=iv(2, j),
            monthly_cost_usd=iv(3, j),
        )
        for j, index in enumerate(indices)
    ]


def projection(ev: Evaluation, index: int) -> Projection:
    return projections(ev, [index])[0]


def saving_interval(ev: Evaluation, index: int) -> Interval:
    diff = ev.cost[:, ev.current] - ev.cost[:, index]
    mean, low, high = interval(diff)
    return Interval(expected=float(mean), low=float(low), high=float(high))


def chart(ev: Evaluation, fit: DurationFit) -> tuple[ChartPoint, ...]:
    """About 40 sizes across the allowed range plus every observed size, for pages without scipy."""
    allowed = ev.masks["bounds"]
    lo, hi = float(ev.memory_mb[allowed].min()), float(ev.memory_mb[allowed].max())
    targets = np.unique(np.concatenate([np.geomspace(lo, hi, 40), [s.memory_mb for s in fit.sizes]]))
    observed = {s.memory_mb for s in fit.sizes}
    picks = [int(np.argmin(np.abs(ev.memory_mb - target))) for target in targets]
    means, lows, highs = interval(ev.draws.mean_noisy[:, picks])  # one pass over every chosen column
    costs = np.mean(ev.cost[:, picks], axis=0)
    points = [
        ChartPoint(
            memory_mb=int(ev.memory_mb[i]),
            duration_ms=float(means[k]),
            duration_low_ms=float(lows[k]),
            duration_high_ms=float(highs[k]),
            monthly_cost_usd=float(costs[k]),
            observed=int(ev.memory_mb[i]) in observed,
        )
        for k, i in enumerate(picks)
    ]
    return tuple({p.memory_mb: p for p in points}.values())


def observed_text(fit: DurationFit) -> str:
    parts = [
        f"{s.memory_mb} MB: {s.invocations:,} invocations, avg {s.mean_ms:,.1f} ms"
        + (f", p99 {s.mean_ms * s.p99_ratio:,.1f} ms" if s.p99_ratio else "")
        for s in fit.sizes
    ]
    return f"{len(fit.sizes)} size(s) on {fit.arch}: " + "; ".join(parts)


@dataclass(frozen=True)
class Context:
    fn: FunctionConfig
    obs: Observations
    fit: DurationFit
    ev: Evaluation
    now: datetime
    rec_id: str
    canary_weight: float | None = None  # an experiment's share of the alias's traffic (None: all of it)


def trial_share(ctx: Context) -> str:
    return share_text(ctx.canary_weight, ctx.obs.qualifier)


def experiment_recommendation(
    ctx: Context,
    policy: MemoryPolicy,
    *,
    best: int,
    index: int,
    trial: ExperimentChoice | None = None,
    confirm: bool = False,
    optimum: int | None = None,
) -> Recommendation:
    """An experiment at `index`: exploration (`trial`: a size that may beat the best guess `best`),
    or with `confirm` a canary at the best guess itself, measured beside the size in force before the
    whole alias moves there (the p99 allowance there rests on the model alone). `optimum`: the model's
    own optimum when the confirmation sits next to it (it was a round size, which exploration uses)."""
    ev = ctx.ev
    size = int(ev.memory_mb[index])
    weight = ctx.canary_weight
    guess = int(ev.memory_mb[best])
    why = (
        f"confirmation: {size} MB, the best guess{_next_to(optimum, size)}, is measured beside the current "
        "size before all traffic moves there (its p99 allowance rests on the model alone)"
        if confirm or trial is None
        else f"exploration: untried {size} MB could beat the best guess {guess} MB ({_chance(trial, policy)}"
        f"{_odds(ev, index)}), worth more over {policy.explore_horizon_days:.0f} days than the trial costs"
    )
    rec = recommendation(ctx, "experiment", index, why)
    stop_p99 = ev.stop_p99_ms
    proposed: dict[str, int | float | str | None] = {
        "memory_mb": size,
        "max_days": policy.experiment_days,
        "max_extra_cost_usd": round(extra_cost_limit(ev, index, policy.experiment_days, weight), 6),
        "stop_if_p99_ms_above": round(stop_p99, 1),
        "stop_if_error_rate_above": 0.0,
        "best_guess_mb": int(ev.memory_mb[best]),
        # its cost: the trial's mean duration against what the model promised there
        "stop_if_mean_ms_above": round(mean_stop_ms(ev, ctx.fit, index, weight), 1),
    }
    if weight is not None:
        proposed["canary_weight"] = weight
        proposed["stop_if_mean_ratio_above"] = round(canary_mean_ratio_stop(ev, ctx.fit, index, weight), 4)
        if ev.stop_p99_ratio is not None:
            proposed["stop_if_p99_ratio_above"] = round(ev.stop_p99_ratio, 4)
    return rec.model_copy(update={"proposed": proposed})


def _chance(trial: ExperimentChoice, policy: MemoryPolicy) -> str:
    """What the trial may win, as odds and a gain when it wins: a trial is worth its chance even when
    the model expects it no better (the projection beside this says so), and an "expected improvement"
    (the chance times the gain) would read as a contradiction of that projection."""
    better = {"speed": "faster", "default": "cheaper", "cost": "cheaper"}.get(policy.strategy, "better")
    won = trial.expected_improvement / max(trial.chance, 1e-12)
    return f"a {trial.chance:.0%} chance it is {better}, by {won:.1%} on average if it is"


def _odds(ev: Evaluation, index: int) -> str:
    """A trial may go where a latency goal is only uncertain (its stops end it if it breaks one): what
    chance the model gives it of keeping them, so that a person approving it knows how it may end."""
    if not ev.soft:
        return ""
    chance = float(np.mean(ev.meets[:, index]))
    goals = " and ".join(ev.soft)
    ending = ", its stops end it if not" if chance < 1 else ""
    return f"; {chance:.0%} chance it keeps the {goals}{ending}"


def recommendation(ctx: Context, kind: str, index: int, decider: str) -> Recommendation:
    fn, fit, ev = ctx.fn, ctx.fit, ctx.ev
    others = _alternative_indices(ev, index)
    before, after, *alternative_projections = projections(ev, [ev.current, index, *others])
    saving = saving_interval(ev, index)
    size = int(ev.memory_mb[index])
    p99_b, p99_a = before.p99_ms.expected, after.p99_ms.expected
    effect = f"p99 {p99_b:,.0f} → {p99_a:,.0f} ms ({(p99_a / p99_b - 1):+.0%})".replace("-", "−")
    verb = {
        "memory": f"Change memory {fn.memory_mb} → {size} MB",
        "keep": f"Keep {fn.memory_mb} MB",
        "experiment": f"Try {size} MB {trial_share(ctx)} to learn",
    }[kind]
    # A change bought for speed, or a trial bought to learn, says what it costs, not a negative saving
    # (and the interval of what it costs: -$0.93–-$0.12 saved reads $0.12–$0.93 more)
    saves = (
        f"saves {money(saving.expected)}/month (90 %: {money(saving.low)}–{money(saving.high)})"
        if saving.expected >= 0
        else f"costs {money(-saving.expected)}/month more (90 %: {money(-saving.high)}–{money(-saving.low)})"
    )
    summary = f"{verb}: {saves}, {effect}"
    if kind == "keep":
        summary = f"{verb}: {decider}; {effect}" if index == ev.current else summary
    alternatives = tuple(alternative_projections)
    reason = Reason(
        summary=summary,
        observed=observed_text(fit),
        model=_model_text(fit),
        decided_by=decider,
        alternatives=alternatives,
    )
    confident = saving.low > 0 and len(fit.sizes) >= 2
    width = (after.monthly_cost_usd.high - after.monthly_cost_usd.low) / max(
        after.monthly_cost_usd.expected, 1e-12
    )
    confidence = "high" if confident and width < 0.2 else ("medium" if width < 0.5 else "low")
    return Recommendation(
        id=ctx.rec_id,
        function=fn.name,
        kind=kind,
        created_at=ctx.now,
        current={"memory_mb": fn.memory_mb},
        proposed={"memory_mb": size},
        before=before,
        after=after,
        monthly_saving_usd=Interval(expected=saving.expected, low=saving.low, high=saving.high),
        latency_effect=effect,
        confidence=confidence,
        reason=reason,
        revision_id=fn.revision_id,
        qualifier=ctx.obs.qualifier,
        chart=chart(ev, fit),
        status="RECORDED" if kind == "keep" else "PENDING",
    )


def _alternative_indices(ev: Evaluation, chosen: int) -> list[int]:
    cur = float(ev.memory_mb[ev.current])
    picks = {ev.current, chosen}
    for factor in (0.5, 2.0):
        picks.add(int(np.argmin(np.abs(ev.memory_mb - cur * factor))))
    cheapest = argmin_within(np.mean(ev.cost, axis=0), ev.all_masks(soft=False, skip="step limit"))
    picks.add(ev.current if cheapest is None else cheapest)
    return sorted(picks)


def _model_text(fit: DurationFit) -> str:
    parts = []
    for f in sorted(fit.forms, key=lambda f: -f.weight):
        log_y, phi, alpha = natural(f.params)
        detail = f"{np.exp(log_y):,.1f} ms at {fit.ref_mb} MB" + (
            "" if f.form == "io_bound" else f", CPU share {phi:.2f}, alpha {alpha:.2f}"
        )
        parts.append(f"{f.form} (weight {f.weight:.2f}): {detail}")
    extra = f"; p99/mean {fit.p99_ratio:.2f}; residual noise {fit.rel_noise:.1%}"
    return "; ".join(parts) + extra + ("; " + "; ".join(fit.notes) if fit.notes else "")


def _next_to(optimum: int | None, size: int) -> str:
    """How a confirmation beside the model's round optimum says so (nothing when it is the optimum)."""
    if optimum is None or optimum == size:
        return ""
    return f" (next to the optimum {optimum} MB, a round size such as exploration tries)"
