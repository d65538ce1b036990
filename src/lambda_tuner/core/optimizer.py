"""Memory decisions: the fitted model, the user's strategy and the hard constraints, as one pure function.

`decide_memory` evaluates every candidate size (1 MB steps where the range allows) under Monte Carlo
draws of the fitted model, masks what a constraint forbids, picks the best expected objective and says
which constraint or objective decided. "Keep as is" is a recommendation too, with its reason.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from pydantic import Field

from lambda_tuner.core.cost import MONTH_DAYS, cost_rates
from lambda_tuner.core.exploration import BoolArray, Upside, choose_experiment
from lambda_tuner.core.fitting import VCPU_MB, DurationFit, FloatArray, fit_duration, natural
from lambda_tuner.core.fitting_draws import Draws, Sample, interval, sample
from lambda_tuner.core.models import (
    MAX_MEMORY_MB,
    MIN_MEMORY_MB,
    ChartPoint,
    Epoch,
    Frozen,
    FunctionConfig,
    Interval,
    Observations,
    Projection,
    Reason,
    Recommendation,
    Strategy,
)
from lambda_tuner.core.pricing import PriceTable

SPEED_TIE = 0.005  # speed: sizes within 0.5 % of the fastest count as equally fast; take the cheapest
SATURATED = 0.95  # memory used / configured at which the reading is capped, not measured
COARSE_POINTS = 160  # geometric search grid (2.8 % apart over 128-10,240 MB) ...
FINE_POINTS = 121  # ... refined near its optimum: 1 MB steps, or 0.07 % apart on wide windows
FINE_WINDOW = 1.5  # coarse steps either side of the coarse optimum
STOP_MARGIN_SD = 2.0  # an experiment's p99 guard sits this many day-to-day deviations inside the allowance
REFERENCE_SEED = 11  # draws of the baseline size's measured mean (deterministic, like the model's)


# ---------------------------------------------------------------- what the epochs say about usage


@dataclass(frozen=True)
class Usage:
    invocations_per_month: float
    cold_start_rate: float
    init_ms: float
    floor_mb: float | None  # max memory used x headroom: never go below it (OOM)
    p95_ratio: float


def usage_from(epochs: list[Epoch], headroom: float) -> Usage:
    """Traffic, cold starts, INIT and the memory floor, pooled over the epochs by their invocations."""
    invocations = sum(e.invocations for e in epochs)
    days = sum(max((e.end - e.start).total_seconds(), 60.0) for e in epochs) / 86_400
    reports = [e.reports for e in epochs if e.reports is not None and e.reports.invocations > 0]
    cold = sum(r.cold_starts for r in reports) / max(1, sum(r.invocations for r in reports))
    inits = [(r.init_ms_avg, r.cold_starts) for r in reports if r.init_ms_avg and r.cold_starts]
    init = sum(i * c for i, c in inits) / sum(c for _, c in inits) if inits else 0.0
    used = [v for r in reports for v in (r.max_memory_used_mb_max, r.max_memory_used_mb_p99) if v is not None]
    # Memory used at (nearly) the configured size says only "at least this much": the real need is unknown,
    # so the floor doubles the configuration instead of adding headroom to a capped reading.
    # A reading below SATURATED x its configuration at a larger size supersedes a capped one.
    readings = [
        (e.memory_mb, e.reports.max_memory_used_mb_max)
        for e in epochs
        if e.reports is not None and e.reports.max_memory_used_mb_max is not None
    ]
    free = [mb for mb, used_mb in readings if used_mb < SATURATED * mb]
    saturated = [
        2.0 * mb for mb, used_mb in readings if used_mb >= SATURATED * mb and not any(f > mb for f in free)
    ]
    ratios = [
        e.duration_p95_ms / e.duration_avg_ms for e in epochs if e.duration_p95_ms and e.duration_avg_ms
    ]
    return Usage(
        invocations_per_month=invocations / days * MONTH_DAYS,
        cold_start_rate=min(1.0, cold),
        init_ms=init,
        floor_mb=max([max(used) * headroom, *saturated]) if used else None,
        p95_ratio=float(np.median(ratios)) if ratios else 1.6,
    )


@dataclass(frozen=True)
class Evaluation:
    """Candidate sizes, the model's draws there, and one boolean mask per constraint."""

    memory_mb: FloatArray
    draws: Draws
    cost: FloatArray  # monthly USD per draw and size, parameter uncertainty only
    cost_noisy: FloatArray  # plus day-to-day noise: what a future month shows
    current: int
    masks: dict[str, BoolArray]  # hard constraints
    soft: dict[str, BoolArray]  # latency goals, dropped only when nothing meets them
    meets: BoolArray  # draws x sizes: whether each draw meets every soft goal there (for experiments)
    objective: FloatArray
    baseline_p99_ms: float
    stop_p99_ms: float  # an experiment's guard: p99 above this stops it (see `_stop_p99`)
    invocations_per_month: float

    def all_masks(self, *, soft: bool = False, hard: bool = True, skip: str = "") -> BoolArray:
        out = np.ones(self.memory_mb.shape, dtype=bool)
        groups = ([self.masks] if hard else []) + ([self.soft] if soft else [])
        for group in groups:
            for name, mask in group.items():
                if name != skip:
                    out &= mask
        return out

    def allowed(self, index: int) -> bool:
        """Whether a size meets every constraint but the step limit (a current size that fails moves)."""
        mask = self.all_masks(soft=True, skip="step limit")
        return bool(mask[index])


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


