"""When to try a neighbouring memory size on real traffic, and which one.

An experiment is guarded (a p99 stop and an error stop, each a rollback alarm; one cycle long), so it
may try a size whose latency goal is only *uncertain*, not established: the candidates are the sizes the
hard constraints allow (bounds, memory floor, timeout margin, step limit), round (multiples of 32 MB)
and beyond the range of observed sizes, where the model gives the soft goals (the `default` p99
allowance, p95/p99 objectives) a fair chance (`MIN_PLAUSIBLE`).

Worth = the expected improvement over the model's best guess, counted only in the draws where the size
also meets the soft goals (a saving that breaks the allowance would not be adopted), enjoyed for a
horizon, minus the expected extra objective paid while the trial runs. An experiment must also be worth
a person's click: the optimistic end (95th percentile) of what it could save against the current size
must clear the thresholds a normal change must clear. The next cycle decides again with the new epoch.

Budget: at most `max_experiments` per function over the history the decision sees. Round sizes beyond
the observed range, never on a step-limit edge, make the agent's own experiments countable from the
epochs alone (`experiments_spent`); the optimizer's moves are at 1 MB resolution. What a trial (or a
move) its guards rolled back said outlives that history: the ground it rules out is a constraint of its
own (stopped_trials.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

NEAR_OBSERVED_LOG2 = 0.2  # sizes within ~15 % of an observed size teach the model little new
MIN_PLAUSIBLE = 0.1  # a trial size must meet the soft goals in at least this share of the model's draws
UPSIDE_QUANTILE = 95.0  # the upper end of the 90 % interval
# Experiments try round sizes; the optimizer's moves are at 1 MB resolution (one in 32 is round by
# chance and then counted too). 64 MB would leave a function at 128 MB only 192 MB to try short of the
# step limit's edge at 256 MB; once 192 MB is seen, nothing.
TRIAL_MULTIPLE_MB = 32


@dataclass(frozen=True)
class ExperimentChoice:
    index: int  # into the candidate grid
    expected_loss: float  # of staying with the best guess, fraction of its objective
    expected_improvement: float  # at the chosen size, fraction of the best guess's objective
    # the share of draws where it beats the best guess and meets the soft goals: expected_improvement
    # is this chance times the mean gain in those draws (a coin flip can be worth trying)
    chance: float = 0.0


@dataclass(frozen=True)
class Upside:
    """What a normal change must clear, and the per-draw gains against the current size to test."""

    objective_gain: FloatArray  # draws x sizes: (obj(current) - obj(size)) / E[obj(current)]
    min_fraction: float
    saving_usd: FloatArray | None = None  # draws x sizes, monthly USD; None when the strategy is not cost
    min_usd: float = 0.0


def expected_loss(objective: FloatArray, feasible: BoolArray, best: int) -> float:
    """E[obj(best) - min over feasible of obj], relative to E[obj(best)], over the model's draws."""
    draws_min = np.min(np.where(feasible[None, :], objective, np.inf), axis=1)
    return float(np.mean(objective[:, best] - draws_min) / max(np.mean(objective[:, best]), 1e-300))


def near_observed(memory_mb: FloatArray, observed: list[int]) -> BoolArray:
    if not observed:
        return np.zeros(memory_mb.shape, dtype=bool)
    dist = np.min(np.abs(np.log2(memory_mb[:, None] / np.asarray(observed, dtype=float)[None, :])), axis=1)
    return np.asarray(dist < NEAR_OBSERVED_LOG2, dtype=bool)


def step_edges(memory_mb: FloatArray, current_mb: int, step_factor: float) -> BoolArray:
    """The two sizes a move capped by the step limit lands on; experiments never go exactly there."""
    edges = (math.floor(current_mb * step_factor), math.ceil(current_mb / step_factor))
    return np.asarray(np.isin(memory_mb, np.asarray(edges, dtype=float)), dtype=bool)


def trial_sizes(memory_mb: FloatArray) -> BoolArray:
    """Sizes an experiment may try: multiples of TRIAL_MULTIPLE_MB, which is how the history tells them."""
    return np.asarray(np.mod(memory_mb, TRIAL_MULTIPLE_MB) == 0, dtype=bool)


def is_trial_size(memory_mb: int) -> bool:
    """`trial_sizes` for one size."""
    return memory_mb % TRIAL_MULTIPLE_MB == 0


