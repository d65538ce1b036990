"""History of one alias as hourly PC level tables, and the candidate plans scored on it.

A plan gives a level per local hour of the week (or of the day, with under a week of history), or,
for a function that bursts at the same minutes every hour, a level per 5-minute block of the hour,
repeated every hour (`within_hour_plan`). Its projected month is its cost and cold starts over the
observed hours, scaled to 730 hours; the spread of the same figure over single days gives the interval.
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
BLOCK_S = 300  # PC is billed in 5-minute increments
BLOCKS_PER_HOUR = 3600 // BLOCK_S


@dataclass(frozen=True)
class History:
    tables: LevelTables  # level × hour
    hour_of_week: IntArray  # local hour of week of each hour
    invocations: NDArray[np.float64]  # per hour
    concurrency: NDArray[np.float64]  # per period, aligned to the hours
    periods_per_hour: int
    max_choice: int  # the highest level a plan may propose (the cap); the tables may go higher
    blocks: LevelTables | None = None  # level × 5-minute block, when the period divides 5 minutes

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
    blocks = (
        series_tables(
            a, n, prices, params, period_s=series.period_s, block_periods=BLOCK_S // series.period_s,
            max_level=max(current, choice),
        )
        if BLOCK_S % series.period_s == 0
        else None
    )
    start = series.start + first * step
    how = np.array([local_hour_of_week(start + timedelta(hours=h), tz) for h in range(hours)], dtype=int)
    return History(tables, how, calls.reshape(hours, pph).sum(axis=1), conc, pph, choice, blocks)


@dataclass(frozen=True)
class PlanScore:
    levels: tuple[int, ...]  # one per bin (24 or 168 hours)
    cost_month: float
    cold_month: float
    calls_month: float
    objective_month: float
    day_costs_month: tuple[float, ...]  # each whole day of history, scaled to a month
    block_levels: tuple[int, ...] = ()  # a within-hour plan: one per 5-minute block, every hour

    @property
    def cold_rate(self) -> float:
        return self.cold_month / self.calls_month if self.calls_month > 0 else 0.0

    @property
    def within_hour(self) -> bool:
        return len(set(self.block_levels)) > 1

    @property
    def constant(self) -> bool:
        return len(set(self.levels)) == 1 and not self.within_hour

    @property
    def peak(self) -> int:
        return max(self.levels)

    @property
    def lowest(self) -> int:
        return min(self.block_levels or self.levels)

    def cost_interval(self) -> tuple[float, float]:
        days = self.day_costs_month or (self.cost_month,)
        return (min(days), max(days))


def hour_lambdas(history: History, objective: PcObjective, base: float) -> NDArray[np.float64]:
    return np.asarray(objective.lambdas(base), dtype=float)[history.hour_of_week]


def score(history: History, bin_levels: tuple[int, ...], lam_h: NDArray[np.float64]) -> PlanScore:
    per_hour = np.asarray(bin_levels, dtype=int)[history.bin_of_hour()]
    return _score(history, tuple(int(v) for v in bin_levels), *_hour_figures(history, per_hour), lam_h)


def _hour_figures(
    history: History, per_hour: NDArray[np.int_]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Cost and cold starts in each history hour at the level `per_hour` gives it."""
    cols = np.arange(history.hours)
    return history.tables.cost[per_hour, cols], history.tables.cold[per_hour, cols]


def _score(
    history: History,
    levels: tuple[int, ...],
    cost: NDArray[np.float64],
    cold: NDArray[np.float64],
    lam_h: NDArray[np.float64],
    *,
    block_levels: tuple[int, ...] = (),
) -> PlanScore:
    """The monthly figures of a plan whose cost and cold starts in each history hour are given."""
    scale = HOURS_PER_MONTH / history.hours
    whole = history.hours // 24 * 24
    days = cost[:whole].reshape(-1, 24).sum(axis=1) * (HOURS_PER_MONTH / 24)
    return PlanScore(
        levels=levels,
        cost_month=float(cost.sum() * scale),
        cold_month=float(cold.sum() * scale),
        calls_month=float(history.invocations.sum() * scale),
        objective_month=float((cost + lam_h * cold).sum() * scale),
        day_costs_month=tuple(float(d) for d in days),
        block_levels=block_levels,
    )


def level_plan(history: History, level: int, lam_h: NDArray[np.float64]) -> PlanScore:
    level = min(level, history.tables.max_level)
    return score(history, (level,) * history.bins, lam_h)