class MemoryPolicy(Frozen):
    """How one function's memory is chosen: strategy, user goals and bounds, safety margins, churn limits.

    `default` is the lowest cost whose p99 stays within `p99_allowance` of "now" (a stored baseline),
    with at most `p99_risk` chance of exceeding it under the model. Hard constraints: bounds, memory
    floor (max used x `memory_headroom`), p99 upper bound below `timeout_margin` x timeout, and at most
    `max_step_factor` per cycle. Moves smaller than both savings thresholds are not worth the churn.
    """

    strategy: Strategy = "default"
    balanced_weight: float = Field(default=0.5, ge=0.0, le=1.0)
    p99_allowance: float = Field(default=0.10, ge=0.0)  # default strategy: p99 may worsen this much
    p99_risk: float = Field(default=0.02, gt=0.0, lt=0.5)  # accepted chance the allowance is exceeded
    p95_objective_ms: float | None = Field(default=None, gt=0)
    p99_objective_ms: float | None = Field(default=None, gt=0)
    min_mb: int | None = Field(default=None, ge=MIN_MEMORY_MB, le=MAX_MEMORY_MB)
    max_mb: int | None = Field(default=None, ge=MIN_MEMORY_MB, le=MAX_MEMORY_MB)
    memory_headroom: float = Field(default=1.25, ge=1.0)
    timeout_margin: float = Field(default=0.8, gt=0.0, le=1.0)
    max_step_factor: float = Field(default=2.0, ge=1.0)
    min_invocations: int = Field(default=100, ge=1)
    min_saving_usd_month: float = Field(default=0.5, ge=0.0)
    min_saving_fraction: float = Field(default=0.01, ge=0.0)
    explore: bool = True
    explore_threshold: float = Field(default=0.005, ge=0.0)  # relative gain below this is noise
    explore_horizon_days: float = Field(default=30.0, gt=0.0)  # how long a better size keeps paying
    max_explored_sizes: int = Field(default=5, ge=1)  # no experiment once this many sizes were seen
    experiment_weight: float = Field(default=0.1, gt=0.0, le=1.0)
    experiment_days: int = Field(default=1, ge=1)
    n_draws: int = Field(default=400, ge=50)


