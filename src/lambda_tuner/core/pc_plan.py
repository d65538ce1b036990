"""Choosing a PC level for the next hour, and a level per hour of the day, from history only.

The planner scores every candidate level on past hours (`LevelTables`, which are causal) and picks the
level with the lowest *expected* objective for the next hour. The expectation has two parts, because
most functions alternate between idle hours and active ones and an idle hour costs exactly the PC
allocation:
- P(next hour active): a two-state Markov estimate (given whether the last hour was active), shrunk
  towards the overall active share, plus same-hour-of-day evidence from previous days when there is any;
- the objective of an active hour: the mean over past active hours, recent hours weighted more
  (half-life), the same hour of previous days weighted more again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from lambda_tuner.core.pc_model import FloatArray, LevelTables, ModelParams, minute_rates
from lambda_tuner.core.pc_prices import PcPrices

BoolArray = NDArray[np.bool_]


@dataclass(frozen=True)
class PlannerConfig:
    half_life_h: float = 6.0  # recency of the active-hour scenarios
    activity_prior: float = 4.0  # pseudo-observations pulling P(active) towards the overall share
    seasonal_weight: float = 4.0  # weight of the same hour yesterday, against 1 for the last hour
    period_h: int = 24


@dataclass(frozen=True)
class HourPlan:
    level: int
    p_active: float
    expected_objective: float  # USD for the hour, including λ × expected cold starts


def idle_hour_cost(max_level: int, prices: PcPrices, params: ModelParams, block_min: int = 60) -> FloatArray:
    """What each level costs in an hour without a single call: the PC allocation only."""
    return np.arange(max_level + 1, dtype=float) * minute_rates(prices, params)[0] * block_min


def plan_hour(
    history: LevelTables,
    active: BoolArray,
    lam: float,
    idle_cost: FloatArray,
    config: PlannerConfig = PlannerConfig(),
) -> HourPlan:
    """The level for the hour right after `history` (columns are past hours, oldest first)."""
    hours = history.cost.shape[1]
    if len(active) != hours:
        raise ValueError(f"activity has {len(active)} hours, tables have {hours}")
    if lam < 0:
        raise ValueError(f"λ must not be negative, got {lam}")
    if not active.any():
        return HourPlan(level=0, p_active=0.0, expected_objective=0.0)
    idle = idle_cost[: history.max_level + 1]
    p = _p_active(active, config)
    expected = p * _active_hour_objective(history, active, lam, config) + (1.0 - p) * idle
    level = int(expected.argmin())
    return HourPlan(level=level, p_active=p, expected_objective=float(expected[level]))


def plan_day(
    history: LevelTables,
    active: BoolArray,
    lam: float,
    idle_cost: FloatArray,
    config: PlannerConfig = PlannerConfig(),
) -> tuple[int, ...]:
    """A level for each hour of the day: per hour of day, the level best over that hour's past days.

    Hours of the day never seen yet get the level best over all history (the static level).
    """
    obj = history.objective(lam)
    hours = obj.shape[1]
    if hours == 0:
        return (0,) * config.period_h
    ages = hours - 1 - np.arange(hours)
    day_weight = 0.5 ** (ages // config.period_h / 7.0)  # last week counts more than a month ago
    static = int((obj * day_weight).sum(axis=1).argmin())
    schedule = []
    for hod in range(config.period_h):
        cols = np.arange(hod, hours, config.period_h)
        schedule.append(int((obj[:, cols] * day_weight[cols]).sum(axis=1).argmin()) if len(cols) else static)
    del active, idle_cost  # the daily schedule is fitted on the objective directly
    return tuple(schedule)


def _p_active(active: BoolArray, config: PlannerConfig) -> float:
    last = bool(active[-1])
    prev, nxt = active[:-1], active[1:]
    same = prev == last
    base = float(active.mean())
    hits, trials = float(nxt[same].sum()), float(same.sum())
    # the same hour of the day on previous days: len - period, len - 2 × period, ...
    seasonal = (
        active[len(active) - config.period_h :: -config.period_h]
        if len(active) >= config.period_h
        else active[:0]
    )
    s_hits, s_trials = float(np.sum(seasonal)), float(len(seasonal))
    num = hits + config.activity_prior * base + config.seasonal_weight * s_hits
    den = trials + config.activity_prior + config.seasonal_weight * s_trials
    return num / den


def _active_hour_objective(
    history: LevelTables, active: BoolArray, lam: float, config: PlannerConfig
) -> FloatArray:
    hours = len(active)
    cols = np.nonzero(active)[0]
    ages = hours - 1 - cols
    # Recent hours fade within hours; the same hour on previous days fades only over a week.
    seasonal = (ages + 1) % config.period_h == 0
    days_ago = (ages + 1) // config.period_h
    weights = 0.5 ** (ages / config.half_life_h) + config.seasonal_weight * seasonal * 0.5 ** (days_ago / 7.0)
    obj = history.cost[:, cols] + lam * history.cold[:, cols]
    return np.asarray((obj * weights).sum(axis=1) / weights.sum(), dtype=float)
