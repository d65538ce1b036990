"""When to try a neighbouring memory size on real traffic, and which one.

An experiment is worth it when some untried size within one step is expected to improve on the model's
best guess (averaged over what the model still considers possible) by more than noise, and that gain,
kept for a horizon, outweighs what the trial itself is expected to cost. It costs
zero synthetic invocations: real traffic runs at the neighbouring size for a bounded time, stopped early
by guards (p99 beyond the allowance, errors), and the next cycle decides again with the new epoch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

NEAR_OBSERVED_LOG2 = 0.2  # sizes within ~15 % of an observed size teach the model little new


@dataclass(frozen=True)
class ExperimentChoice:
    index: int  # into the candidate grid
    expected_loss: float  # of staying with the best guess, fraction of its objective
    expected_improvement: float  # at the chosen size, fraction of the best guess's objective


def expected_loss(objective: FloatArray, feasible: BoolArray, best: int) -> float:
    """E[obj(best) - min over feasible of obj], relative to E[obj(best)], over the model's draws."""
    draws_min = np.min(np.where(feasible[None, :], objective, np.inf), axis=1)
    return float(np.mean(objective[:, best] - draws_min) / max(np.mean(objective[:, best]), 1e-300))


def near_observed(memory_mb: FloatArray, observed: list[int]) -> BoolArray:
    if not observed:
        return np.zeros(memory_mb.shape, dtype=bool)
    dist = np.min(np.abs(np.log2(memory_mb[:, None] / np.asarray(observed, dtype=float)[None, :])), axis=1)
    return np.asarray(dist < NEAR_OBSERVED_LOG2, dtype=bool)


def choose_experiment(
    memory_mb: FloatArray,
    objective: FloatArray,
    feasible: BoolArray,
    best: int,
    observed: list[int],
    *,
    threshold: float,
    horizon_days: float,
    trial_days: float,
) -> ExperimentChoice | None:
    """The untried feasible size where trying is worth most, if any is worth it.

    Worth = expected improvement over the best guess, enjoyed for `horizon_days`, minus the expected
    extra objective paid while the trial runs (`trial_days`, already scaled by the routing weight). Only
    when the best guess sits on an observed size: a move to an untried best guess already teaches the
    model, so it needs no experiment. Improvements below `threshold` (relative) are noise, not worth it.
    """
    near = near_observed(memory_mb, observed)
    candidates = feasible & ~near
    if not near[best] or not candidates.any():
        return None
    scale = max(float(np.mean(objective[:, best])), 1e-300)
    diff = objective[:, best : best + 1] - objective  # > 0 where a size beats the best guess
    gain = np.mean(np.maximum(diff, 0.0), axis=0)
    trial_cost = np.mean(np.maximum(-diff, 0.0), axis=0)
    worth = np.where(
        candidates & (gain / scale >= threshold), gain * horizon_days - trial_cost * trial_days, -np.inf
    )
    index = int(np.argmax(worth))
    if not np.isfinite(worth[index]) or worth[index] <= 0:
        return None
    return ExperimentChoice(
        index=index,
        expected_loss=expected_loss(objective, feasible, best),
        expected_improvement=float(gain[index] / scale),
    )
