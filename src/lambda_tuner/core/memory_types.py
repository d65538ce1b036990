"""The memory policy (strategy, goals, margins) and the evaluation of candidate sizes under the model."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import Field, model_validator

from lambda_tuner.core.exploration import BoolArray
from lambda_tuner.core.fitting import FloatArray
from lambda_tuner.core.fitting_draws import Draws
from lambda_tuner.core.models import DEFAULT_P99_ALLOWANCE, MAX_MEMORY_MB, MIN_MEMORY_MB, Frozen, Strategy


class MemoryPolicy(Frozen):
    """How one function's memory is chosen: strategy, user goals and bounds, safety margins, churn limits.

    `default` is the lowest cost whose p99 stays within `p99_allowance` of "now" (a stored baseline),
    with at most `p99_risk` chance of exceeding it under the model (a move asks for that; the size in
    force keeps its place while it is likely inside, see optimizer.STAY_CONFIDENCE). Hard constraints:
    bounds, memory floor (max used x `memory_headroom`), p99 upper bound below `timeout_margin` x
    timeout, and at most `max_step_factor` per cycle. Moves smaller than both savings thresholds are
    not worth the churn.
    """

    strategy: Strategy = "default"
    balanced_weight: float = Field(default=0.5, ge=0.0, le=1.0)
    p99_allowance: float = Field(default=DEFAULT_P99_ALLOWANCE, ge=0.0)  # default: p99 may worsen this much
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
    # A trial whose expected improvement (relative) is below this is not made. 0: the value test decides
    # alone (expected gain over the horizon against the trial's expected cost, with an optimistic gain
    # that clears the move thresholds); the draws already carry the noise a threshold would stand for.
    explore_threshold: float = Field(default=0.0, ge=0.0)
    explore_horizon_days: float = Field(default=30.0, gt=0.0)  # how long a better size keeps paying
    max_experiments: int = Field(default=3, ge=0)  # per function over the history the decision sees
    experiment_days: int = Field(default=1, ge=1)
    # A function invoked through an alias runs its experiment as a canary: a published version at the
    # trial size gets this share of the alias's traffic beside the current one, the same day (so the two
    # sizes are compared without day-to-day drift, and the trial costs this share of a full one). None:
    # no alias to route, so the experiment is one bounded step on all traffic.
    canary_weight: float | None = Field(default=None, gt=0.0, lt=1.0)
    # A canary needs enough calls to measure: its share grows (up to `canary_max_weight`) until it gets
    # `canary_min_calls` a day. 1,000 calls put the canary's mean within about 1 % (cv 0.3).
    canary_min_calls: int = Field(default=1000, ge=0)
    canary_max_weight: float = Field(default=0.5, gt=0.0, lt=1.0)

    @model_validator(mode="after")
    def _bounds_in_order(self) -> MemoryPolicy:
        if self.min_mb is not None and self.max_mb is not None and self.min_mb > self.max_mb:
            raise ValueError(f"min_mb {self.min_mb} is above max_mb {self.max_mb}")
        return self

    def canary_share(self, calls_per_day: float) -> float | None:
        """The share of the alias's calls a canary takes for a function with `calls_per_day`."""
        if self.canary_weight is None:
            return None
        wanted = self.canary_min_calls / max(calls_per_day, 1.0)
        return round(min(max(self.canary_weight, wanted), max(self.canary_max_weight, self.canary_weight)), 3)

    n_draws: int = Field(default=400, ge=50)


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
    # Sizes whose p99 allowance was judged on a window shared with the baseline's size (a canary day)
    side_by_side: frozenset[int] = frozenset()
    # A canary's guard: its p99 over the live version's in the same hours above this stops it
    stop_p99_ratio: float | None = None

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


def argmin_within(values: FloatArray, mask: BoolArray) -> int | None:
    """Index of the smallest finite value inside `mask`; None when there is none. (`np.argmin` over
    values set to inf outside the mask returns index 0, outside it, when every value inside is inf.)"""
    usable = mask & np.isfinite(values)
    if not usable.any():
        return None
    return int(np.argmin(np.where(usable, values, np.inf)))