def in_place_plan(
    history: History, plan: tuple[str, tuple[int, ...]], lam_h: NDArray[np.float64]
) -> PlanScore | None:
    """The figures of a plan already carried out by the agent's actions (`pc_schedule.plan_of`): what a
    new plan is judged against, rather than the one level the alias reads at the cycle's hour."""
    form, levels = plan
    if form == "hour":
        if history.blocks is None or len(levels) != BLOCKS_PER_HOUR:
            return None
        slots = tuple(min(v, history.blocks.max_level) for v in levels)
        cost, cold = _block_figures(history, slots)
        return _score(history, (max(slots),) * history.bins, cost, cold, lam_h, block_levels=slots)
    week = np.minimum(np.asarray(levels, dtype=int), history.tables.max_level)
    bins = tuple(int(v) for v in (week if history.bins == 168 else week[:24]))
    return _score(history, bins, *_hour_figures(history, week[history.hour_of_week]), lam_h)


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


def within_hour_plan(history: History, lam_h: NDArray[np.float64]) -> PlanScore | None:
    """A level per 5-minute block of the hour, repeated every hour, where history shows such a pattern.

    Per block of the hour, the level with the lowest objective summed over that block in every history
    hour; then each rise moves one block earlier, because PC takes minutes to provision (the plan pays
    for the extra block). The per-block levels are then reduced to one rise an hour: a base level for
    the whole hour and one run of blocks at the peak level (PC that goes up and down several times an
    hour re-provisions each time; light traffic between bursts would otherwise ask for a level of 1 in
    scattered blocks). None without 5-minute data, without a peak above the base, or when the pattern
    does not hold out: fitted on the first half of the history, it must beat the static level fitted
    there on the second half (bursts that wander through the hour fail this).
    """
    if history.blocks is None or history.hours < 2:
        return None
    half = history.hours // 2
    static_early = int(_objective(history, lam_h)[:, :half].sum(axis=1).argmin())
    static_late = float(_objective(history, lam_h)[static_early, half:].sum())
    early = _one_rise(history, lam_h, range(half), _slots(history, lam_h, range(half)))
    if early is None:
        return None
    cost, cold = _block_figures(history, early)
    if float((cost + lam_h * cold)[half:].sum()) >= static_late:
        return None
    slots = _one_rise(history, lam_h, range(history.hours), _slots(history, lam_h, range(history.hours)))
    if slots is None:
        return None
    cost, cold = _block_figures(history, slots)
    return _score(history, (max(slots),) * history.bins, cost, cold, lam_h, block_levels=slots)


def _slots(history: History, lam_h: NDArray[np.float64], hours: range) -> tuple[int, ...]:
    assert history.blocks is not None
    rows = history.max_choice + 1
    shape = (rows, history.hours, BLOCKS_PER_HOUR)
    cost = history.blocks.cost[:rows].reshape(shape)[:, hours.start : hours.stop]
    cold = history.blocks.cold[:rows].reshape(shape)[:, hours.start : hours.stop]
    obj = cost + lam_h[None, hours.start : hours.stop, None] * cold
    best = obj.sum(axis=1).argmin(axis=0)
    led = np.maximum(best, np.roll(best, -1))  # each block also holds the next block's level
    return tuple(int(v) for v in led)


def _one_rise(
    history: History, lam_h: NDArray[np.float64], hours: range, slots: tuple[int, ...]
) -> tuple[int, ...] | None:
    """The best plan of the form "base level, and the peak level over one run of blocks": for each base
    level below the peak, the run is the blocks around the peak block whose own best level is above the
    base (wrapping around the hour); the plan with the lowest objective over `hours` wins."""
    n, peak = len(slots), int(np.argmax(slots))
    best: tuple[float, tuple[int, ...]] | None = None
    for base in sorted(set(slots)):
        if base >= slots[peak]:
            break
        run = {peak}
        for step in (1, -1):
            b = peak
            while slots[(b + step) % n] > base and len(run) < n:
                b = (b + step) % n
                run.add(b)
        plan = tuple(slots[peak] if b in run else base for b in range(n))
        cost, cold = _block_figures(history, plan)
        total = float((cost + lam_h * cold)[hours.start : hours.stop].sum())
        if best is None or total < best[0]:
            best = (total, plan)
    return None if best is None else best[1]


def _block_figures(
    history: History, slots: tuple[int, ...]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Cost and cold starts in each history hour of a plan repeating `slots` every hour."""
    assert history.blocks is not None
    cols = np.arange(history.hours * BLOCKS_PER_HOUR).reshape(history.hours, BLOCKS_PER_HOUR)
    levels = np.broadcast_to(np.asarray(slots, dtype=int), cols.shape)
    cost = history.blocks.cost[levels, cols].sum(axis=1)
    cold = history.blocks.cold[levels, cols].sum(axis=1)
    return np.asarray(cost, dtype=float), np.asarray(cold, dtype=float)


def _objective(history: History, lam_h: NDArray[np.float64]) -> NDArray[np.float64]:
    """Objective of each level a plan may choose (rows 0..max_choice) in each hour."""
    rows = slice(0, history.max_choice + 1)
    return np.asarray(history.tables.cost[rows] + lam_h[None, :] * history.tables.cold[rows], dtype=float)
