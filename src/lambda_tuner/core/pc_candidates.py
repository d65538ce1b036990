"""History of one alias as hourly PC level tables, and the candidate plans scored on it.

A plan gives a level per local hour of the week (or of the day, with under a week of history). Its
projected month is its cost and cold starts over the observed hours, scaled to 730 hours; the spread
of the same figure over single days gives the interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from numpy.typing import NDArray

from lambda_tuner.core.models import ConcurrencySeries
from lambda_tuner.core.pc_model import LevelTables, ModelParams, series_tables
from lambda_tuner.core.pc_objective import PcObjective
from lambda_tuner.core.pc_prices import PcPrices
from lambda_tuner.core.pc_schedule import local_hour_of_week, zone

IntArray = NDArray[np.int_]
HOURS_PER_MONTH = 730.0
LAMBDA_GRID = (0.0, 1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)


@dataclass(frozen=True)
class History:
    tables: LevelTables  # level × hour
    hour_of_week: IntArray  # local hour of week of each hour
    invocations: NDArray[np.float64]  # per hour
    concurrency: NDArray[np.float64]  # per period, aligned to the hours
    periods_per_hour: int
    max_choice: int  # the highest level a plan may propose (the cap); the tables may go higher

    @property
    def hours(self) -> int:
        return len(self.hour_of_week)

    @property
    def bins(self) -> int:
        """Hour-of-week bins with a week of history, else hour-of-day bins."""
        return 168 if self.hours >= 168 else 24

    def bin_of_hour(self) -> IntArray:
        return self.hour_of_week if self.bins == 168 else self.hour_of_week % 24


def build_history(
    series: ConcurrencySeries,
    mean_ms: float,
    prices: PcPrices,
    params: ModelParams,
    *,
    tz: str,
    cap: int | None,
    current: int = 0,
) -> History:
    """Whole local hours of the series; need = ⌈max concurrency⌉, work = calls × mean ms / period.

    Levels run up to the largest need (higher ones only add cost), capped, and always include the
    current level so that what is configured now can be scored too.
    """
    if 3600 % series.period_s:
        raise ValueError(f"period of {series.period_s} s does not divide an hour")
    if len(series.invocations) != len(series.max_concurrency):
        raise ValueError("the concurrency series has no invocation counts of the same length")
    pph = 3600 // series.period_s
    step = timedelta(seconds=series.period_s)
    local = zone(tz)
    starts = (series.start + i * step for i in range(min(pph, len(series.max_concurrency))))
    first = next((i for i, t in enumerate(starts) if t.astimezone(local).minute == 0), 0)
    hours = (len(series.max_concurrency) - first) // pph
    sl = slice(first, first + hours * pph)
    conc = np.asarray(series.max_concurrency, dtype=float)[sl]
    calls = np.asarray(series.invocations, dtype=float)[sl]
    n = np.ceil(np.clip(conc, 0.0, None) - 1e-9)
    a = np.minimum(calls * mean_ms / (series.period_s * 1000.0), n)  # work cannot exceed peak concurrency
    top = int(n.max(initial=0.0))
    choice = top if cap is None else max(0, min(top, cap))
    tables = series_tables(
        a, n, prices, params, period_s=series.period_s, block_periods=pph, max_level=max(current, choice)
    )
    start = series.start + first * step
    how = np.array([local_hour_of_week(start + timedelta(hours=h), tz) for h in range(hours)], dtype=int)
    return History(tables, how, calls.reshape(hours, pph).sum(axis=1), conc, pph, choice)


@dataclass(frozen=True)
class PlanScore:
    levels: tuple[int, ...]  # one per bin (24 or 168 hours)
    cost_month: float
    cold_month: float
    calls_month: float
    objective_month: float
    day_costs_month: tuple[float, ...]  # each whole day of history, scaled to a month

    @property
    def cold_rate(self) -> float:
        return self.cold_month / self.calls_month if self.calls_month > 0 else 0.0

    @property
    def constant(self) -> bool:
        return len(set(self.levels)) == 1

    @property
    def peak(self) -> int:
        return max(self.levels)

    def cost_interval(self) -> tuple[float, float]:
        days = self.day_costs_month or (self.cost_month,)
        return (min(days), max(days))


def hour_lambdas(history: History, objective: PcObjective, base: float) -> NDArray[np.float64]:
    return np.asarray(objective.lambdas(base), dtype=float)[history.hour_of_week]


def score(history: History, bin_levels: tuple[int, ...], lam_h: NDArray[np.float64]) -> PlanScore:
    per_hour = np.asarray(bin_levels, dtype=int)[history.bin_of_hour()]
    cols = np.arange(history.hours)
    cost = history.tables.cost[per_hour, cols]
    cold = history.tables.cold[per_hour, cols]
    scale = HOURS_PER_MONTH / history.hours
    whole = history.hours // 24 * 24
    days = cost[:whole].reshape(-1, 24).sum(axis=1) * (HOURS_PER_MONTH / 24)
    return PlanScore(
        levels=tuple(int(v) for v in bin_levels),
        cost_month=float(cost.sum() * scale),
        cold_month=float(cold.sum() * scale),
        calls_month=float(history.invocations.sum() * scale),
        objective_month=float((cost + lam_h * cold).sum() * scale),
        day_costs_month=tuple(float(d) for d in days),
    )


def level_plan(history: History, level: int, lam_h: NDArray[np.float64]) -> PlanScore:
    level = min(level, history.tables.max_level)
    return score(history, (level,) * history.bins, lam_h)


def static_plan(history: History, lam_h: NDArray[np.float64]) -> PlanScore:
    return level_plan(history, int(_objective(history, lam_h).sum(axis=1).argmin()), lam_h)


def schedule_plan(history: History, lam_h: NDArray[np.float64]) -> PlanScore:
    """Per bin, the level with the lowest objective summed over the history hours in that bin."""
    obj = _objective(history, lam_h)
    bins = history.bin_of_hour()
    per_bin = np.zeros((obj.shape[0], history.bins))
    np.add.at(per_bin.T, bins, obj.T)
    seen = np.bincount(bins, minlength=history.bins) > 0
    fallback = int(obj.sum(axis=1).argmin())
    levels = tuple(int(per_bin[:, b].argmin()) if seen[b] else fallback for b in range(history.bins))
    return score(history, levels, lam_h)


def _objective(history: History, lam_h: NDArray[np.float64]) -> NDArray[np.float64]:
    """Objective of each level a plan may choose (rows 0..max_choice) in each hour."""
    rows = slice(0, history.max_choice + 1)
    return np.asarray(history.tables.cost[rows] + lam_h[None, :] * history.tables.cold[rows], dtype=float)