def _grid(lower: int, upper: int, current: int, observed: list[float], focus: float | None) -> FloatArray:
    """A coarse geometric grid, the sizes that matter by name, and a fine window around `focus`."""
    base = np.round(np.geomspace(lower, upper, COARSE_POINTS))
    parts: list[FloatArray] = [base, np.array([current, VCPU_MB]), np.asarray(observed, dtype=float)]
    if focus is not None:
        step = (upper / lower) ** (FINE_WINDOW / (COARSE_POINTS - 1))
        a, b = max(float(lower), focus / step), min(float(upper), focus * step)
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
) -> Evaluation:
    """Candidate sizes under the model's draws, with one mask per constraint.

    The grid is coarse (geometric) plus a fine window around `focus` when given; `draws` are the
    model's size-independent draws (sampled here when not given), so a refined grid sees the same ones.
    `baseline_memory_mb` is the size the baseline p99 was measured at (see `_allowance`).
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
    m = _grid(min(lower, fn.memory_mb), max(upper, fn.memory_mb), fn.memory_mb, edges, focus)
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
    # for the uncertainty of the baseline itself, which was one day's p99.
    p99_fixed_ratio = d.mean_noisy * fit.p99_ratio
    baseline = baseline_p99_ms or _observed_p99(fit, fn.memory_mb) or float(np.mean(p99_fixed_ratio[:, cur]))
    masks = {
        "bounds": (m >= lower) & (m <= upper),
        "memory floor": m >= (usage.floor_mb or 0.0),
        "timeout margin": np.percentile(d.p99, 95, axis=0) < policy.timeout_margin * fn.timeout_s * 1000,
        "step limit": (m >= fn.memory_mb / policy.max_step_factor)
        & (m <= fn.memory_mb * policy.max_step_factor),
    }
    soft: dict[str, BoolArray] = {}
    meets = np.ones(d.mean.shape, dtype=bool)
    if policy.p99_objective_ms:
        soft["p99 objective"] = np.mean(d.p99, axis=0) <= policy.p99_objective_ms
        meets &= d.p99 <= policy.p99_objective_ms
    if policy.p95_objective_ms:
        soft["p95 objective"] = np.mean(d.mean, axis=0) * usage.p95_ratio <= policy.p95_objective_ms
        meets &= d.mean * usage.p95_ratio <= policy.p95_objective_ms
    if policy.strategy == "default":
        ref = _reference_index(m, fit, baseline_memory_mb)
        if ref is not None:
            reference = _reference_draws(fit, int(m[ref]), d.mean.shape[0])
            allowance, within = _allowance(d.mean / reference, 1 + policy.p99_allowance, policy)
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
        stop_p99_ms=_stop_p99(fit, policy, baseline, baseline_memory_mb),
        invocations_per_month=usage.invocations_per_month,
    )


def _reference_index(m: FloatArray, fit: DurationFit, baseline_memory_mb: int | None) -> int | None:
    """Where the baseline was measured, when that size is among the observed ones (else None)."""
    if baseline_memory_mb is None or baseline_memory_mb not in {s.memory_mb for s in fit.sizes}:
        return None
    return int(np.searchsorted(m, baseline_memory_mb))


def _stop_p99(
    fit: DurationFit, policy: MemoryPolicy, baseline: float, baseline_memory_mb: int | None
) -> float:
    """The p99 at which an experiment stops: the allowance, judged on one day of the trial size.

    One day's p99 can read a few per cent low, so under `default` (where the allowance is the user's
    goal) the guard sits STOP_MARGIN_SD day-to-day deviations inside the allowance: a size truly beyond
    it must not pass for a day's luck. A stop costs little: the day's data is kept and teaches the model.
    The reference is the p99 measured at the baseline's size over every day seen there, when it was.
    """
    measured = _observed_p99(fit, baseline_memory_mb) if baseline_memory_mb else None
    limit = (1 + policy.p99_allowance) * (measured or baseline)
    if policy.strategy != "default":
        return limit
    return limit * math.exp(-STOP_MARGIN_SD * fit.rel_noise)


def _reference_draws(fit: DurationFit, memory_mb: int, n_draws: int) -> FloatArray:
    """The expected mean at the baseline's size as measured there (every day pooled), with its error.

    Measured, not modelled: the smooth form would pull a size seen on one day towards its neighbours,
    and a bumpy curve then looks flatter than it is exactly where the allowance is judged.
    """
    size = next(s for s in fit.sizes if s.memory_mb == memory_mb)
    se = math.sqrt(size.rel_se**2 + fit.rel_noise**2 / size.epochs)
    z = np.random.default_rng(REFERENCE_SEED).standard_normal((n_draws, 1))
    return np.asarray(size.mean_ms * np.exp(se * z), dtype=float)


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
    for s in fit.sizes:
        if s.memory_mb == memory_mb and s.p99_ratio is not None:
            return s.mean_ms * s.p99_ratio
    return None


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
    if not mask.any():
        return None
    expected = np.where(mask, np.mean(ev.objective, axis=0), np.inf)
    if strategy == "speed":
        tied = mask & (expected <= np.min(expected) * (1 + SPEED_TIE))
        return int(np.argmin(np.where(tied, np.mean(ev.cost, axis=0), np.inf)))
    return int(np.argmin(expected))


def choose(ev: Evaluation, strategy: Strategy) -> tuple[int, str]:
    """The best allowed size and what decided it, relaxing the step limit for safety and soft goals last."""
    hard = ev.all_masks(soft=False)
    everything = hard & ev.all_masks(soft=True, hard=False)
    best = pick(ev, strategy, everything)
    if best is not None:
        return best, decided_by(ev, strategy, best, pick)
    hard_no_step = ev.all_masks(soft=False, skip="step limit")
    if not hard.any() and hard_no_step.any():  # safety beats the step limit: the smallest move to safety
        dist = np.where(hard_no_step, np.abs(np.log(ev.memory_mb / ev.memory_mb[ev.current])), np.inf)
        failing = [n for n, mask in ev.masks.items() if n != "step limit" and not mask[ev.current]]
        return int(np.argmin(dist)), f"{' and '.join(failing) or 'safety'} (overrides the step limit)"
    if hard.any():  # a latency goal cannot be met: the fastest size the hard constraints allow
        p99 = np.where(hard, np.mean(ev.draws.p99, axis=0), np.inf)
        return int(np.argmin(p99)), f"{', '.join(ev.soft)} unreachable: fastest allowed size"
    no_timeout = ev.all_masks(soft=False, skip="timeout margin")
    if no_timeout.any():  # no size is known to be safe from the timeout: the fastest one within reach
        p99 = np.where(no_timeout, np.mean(ev.draws.p99, axis=0), np.inf)
        return int(np.argmin(p99)), "timeout margin at risk everywhere: fastest size within the step limit"
    return ev.current, "no size satisfies bounds, memory floor and step limit together"


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
) -> Recommendation:
    epochs = [e for e in obs.epochs if e.arch == fn.arch and e.invocations > 0 and e.duration_avg_ms]
    total = sum(e.invocations for e in epochs)
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
    usage = usage_from(epochs, policy.memory_headroom)
    # Search a coarse grid, then refine around its choice with the very same draws.
    draws = sample(fit, policy.n_draws)
    settings = {
        "policy": policy,
        "prices": prices,
        "baseline_p99_ms": baseline_p99_ms,
        "baseline_memory_mb": baseline_memory_mb,
        "draws": draws,
    }
    coarse = evaluate(fn, fit, usage, **settings)  # type: ignore[arg-type]
    focus = float(coarse.memory_mb[choose(coarse, policy.strategy)[0]])
    ev = evaluate(fn, fit, usage, **settings, focus=focus)  # type: ignore[arg-type]
    best, decider = choose(ev, policy.strategy)
    observed = [s.memory_mb for s in fit.sizes]
    forced = not ev.allowed(ev.current)
    kind, why_keep = _keep_or_move(ev, policy, best, forced)
    # What the function will run at if nothing is tried: a move to an untried size teaches the model by
    # itself; staying (even when the best guess sits near but not at the current size, below the
    # thresholds) must not rule out a trial, or a model that is wrong about distant sizes never learns.
    anchor = best if kind == "memory" else ev.current
    ctx = _Context(fn=fn, obs=obs, fit=fit, ev=ev, now=now, rec_id=rec_id)
    if not forced and policy.explore and len(observed) < policy.max_explored_sizes:
        choice = choose_experiment(
            ev.memory_mb,
            ev.objective,
            ev.all_masks(soft=False),
            ev.meets,
            anchor,
            observed,
            upside=_upside(ev, policy),
            threshold=policy.explore_threshold,
            horizon_days=policy.explore_horizon_days,
            trial_days=policy.experiment_days * policy.experiment_weight,
        )
        if choice is not None:
            return _experiment(ctx, policy, best=anchor, index=choice.index, gain=choice.expected_improvement)
    return _recommendation(ctx, kind, best if kind == "memory" else ev.current, why_keep or decider)


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


def _keep_or_move(ev: Evaluation, policy: MemoryPolicy, best: int, forced: bool) -> tuple[str, str | None]:
    if best == ev.current:
        return "keep", None
    if forced:
        return "memory", None
    obj = np.mean(ev.objective, axis=0)
    gain = float((obj[ev.current] - obj[best]) / obj[ev.current])
    saving = float(np.mean(ev.cost[:, ev.current] - ev.cost[:, best]))
    if gain < policy.min_saving_fraction:
        return "keep", f"improvement {gain:.1%} below the {policy.min_saving_fraction:.1%} threshold"
    if policy.strategy in ("default", "cost") and saving < policy.min_saving_usd_month:
        return "keep", f"saving ${saving:.2f}/month below the ${policy.min_saving_usd_month:.2f} threshold"
    return "memory", None


@dataclass(frozen=True)
class _Context:
    fn: FunctionConfig
    obs: Observations
    fit: DurationFit
    ev: Evaluation
    now: datetime
    rec_id: str


def _experiment(ctx: _Context, policy: MemoryPolicy, *, best: int, index: int, gain: float) -> Recommendation:
    ev = ctx.ev
    size = int(ev.memory_mb[index])
    extra = float(np.percentile(ev.cost_noisy[:, index] - ev.cost_noisy[:, best], 95))
    daily_limit = max(0.0, extra) / MONTH_DAYS * policy.experiment_days
    rec = _recommendation(
        ctx,
        "experiment",
        index,
        f"exploration: untried {size} MB is expected to beat the best guess {int(ev.memory_mb[best])} MB "
        f"by {gain:.1%}, worth more over {policy.explore_horizon_days:.0f} days than the trial costs",
    )
    stop_p99 = ev.stop_p99_ms
    proposed: dict[str, int | float | str | None] = {
        "memory_mb": size,
        "routing_weight": policy.experiment_weight,
        "max_days": policy.experiment_days,
        "max_extra_cost_usd": round(daily_limit * policy.experiment_weight, 6),
        "stop_if_p99_ms_above": round(stop_p99, 1),
        "stop_if_error_rate_above": 0.0,
        "best_guess_mb": int(ev.memory_mb[best]),
    }
    return rec.model_copy(update={"proposed": proposed})


def _recommendation(ctx: _Context, kind: str, index: int, decider: str) -> Recommendation:
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
        "experiment": f"Try {size} MB on part of the traffic to learn",
    }[kind]
    money = f"${saving.expected:,.2f}/month (90 %: ${saving.low:,.2f}–${saving.high:,.2f})"
    summary = f"{verb}: saves {money}, {effect}"
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
    cheapest = int(
        np.argmin(np.where(ev.all_masks(soft=False, skip="step limit"), np.mean(ev.cost, axis=0), np.inf))
    )
    picks.add(cheapest)
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