def experiments_spent(
    sizes_in_order: list[int], step_factor: float, canary: Sequence[bool] | None = None
) -> int:
    """An upper bound on the all-traffic experiments already run, from the sizes the function ran at,
    oldest first. `canary` marks the sizes a canary measured beside the size in force: they count as
    seen (a later move there goes to a measured size, not into new ground) but are not moves; the
    canaries themselves are counted by their windows, elsewhere.

    An experiment always tries a round size (`trial_sizes`) beyond the range seen before it, by more
    than NEAR_OBSERVED_LOG2 (`beyond_observed`), and never exactly at a step-limit edge of the size it
    starts from (`step_edges`, where capped moves land). Every such extension of the range counts; a
    move that happens to land on one too (a 1 MB-resolution optimum that is round by chance) is counted
    as well, so the count never falls short, which is what a budget needs. Moves inside the range,
    capped climbs and the optimizer's other moves into new ground are not counted.
    """
    spent, seen, before = 0, list[int](), None
    for size, beside in zip(sizes_in_order, canary or [False] * len(sizes_in_order), strict=True):
        if before is not None and not beside:
            at = np.array([float(size)])
            trial_like = trial_sizes(at)[0] and not step_edges(at, before, step_factor)[0]
            spent += bool(trial_like and beyond_observed(at, seen)[0])
        seen.append(size)
        before = before if beside else size
    return spent


def beyond_observed(memory_mb: FloatArray, observed: list[int]) -> BoolArray:
    """Sizes more than NEAR_OBSERVED_LOG2 outside the range of observed sizes: where experiments go.

    Between observed sizes the model's residual field already follows what was measured on both
    sides; an experiment is for what nothing constrains but the model's form.
    """
    if not observed:
        return np.ones(memory_mb.shape, dtype=bool)
    log_m = np.log2(memory_mb)
    low, high = np.log2(min(observed)), np.log2(max(observed))
    return np.asarray((log_m < low - NEAR_OBSERVED_LOG2) | (log_m > high + NEAR_OBSERVED_LOG2), dtype=bool)


def clears_upside(upside: Upside, meets: BoolArray) -> BoolArray:
    """Sizes whose optimistic gain (draws breaking a soft goal count as no gain) clears the thresholds."""

    def optimistic(gain: FloatArray) -> FloatArray:
        usable = np.where(meets, gain, np.minimum(gain, 0.0))
        return np.asarray(np.percentile(usable, UPSIDE_QUANTILE, axis=0), dtype=float)

    ok = optimistic(upside.objective_gain) >= upside.min_fraction
    if upside.saving_usd is not None:
        ok &= optimistic(upside.saving_usd) >= upside.min_usd
    return np.asarray(ok, dtype=bool)


def choose_experiment(  # noqa: PLR0917 - the decision's inputs, each needed
    memory_mb: FloatArray,
    objective: FloatArray,
    hard: BoolArray,
    meets: BoolArray,
    best: int,
    observed: list[int],
    *,
    upside: Upside,
    threshold: float,
    horizon_days: float,
    trial_days: float,
    inside: bool = False,
) -> ExperimentChoice | None:
    """The size beyond the observed range where trying is worth most, if any is worth it.

    `hard` (sizes) is what the hard constraints allow; `meets` (draws x sizes) whether each draw meets
    the soft goals there. Only when the best guess sits on an observed size: a move to an untried best
    guess already teaches the model. Expected improvements below `threshold` (relative) are not tried
    (the policy's default is 0: the draws carry the noise, and `clears_upside` the move thresholds).
    `inside`: a canary may also try sizes between observed ones (away from each), since there a latency
    goal is judged only on what a canary measured beside the baseline, never on the model's interpolation.
    """
    near = near_observed(memory_mb, observed)
    plausible = np.mean(meets, axis=0) >= MIN_PLAUSIBLE
    untried = ~near if inside else beyond_observed(memory_mb, observed)
    candidates = hard & plausible & untried & trial_sizes(memory_mb)
    if not near[best] or not candidates.any():
        return None
    candidates &= clears_upside(upside, meets)
    if not candidates.any():
        return None
    scale = max(float(np.mean(objective[:, best])), 1e-300)
    diff = objective[:, best : best + 1] - objective  # > 0 where a size beats the best guess
    wins = meets & (diff > 0)
    gain = np.mean(np.where(wins, diff, 0.0), axis=0)
    trial_cost = np.mean(np.maximum(-diff, 0.0), axis=0)
    worth = np.where(
        candidates & (gain / scale >= threshold), gain * horizon_days - trial_cost * trial_days, -np.inf
    )
    index = int(np.argmax(worth))
    if not np.isfinite(worth[index]) or worth[index] <= 0:
        return None
    return ExperimentChoice(
        index=index,
        expected_loss=expected_loss(objective, hard & plausible, best),
        expected_improvement=float(gain[index] / scale),
        chance=float(np.mean(wins[:, index])),
    )
