"""When to try a neighbouring memory size on real traffic, and which one.

An experiment is worth it when the model's choice is uncertain enough that, averaged over what the
model still considers possible, picking its best guess loses a noticeable fraction of the objective
(the *expected loss*), and some untried size within one step is expected to improve on it. It costs
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
) -> ExperimentChoice | None:
    """The untried feasible size with the largest expected improvement, if exploring is worth it.

    Only when the best guess sits on an observed size: a move to an untried best guess already teaches
    the model, so it needs no experiment.
    """
    near = near_observed(memory_mb, observed)
    if not near[best]:
        return None
    loss = expected_loss(objective, feasible, best)
    if loss <= threshold:
        return None
    candidates = feasible & ~near
    if not candidates.any():
        return None
    gain = np.mean(np.maximum(objective[:, best : best + 1] - objective, 0.0), axis=0)
    gain = np.where(candidates, gain, -np.inf)
    index = int(np.argmax(gain))
    improvement = float(gain[index] / max(np.mean(objective[:, best]), 1e-300))
    if improvement <= threshold / 2:
        return None
    return ExperimentChoice(index=index, expected_loss=loss, expected_improvement=improvement)
