"""Memory decisions: the fitted model, the user's strategy and the hard constraints, as one pure function.

`decide_memory` evaluates candidate sizes (a coarse geometric grid, then 1 MB steps near its choice)
under Monte Carlo draws of the fitted model, masks what a constraint forbids, picks the best expected
objective and says which constraint or objective decided. "Keep as is" is a recommendation too, with its
reason; a guarded experiment is proposed when trying a size is worth more than it costs (exploration.py).
The policy and the evaluation live in memory_types.py, usage in memory_usage.py, the words and numbers of
a recommendation in memory_reason.py; the names others import stay importable from here.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import numpy as np

from lambda_tuner.core.cost import MONTH_DAYS, cost_rates
from lambda_tuner.core.exploration import (
    TRIAL_MULTIPLE_MB,
    BoolArray,
    ExperimentChoice,
    Upside,
    choose_experiment,
    experiments_spent,
    is_trial_size,
    step_edges,
)
from lambda_tuner.core.fitting import VCPU_MB, DurationFit, FloatArray, epoch_rel_se, fit_duration
from lambda_tuner.core.fitting_draws import Sample, sample
from lambda_tuner.core.mean_stop import log_spread
from lambda_tuner.core.memory_reason import Context, experiment_recommendation, recommendation
from lambda_tuner.core.memory_types import Evaluation, MemoryPolicy, argmin_within
from lambda_tuner.core.memory_usage import Usage, usage_from
from lambda_tuner.core.models import (
    MAX_MEMORY_MB,
    MIN_MEMORY_MB,
    Epoch,
    FunctionConfig,
    Observations,
    Reason,
    Recommendation,
    Strategy,
)
from lambda_tuner.core.pricing import PriceTable
from lambda_tuner.core.remembered import usable
from lambda_tuner.core.same_day import canary_epochs, shared_window_contrasts
from lambda_tuner.core.stopped_trials import MASK, StoppedTrial, in_epochs, ruled_out, stops_said

__all__ = ["Evaluation", "MemoryPolicy", "Usage", "choose", "decide_memory", "evaluate", "usage_from"]

SPEED_TIE = 0.005  # speed: sizes within 0.5 % of the fastest count as equally fast; take the cheapest
COARSE_POINTS = 160  # geometric search grid (2.8 % apart over 128-10,240 MB) ...
FINE_POINTS = 121  # ... refined near its optimum: 1 MB steps, or 0.07 % apart on wide windows
FINE_WINDOW = 1.5  # coarse steps either side of the coarse optimum
STAY_CONFIDENCE = 0.9  # the size in force keeps its place in the allowance at this confidence
# The size in force stays while it is within this fraction below the memory floor: the floor rises with
# every new maximum of memory used (843 -> 848 -> 850 MB over weeks on the twin, each a separate ask),
# and at 2 % below a floor of max used x 1.25 the function still has 22 % headroom. Moves still go to
# the floor itself or above it.
FLOOR_SLACK = 0.02
STOP_MARGIN_SD = 2.0  # an experiment's p99 guard sits this many day-to-day deviations inside the allowance
P99_SE_FACTOR = math.sqrt(0.99 * 0.01) / 0.02665  # sample p99's log-SE per unit log-spread, x sqrt(n)
REFERENCE_SEED = 11  # draws of the baseline size's measured mean (deterministic, like the model's)
SAME_DAY_SEED = 13  # draws of the ratios measured side by side (a canary beside the main traffic)


def decided_by(
    ev: Evaluation,
    strategy: Strategy,
    best: int,
    pick: Callable[[Evaluation, Strategy, BoolArray], int | None],
) -> str:
    """Name the first constraint whose removal would change the choice; else the objective decided."""
    full = ev.all_masks(soft=True)
    for name in (*ev.masks, *ev.soft):
        relaxed = ev.all_masks(soft=True, skip=name)
        if not np.array_equal(relaxed, full) and pick(ev, strategy, relaxed) != best:
            return name
    return {
        "default": "lowest cost within the p99 allowance",
        "cost": "lowest expected cost",
        "speed": "lowest expected duration (cheapest of the near-fastest)",
        "balanced": "balanced cost/duration objective",
    }[strategy]


def _grid(  # noqa: PLR0917 - the grid's inputs, each needed
    lower: int,
    upper: int,
    current: int,
    observed: list[float],
    focus: float | None,
    trial_reach: tuple[int, int],
) -> FloatArray:
    """A coarse geometric grid, the sizes that matter by name, and a fine window around `focus`.

    Within `trial_reach` the coarse grid is also offered rounded to the sizes an experiment may try
    (exploration.TRIAL_MULTIPLE_MB).
    """
    base = np.round(np.geomspace(lower, upper, COARSE_POINTS))
    lo, hi = trial_reach
    trials = np.round(base[(base >= lo) & (base <= hi)] / TRIAL_MULTIPLE_MB) * TRIAL_MULTIPLE_MB
    parts: list[FloatArray] = [
        base,
        np.array([current, VCPU_MB]),
        np.asarray(observed, dtype=float),
        trials[(trials >= max(lower, lo)) & (trials <= min(upper, hi))],
    ]
    if focus is not None:
        ratio = (upper / lower) ** (FINE_WINDOW / (COARSE_POINTS - 1))
        a, b = max(float(lower), focus / ratio), min(float(upper), focus * ratio)
        parts.append(np.asarray(np.round(np.geomspace(a, b, FINE_POINTS)), dtype=float))
    return np.unique(np.concatenate(parts))


def evaluate(
    fn: FunctionConfig,
    fit: DurationFit,
    usage: Usage,
    *,
    policy: MemoryPolicy,
    prices: PriceTable,
    baseline_p99_ms: float | None,
    draws: Sample | None = None,
    focus: float | None = None,
    baseline_memory_mb: int | None = None,
    epochs: Sequence[Epoch] = (),
    chain: bool = False,
    stopped: Sequence[StoppedTrial] = (),
) -> Evaluation:
    """Candidate sizes under the model's draws, with one mask per constraint.

    The grid is coarse (geometric) plus a fine window around `focus` when given; `draws` are the
    model's size-independent draws (sampled here when not given), so a refined grid sees the same ones.
    `baseline_memory_mb` is the size the baseline p99 was measured at (see `_allowance`); `epochs`, the
    ones the fit was made on, tell which sizes were measured beside it in one window (`_side_by_side`).
    `chain`: sizes nearer one of those than the baseline's size read their ratio from it (`_chain`).
    `stopped`: memory changes (trials, moves) their guards rolled back; the sizes they rule out are a
    hard constraint.
    """
    lower = max(MIN_MEMORY_MB, policy.min_mb or MIN_MEMORY_MB)
    upper = min(MAX_MEMORY_MB, policy.max_mb or MAX_MEMORY_MB)
    observed = [s.memory_mb for s in fit.sizes]
    step = (
        math.ceil(fn.memory_mb / policy.max_step_factor),
        math.floor(fn.memory_mb * policy.max_step_factor),
    )
    named = (lower, upper, *step, *observed, *([baseline_memory_mb] if baseline_memory_mb else []))
    edges = [float(v) for v in named if MIN_MEMORY_MB <= v <= MAX_MEMORY_MB]
    reach = _canary_reach(policy, observed) or step  # where trial sizes are offered
    m = _grid(min(lower, fn.memory_mb), max(upper, fn.memory_mb), fn.memory_mb, edges, focus, reach)
    d = (draws or sample(fit, policy.n_draws)).at(m)
    rates = cost_rates(prices, fn.arch)
    gb, extra_gb = m / 1024.0, max(0, fn.ephemeral_mb - 512) / 1024.0
    init = usage.cold_start_rate * (usage.init_ms + 0.5) if usage.init_ms > 0 else 0.0

    def monthly(duration: FloatArray) -> FloatArray:  # the vectorised form of cost.invocation_cost
        per_inv = (
            rates.request_usd
            + gb * (duration + 0.5) * rates.duration_usd_per_gb_ms
            + gb * init * rates.duration_usd_per_gb_ms
            + extra_gb * (duration + 0.5) * rates.ephemeral_usd_per_gb_ms
        )
        return np.asarray(per_inv * usage.invocations_per_month, dtype=float)

    cur = int(np.searchsorted(m, fn.memory_mb))
    # The p99/mean ratio is common to all sizes (compare like with like); the day-to-day noise stands
    # for the uncertainty of the baseline itself, which was one day's p99 (at the level estimated: the
    # projections' heavier tail is for what a future day shows).
    p99_fixed_ratio = d.mean * d.day * fit.p99_ratio
    baseline = baseline_p99_ms or _observed_p99(fit, fn.memory_mb) or float(np.mean(p99_fixed_ratio[:, cur]))
    masks = {
        "bounds": (m >= lower) & (m <= upper),
        "memory floor": m >= (usage.floor_mb or 0.0),
        "timeout margin": np.percentile(d.p99, 95, axis=0) < policy.timeout_margin * fn.timeout_s * 1000,
        "step limit": (m >= fn.memory_mb / policy.max_step_factor)
        & (m <= fn.memory_mb * policy.max_step_factor),
    }
    masks["memory floor"][cur] |= fn.memory_mb * (1 + FLOOR_SLACK) >= (usage.floor_mb or 0.0)
    if stopped:
        masks[MASK] = ~ruled_out(m, stopped, fn.memory_mb)
    soft: dict[str, BoolArray] = {}
    meets = np.ones(d.mean.shape, dtype=bool)
    side_by_side: frozenset[int] = frozenset()
    if policy.p99_objective_ms:
        soft["p99 objective"] = np.mean(d.p99, axis=0) <= policy.p99_objective_ms
        meets &= d.p99 <= policy.p99_objective_ms
    if policy.p95_objective_ms:
        soft["p95 objective"] = np.mean(d.mean, axis=0) * usage.p95_ratio <= policy.p95_objective_ms
        meets &= d.mean * usage.p95_ratio <= policy.p95_objective_ms
    if policy.strategy == "default":
        ref = _reference_index(m, fit, baseline_memory_mb)
        if ref is not None:
            ratio = d.mean / _reference_draws(fit, int(m[ref]), d.mean.shape[0])
            model = d.mean if chain else None
            side_by_side = _side_by_side(ratio, m, epochs, int(m[ref]), fit.rel_noise, model=model)
            allowance, within = _allowance(ratio, 1 + policy.p99_allowance, policy)
            # Hysteresis: the size in force stays while it is likely inside, so that one more day's
            # noise at the edge does not move the function away and back.
            allowance[cur] |= np.mean(ratio[:, cur] <= 1 + policy.p99_allowance) >= STAY_CONFIDENCE
            allowance[ref], within[:, ref] = True, True
        else:
            limit = (1 + policy.p99_allowance) * baseline
            allowance, within = _allowance(p99_fixed_ratio, limit, policy)
            # Staying is always within the allowance when what was measured here is: the model's caution
            # about unmeasured sizes must not push the function away from a size known to be fine.
            known_fine = (_observed_p99(fit, fn.memory_mb) or np.inf) <= limit
            allowance[cur] |= known_fine
            within[:, cur] |= known_fine
        soft["p99 allowance"] = allowance
        meets &= within
    cost, cost_noisy = monthly(d.mean), monthly(d.mean_noisy)
    return Evaluation(
        memory_mb=m,
        draws=d,
        cost=cost,
        cost_noisy=cost_noisy,
        current=cur,
        masks=masks,
        soft=soft,
        meets=meets,
        objective=_objective(policy, d.mean, cost, masks),
        baseline_p99_ms=baseline,
        stop_p99_ms=_stop_p99(fit, policy, baseline, baseline_memory_mb, fn.memory_mb),
        stop_p99_ratio=_stop_ratio(
            fit,
            policy,
            (_observed_p99(fit, baseline_memory_mb) if baseline_memory_mb else None) or baseline,
            fn.memory_mb,
            usage.invocations_per_month / MONTH_DAYS,
        ),
        invocations_per_month=usage.invocations_per_month,
        side_by_side=side_by_side,
    )


def _reference_index(m: FloatArray, fit: DurationFit, baseline_memory_mb: int | None) -> int | None:
    """Where the baseline was measured, when that size is among the observed ones (else None)."""
    if baseline_memory_mb is None or baseline_memory_mb not in {s.memory_mb for s in fit.sizes}:
        return None
    return int(np.searchsorted(m, baseline_memory_mb))


def _stop_p99(
    fit: DurationFit, policy: MemoryPolicy, baseline: float, baseline_memory_mb: int | None, current_mb: int
) -> float:
    """The p99 at which an experiment stops: the allowance, judged on one day of the trial size.

    One day's p99 can read a few per cent low, so under `default` (where the allowance is the user's
    goal) the guard sits STOP_MARGIN_SD day-to-day deviations inside the allowance: a size truly beyond
    it must not pass for a day's luck. A stop costs little: the day's data is kept and teaches the model.
    The reference is the p99 measured at the baseline's size over every day seen there, when it was.
    """
    measured = _observed_p99(fit, baseline_memory_mb) if baseline_memory_mb else None
    reference = measured or baseline
    if policy.strategy != "default":  # the allowance is no goal here: a guard against worse than now
        return (1 + policy.p99_allowance) * max(reference, _observed_p99(fit, current_mb) or 0.0)
    return (1 + policy.p99_allowance) * reference * math.exp(-STOP_MARGIN_SD * fit.rel_noise)


def _stop_ratio(
    fit: DurationFit, policy: MemoryPolicy, reference_p99: float | None, current_mb: int, calls_per_day: float
) -> float | None:
    """A canary's p99 stop as a ratio: its p99 over the live version's p99 in the same hours.

    Both streams see the same day, so the ratio does not carry the day's drift the fixed stop has to
    leave room for; what is left is the sampling error of two p99s, each from its share of a day's
    calls. The ratio the allowance permits is (1 + allowance) x the reference p99 (measured at the
    baseline's size; the baseline itself when that size was not measured) over the size in force's
    measured p99; under `default` the stop sits STOP_MARGIN_SD sampling deviations inside it.
    None when this is no canary, or the size in force's p99 was not measured.
    """
    weight, live = policy.canary_weight, fit.size(current_mb)
    if weight is None or reference_p99 is None or live is None or live.p99_ratio is None:
        return None
    ratio = reference_p99 / (live.mean_ms * live.p99_ratio)
    if policy.strategy != "default":  # as `_stop_p99`: never below the size in force's own p99
        return (1 + policy.p99_allowance) * max(ratio, 1.0)
    return (1 + policy.p99_allowance) * ratio * ratio_stop_margin(live.p99_ratio, weight, calls_per_day)


def ratio_stop_margin(p99_over_mean: float, weight: float, calls_per_day: float) -> float:
    """The factor a canary's ratio stop sits inside the allowance: STOP_MARGIN_SD log standard errors of
    a day's p99 ratio between a canary on `weight` of the calls and the rest, for durations with a
    lognormal upper tail whose p99 is `p99_over_mean` x the mean."""
    tail = log_spread(max(p99_over_mean, 1.01))
    canary, rest = max(weight * calls_per_day, 1.0), max((1 - weight) * calls_per_day, 1.0)
    return math.exp(-STOP_MARGIN_SD * P99_SE_FACTOR * tail * math.sqrt(1 / canary + 1 / rest))


def _reference_draws(fit: DurationFit, memory_mb: int, n_draws: int) -> FloatArray:
    """The expected mean at the baseline's size as measured there (every day pooled), with its error.

    Measured, not modelled: the smooth form would pull a size seen on one day towards its neighbours,
    and a bumpy curve then looks flatter than it is exactly where the allowance is judged.
    """
    size = next(s for s in fit.sizes if s.memory_mb == memory_mb)
    within = size.rel_se if size.within_se is None else size.within_se  # the day part is rel_noise
    se = math.sqrt(within**2 + fit.rel_noise**2 / size.epochs)
    z = np.random.default_rng(REFERENCE_SEED).standard_normal((n_draws, 1))
    return np.asarray(size.mean_ms * np.exp(se * z), dtype=float)


def _side_by_side(
    ratio: FloatArray,
    m: FloatArray,
    epochs: Sequence[Epoch],
    ref_mb: int,
    day_sd: float,
    *,
    model: FloatArray | None = None,
) -> frozenset[int]:
    """Overwrite, in `ratio` (draws x sizes), the sizes measured beside the baseline's size in shared
    windows (canary days, chained) with what was measured there: the day both saw cancels out, so
    the ratio is as sure as the two windows' sampling allows, not the day-to-day drift twice over.
    With `model` (the draws' expected durations), the sizes nearer one of those than the baseline are
    read from it too (`_chain`). Returns those sizes (MB)."""
    se = [epoch_rel_se(e, float(e.duration_avg_ms or 1.0)) for e in epochs]
    contrasts = shared_window_contrasts(epochs, ref_mb, day_sd, se)
    z = np.random.default_rng(SAME_DAY_SEED).standard_normal((ratio.shape[0], len(contrasts)))
    done: dict[int, int] = {}
    for k, c in enumerate(contrasts):
        i = int(np.searchsorted(m, c.memory_mb))
        if i < m.size and m[i] == c.memory_mb:
            ratio[:, i] = np.exp(c.log_ratio + c.sd * z[:, k])
            done[c.memory_mb] = i
    if done and model is not None:
        _chain(ratio, m, model, done, ref_mb)
    return frozenset(done)


def _chain(
    ratio: FloatArray, m: FloatArray, model: FloatArray, measured: dict[int, int], ref_mb: int
) -> None:
    """Sizes nearer (in log size) to a size measured beside the baseline than to the baseline and other
    such sizes read their ratio from there: the measured ratio times the model's own ratio between
    the two sizes, draw by draw. The model's level carries the day-to-day drift of every day it was
    fitted on; its shape does not, and the shape's own uncertainty grows with the distance between the
    two sizes (the draws carry it). So a size a few megabytes from a measured one is nearly as sure as
    the measurement, not as unsure as two separate days; there is no cap on the distance."""
    anchors = np.asarray([ref_mb, *measured], dtype=float)
    nearest = np.argmin(np.abs(np.log(m[:, None] / anchors[None, :])), axis=1)
    for j, mb in enumerate(anchors[1:], start=1):
        i = measured[int(mb)]
        at = np.flatnonzero((nearest == j) & (m != mb))
        ratio[:, at] = ratio[:, i : i + 1] * model[:, at] / model[:, i : i + 1]


def _allowance(value: FloatArray, limit: float, policy: MemoryPolicy) -> tuple[BoolArray, BoolArray]:
    """(sizes within `limit` with 1 - p99_risk confidence, per draw whether within).

    With the baseline's size observed, `value` is each draw's expected p99 relative to its expected
    p99 there: like with like, pooling every day seen at that size, where one day's p99 (the stored
    baseline) can sit a few per cent off and shift the whole allowance with it. Without it, `value` is
    the p99 with one day's noise, against the stored number.
    """
    confident = np.percentile(value, 100 * (1 - policy.p99_risk), axis=0) <= limit
    return np.asarray(confident, dtype=bool), np.asarray(value <= limit, dtype=bool)


def _observed_p99(fit: DurationFit, memory_mb: int) -> float | None:
    size = fit.size(memory_mb)
    return None if size is None or size.p99_ratio is None else size.mean_ms * size.p99_ratio


def _objective(
    policy: MemoryPolicy, duration: FloatArray, cost: FloatArray, masks: dict[str, BoolArray]
) -> FloatArray:
    if policy.strategy in ("default", "cost"):
        return cost
    if policy.strategy == "speed":
        return duration
    # balanced, as AWS Lambda Power Tuning defines it: w * cost / max cost + (1 - w) * duration / max duration
    allowed = masks["bounds"] & masks["memory floor"]
    max_cost = float(np.max(np.mean(cost, axis=0)[allowed], initial=1e-300))
    max_dur = float(np.max(np.mean(duration, axis=0)[allowed], initial=1e-300))
    w = policy.balanced_weight
    return np.asarray(w * cost / max_cost + (1 - w) * duration / max_dur, dtype=float)


def pick(ev: Evaluation, strategy: Strategy, mask: BoolArray) -> int | None:
    """Index of the best expected objective among `mask` (speed: the cheapest of the near-fastest)."""
    expected = np.mean(ev.objective, axis=0)
    best = argmin_within(expected, mask)
    if best is None or strategy != "speed":
        return best
    tied = mask & (expected <= expected[best] * (1 + SPEED_TIE))
    return argmin_within(np.mean(ev.cost, axis=0), tied)


def choose(ev: Evaluation, strategy: Strategy) -> tuple[int, str]:
    """The best allowed size and what decided it, relaxing the step limit for safety and soft goals last."""
    hard = ev.all_masks(soft=False)
    everything = hard & ev.all_masks(soft=True, hard=False)
    best = pick(ev, strategy, everything)
    if best is not None:
        return best, decided_by(ev, strategy, best, pick)
    hard_no_step = ev.all_masks(soft=False, skip="step limit")
    p99 = np.mean(ev.draws.p99, axis=0)
    if not hard.any() and hard_no_step.any():  # safety beats the step limit: the smallest move to safety
        dist = np.abs(np.log(ev.memory_mb / ev.memory_mb[ev.current]))
        failing = [n for n, mask in ev.masks.items() if n != "step limit" and not mask[ev.current]]
        return int(np.argmin(np.where(hard_no_step, dist, np.inf))), (
            f"{' and '.join(failing) or 'safety'} (overrides the step limit)"
        )
    # a latency goal cannot be met: the fastest size the hard constraints allow
    if (fastest := argmin_within(p99, hard)) is not None:
        return fastest, f"{', '.join(ev.soft)} unreachable: fastest allowed size"
    # no size is known to be safe from the timeout: the fastest one within reach
    if (fastest := argmin_within(p99, ev.all_masks(soft=False, skip="timeout margin"))) is not None:
        return fastest, "timeout margin at risk everywhere: fastest size within the step limit"
    if not np.isfinite(p99).any():
        return ev.current, "the model's projections are not finite numbers: kept as is"
    return ev.current, "no size satisfies bounds, memory floor and step limit together"


def fit_epochs(fn: FunctionConfig, obs: Observations) -> list[Epoch]:
    """The epochs the duration model is fitted on: the function's architecture, with calls and durations."""
    return usable(fn, obs.epochs)


def decide_memory(  # noqa: PLR0917 - the contract others call positionally
    fn: FunctionConfig,
    obs: Observations,
    policy: MemoryPolicy,
    prices: PriceTable,
    now: datetime,
    rec_id: str,
    *,
    baseline_p99_ms: float | None = None,
    baseline_memory_mb: int | None = None,
    fits: dict[str, DurationFit] | None = None,
    stopped: Sequence[StoppedTrial] = (),
    remembered: Sequence[Epoch] = (),
) -> Recommendation:
    """The memory recommendation; the duration fit it makes is left in `fits[fn.name]` when a dict is
    given, so the arm64 advice can use the same fit instead of fitting again. `stopped`: the memory
    changes (trials, moves) rolled back by their guards that still rule sizes out
    (stopped_trials.in_force); where they change the decision, its reason says which and until when.
    Only stops the epochs do not hold count: where they hold what the change measured, they say it and
    are weighed as everything else is; once its day has left them, or where its calls never made an
    epoch (a move rolled back within its hour), only the stop itself is left to say so.
    `remembered`: what sizes measured before the look-back (remembered.recall): the fit and what counts
    as tried see them; traffic, cold starts and the memory floor are the look-back's."""
    stopped = [t for t in stopped if not in_epochs(t, obs)]
    recent = fit_epochs(fn, obs)
    # remembered stretches all end before the look-back starts: before its epochs, in time order
    epochs = [*usable(fn, remembered), *recent]
    total = sum(e.invocations for e in recent)
    current = {"memory_mb": fn.memory_mb}
    if total < policy.min_invocations:
        why = f"{total} invocations observed on {fn.arch}; at least {policy.min_invocations} needed"
        reason = Reason(
            summary=f"Not enough evidence yet: {why}",
            observed=why,
            model="none",
            decided_by="evidence (min_invocations)",
        )
        return Recommendation(
            id=rec_id,
            function=fn.name,
            kind="insufficient_data",
            created_at=now,
            current=current,
            proposed=current,
            reason=reason,
            qualifier=obs.qualifier,
            revision_id=fn.revision_id,
            status="RECORDED",
        )
    fit = fit_duration(fn.name, fn.arch, epochs)
    if fits is not None:
        fits[fn.name] = fit
    usage = usage_from(recent, policy.memory_headroom)
    if policy.canary_weight is not None:  # the canary's share for this function's traffic
        share = policy.canary_share(usage.invocations_per_month / MONTH_DAYS)
        policy = policy.model_copy(update={"canary_weight": share})
    settings = {
        "policy": policy,
        "prices": prices,
        "baseline_p99_ms": baseline_p99_ms,
        "baseline_memory_mb": baseline_memory_mb,
        "draws": sample(fit, policy.n_draws),  # the grid and its refinement see the very same draws
        "epochs": epochs,
        # Sizes near one measured beside the baseline are read from that measurement only where a
        # move there is measured first (behind an alias, exploration on); else from the baseline
        "chain": policy.explore and policy.canary_weight is not None,
    }

    def fitted(ruling: Sequence[StoppedTrial]) -> Recommendation:
        return _decide_fitted(
            fn=fn, obs=obs, fit=fit, usage=usage, now=now, rec_id=rec_id, settings=settings, stopped=ruling
        )

    rec = fitted(stopped)
    if not stopped:
        return rec
    free = fitted(())  # what it would be without them
    if (free.kind, free.proposed.get("memory_mb")) == (rec.kind, rec.proposed.get("memory_mb")):
        return rec  # the stops changed nothing: not worth a word
    instead = free.proposed.get("memory_mb") if free.kind in ("memory", "experiment") else None
    said = stops_said(stopped, instead if isinstance(instead, int) else None)
    # first in what decided it: the digest's "Why" line shows that, cut at one line
    decided = said if rec.reason.decided_by == MASK else f"{said}; {rec.reason.decided_by}"
    summary = f"{rec.reason.summary} — {said}"
    reason = rec.reason.model_copy(update={"summary": summary, "decided_by": decided})
    return rec.model_copy(update={"reason": reason})


def _decide_fitted(
    *,
    fn: FunctionConfig,
    obs: Observations,
    fit: DurationFit,
    usage: Usage,
    now: datetime,
    rec_id: str,
    settings: dict[str, Any],
    stopped: Sequence[StoppedTrial],
) -> Recommendation:
    """`decide_memory` once the model is fitted: search a coarse grid, then refine around its choice;
    a move, a keep or an experiment. `stopped` rules sizes out (stopped_trials.ruled_out)."""
    policy: MemoryPolicy = settings["policy"]
    epochs: list[Epoch] = settings["epochs"]
    settings = {**settings, "stopped": stopped}
    coarse = evaluate(fn, fit, usage, **settings)
    focus = float(coarse.memory_mb[choose(coarse, policy.strategy)[0]])
    ev = evaluate(fn, fit, usage, **settings, focus=focus)
    best, decider, forced, kind, why_keep = _decide_on(ev, policy)
    observed = [s.memory_mb for s in fit.sizes]
    ctx = Context(fn=fn, obs=obs, fit=fit, ev=ev, now=now, rec_id=rec_id, canary_weight=policy.canary_weight)
    # Canaries are told by their shared window: exploration tries round sizes, a confirmation the
    # model's best guess at 1 MB resolution (never round). All-traffic trials are told by the sizes the
    # function ran at (a move to a size a canary measured is not one).
    canaries = canary_epochs(epochs)
    explored = {(e.start, e.end) for e in canaries if is_trial_size(e.memory_mb)}
    confirmed = len({(e.start, e.end) for e in canaries}) - len(explored)
    in_order = sorted(epochs, key=lambda e: e.start)
    spent = experiments_spent(
        [e.memory_mb for e in in_order], policy.max_step_factor, [e in canaries for e in in_order]
    ) + len(explored)
    if kind == "memory" and not forced and policy.explore and _measure_first(ev, policy, best):
        best, kind, measured = _measured_instead(ev, policy, best, kind)
        if not measured and spent < policy.max_experiments:
            # The move would rest on the model's reading of the allowance at an unmeasured size: measure
            # first, with a canary at the size worth trying most from where the function stands.
            choice = _choose_trial(ev, fn, policy, observed, anchor=ev.current)
            if choice is not None:
                return experiment_recommendation(ctx, policy, best=best, index=choice.index, trial=choice)
        # No trial worth it or none left: measure the move's own size first (unless it was measured)
        confirm = _confirmation(ev, best) if not measured and confirmed < policy.max_experiments else None
        if confirm is not None:
            optimum = int(ev.memory_mb[best])
            return experiment_recommendation(
                ctx, policy, best=confirm, index=confirm, confirm=True, optimum=optimum
            )
        if not measured:  # nothing left to measure with: the model's word (which the canary days
            # inform like any other epochs), read from the baseline without the chained reading (a
            # reading chained from a measured size is for choosing what to measure)
            ev = evaluate(fn, fit, usage, **{**settings, "chain": False}, focus=focus)
            best, decider, forced, kind, why_keep = _decide_on(ev, policy)
            if kind == "memory" and not forced and _measure_first(ev, policy, best):
                best, kind, _ = _measured_instead(ev, policy, best, kind)
            ctx = dataclasses.replace(ctx, ev=ev)
    # What the function will run at if nothing is tried: a move to an untried size teaches the model by
    # itself; staying (even when the best guess sits near but not at the current size, below the
    # thresholds) must not rule out a trial, or a model that is wrong about distant sizes never learns.
    anchor = best if kind == "memory" else ev.current
    if not forced and policy.explore and spent < policy.max_experiments:
        choice = _choose_trial(ev, fn, policy, observed, anchor=anchor)
        if choice is not None:
            return experiment_recommendation(ctx, policy, best=anchor, index=choice.index, trial=choice)
    return recommendation(ctx, kind, best if kind == "memory" else ev.current, why_keep or decider)


def _choose_trial(
    ev: Evaluation, fn: FunctionConfig, policy: MemoryPolicy, observed: list[int], *, anchor: int
) -> ExperimentChoice | None:
    return choose_experiment(
        ev.memory_mb,
        ev.objective,
        _trial_reach(ev, policy, observed) & ~step_edges(ev.memory_mb, fn.memory_mb, policy.max_step_factor),
        ev.meets,
        anchor,
        observed,
        inside=policy.canary_weight is not None,
        upside=_upside(ev, policy),
        threshold=policy.explore_threshold,
        horizon_days=policy.explore_horizon_days,
        trial_days=policy.experiment_days * (policy.canary_weight or 1.0),  # a canary pays its share
    )


def _measure_first(ev: Evaluation, policy: MemoryPolicy, best: int) -> bool:
    """Behind an alias, the default strategy's allowance is not left to the model's reading of a size
    nobody measured: such a move is first a canary (or goes to a measured size about as good)."""
    size = int(ev.memory_mb[best])
    return policy.canary_weight is not None and "p99 allowance" in ev.soft and size not in ev.side_by_side


def _confirmation(ev: Evaluation, best: int) -> int | None:
    """Where a confirmation canary goes: the best guess itself, or, when that is round, the nearest
    size on the grid from it towards the current size that is not (a round size is how exploration
    trials are told apart; towards the current size, a move capped by the step limit can still land
    where the canary measured); None when there is none short of the current size. Never a size an
    earlier rollback rules out (the way back to a size in force inside such ground crosses it)."""
    m = ev.memory_mb
    step = 1 if ev.current > best else -1
    open_ = ev.masks.get(MASK)
    for i in range(best, ev.current, step):  # the grid is at 1 MB near the best guess below ~2 GB only
        if not is_trial_size(int(m[i])) and (open_ is None or open_[i]):
            return i
    return None


def _measured_instead(ev: Evaluation, policy: MemoryPolicy, best: int, kind: str) -> tuple[int, str, bool]:
    """A move to `best` made a move to a size measured beside the baseline's, allowed by every
    constraint, about as good (within the saving threshold): the model's optimum a few megabytes away
    is not worth a canary. Returns (size, kind, whether a measured size was found)."""
    allowed = ev.all_masks(soft=True)
    expected = np.mean(ev.objective, axis=0)
    limit = expected[best] * (1 + policy.min_saving_fraction)
    picks = [
        i
        for i, mb in enumerate(ev.memory_mb)
        if int(mb) in ev.side_by_side and allowed[i] and expected[i] <= limit
    ]
    if not picks:
        return best, kind, False
    measured = min(picks, key=lambda i: float(expected[i]))
    return measured, "memory" if measured != ev.current else "keep", True


def _trial_reach(ev: Evaluation, policy: MemoryPolicy, observed: list[int]) -> BoolArray:
    """Where a trial may go under the hard constraints. An all-traffic trial moves the size in force, so
    the step limit holds from the current size. A canary leaves the size in force alone and has its own
    guards: it may go one step beyond the sizes measured so far (the model has evidence one step away),
    or a function started far from its optimum would need a move before every trial."""
    reach = _canary_reach(policy, observed)
    if reach is None:
        return ev.all_masks(soft=False)
    m = ev.memory_mb
    return np.asarray(
        ev.all_masks(soft=False, skip="step limit") & (m >= reach[0]) & (m <= reach[1]), dtype=bool
    )


def _canary_reach(policy: MemoryPolicy, observed: list[int]) -> tuple[int, int] | None:
    """The sizes a canary may try: up to one step beyond those measured so far (None: no canary)."""
    if policy.canary_weight is None or not observed:
        return None
    f = policy.max_step_factor
    return math.ceil(min(observed) / f), math.floor(max(observed) * f)


def _upside(ev: Evaluation, policy: MemoryPolicy) -> Upside:
    """Per-draw gains against the current size, with the thresholds a normal change must clear."""
    cur = ev.current
    scale = max(float(np.mean(ev.objective[:, cur])), 1e-300)
    money = policy.strategy in ("default", "cost")
    return Upside(
        objective_gain=(ev.objective[:, cur : cur + 1] - ev.objective) / scale,
        min_fraction=policy.min_saving_fraction,
        saving_usd=ev.cost[:, cur : cur + 1] - ev.cost if money else None,
        min_usd=policy.min_saving_usd_month,
    )


def _decide_on(ev: Evaluation, policy: MemoryPolicy) -> tuple[int, str, bool, str, str | None]:
    """(best, what decided it, whether the current size must move, kind, why it is kept) on `ev`."""
    best, decider = choose(ev, policy.strategy)
    forced = not ev.allowed(ev.current)
    if not forced:
        best, decider = _on_the_way(ev, policy, best, decider)
    kind, why_keep = _keep_or_move(ev, policy, best, forced)
    return best, decider, forced, kind, why_keep


def _on_the_way(ev: Evaluation, policy: MemoryPolicy, best: int, decider: str) -> tuple[int, str]:
    """A move towards the best size beyond the step limit when the best within it lies elsewhere.

    The best size within the step limit can be a dip of the model's curve next to the current size
    while a clearly better size lies further than one step (a size a canary measured, say): choosing
    within the limit alone, the function would never leave the dip. Then the move goes as far towards
    that size as the step limit and every other constraint allow, and `_keep_or_move` judges it by where
    it leads. Not when the detour costs more for a cycle than the destination saves in one (the model
    may be wrong about it: what a wrong heading costs is bounded by the gain it claimed)."""
    cur = ev.current
    heading = pick(ev, policy.strategy, ev.all_masks(soft=True, skip="step limit"))
    if heading is None or ev.masks["step limit"][heading] or (best - cur) * (heading - cur) > 0:
        return best, decider  # within reach, or the best within the limit already heads there
    obj = np.mean(ev.objective, axis=0)
    if (obj[cur] - obj[heading]) / obj[cur] < policy.min_saving_fraction:
        return best, decider
    towards = ev.all_masks(soft=True) & ((np.arange(obj.size) - cur) * (heading - cur) > 0)
    if not towards.any():
        return best, decider
    reach = np.where(towards, np.abs(np.log(ev.memory_mb / ev.memory_mb[cur])), -np.inf)
    way = int(np.argmax(reach))
    if obj[way] - obj[cur] > obj[cur] - obj[heading]:
        return best, decider
    better = (obj[cur] - obj[heading]) / obj[cur]
    return way, f"step limit (on the way to {int(ev.memory_mb[heading])} MB, expected {better:.1%} better)"


def _keep_or_move(ev: Evaluation, policy: MemoryPolicy, best: int, forced: bool) -> tuple[str, str | None]:
    if best == ev.current:
        return "keep", None
    if forced:
        return "memory", None
    obj = np.mean(ev.objective, axis=0)
    # A move the step limit cuts short of a better size is judged by where it leads: the limit paces
    # the way there, it is no reason to stay put (a first step may gain little on its own).
    target, cur = best, ev.current
    heading = pick(ev, policy.strategy, ev.all_masks(soft=True, skip="step limit"))
    if heading is not None and (heading - cur) * (best - cur) > 0 and abs(heading - cur) > abs(best - cur):
        target = heading
    gain = float((obj[cur] - obj[target]) / obj[cur])
    saving = float(np.mean(ev.cost[:, cur] - ev.cost[:, target]))
    for_money, what = policy.strategy in ("default", "cost"), "improvement"
    cheaper_as_fast = saving > 0 and bool(obj[target] <= obj[cur] * (1 + SPEED_TIE))
    if policy.strategy == "speed" and gain < policy.min_saving_fraction and cheaper_as_fast:
        # `speed` counts sizes within SPEED_TIE as equally fast and takes the cheapest: a move to a
        # cheaper size as fast (one measured no slower at half the memory) is judged by what it saves,
        # or the function keeps paying for memory that buys nothing
        gain = float(saving / max(float(np.mean(ev.cost[:, cur])), 1e-300))
        for_money, what = True, "saving"
    if gain < policy.min_saving_fraction:
        return "keep", f"{what} {gain:.1%} below the {policy.min_saving_fraction:.1%} threshold"
    if for_money and saving < policy.min_saving_usd_month:
        return "keep", f"saving ${saving:.2f}/month below the ${policy.min_saving_usd_month:.2f} threshold"
    return "memory", None
