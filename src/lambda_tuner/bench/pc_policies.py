"""The five PC policies of the trace benchmark, each scored with the same per-minute model.

Every policy returns, per evaluated hour, the cost (USD) and cold starts it leads to; the objective is
cost + λ × cold starts. Levels are integers 0..max need of the day (more than the day's largest need
only adds cost).

- none: no PC.
- static: the level minimising the objective summed over the training hours, held fixed.
- oracle: for each evaluated hour, the level minimising that hour's objective, in hindsight. Exact,
  because the warm pool (largest need of the previous keep-alive minutes) depends on traffic only, so an
  hour's cold starts depend on that hour's level alone; the pool carried in from the previous hour is
  the same whatever PC did then.
- agent: `core.pc_blocks.plan_block_hours` at the start of each evaluated hour: a level per 5-minute
  block of the hour (one level when the hourly rule wins its backtest), from the tables of the hours
  before it only (the tables are causal, see `core.pc_model.level_tables`). Because it may change PC
  within an hour it can beat the one-level-per-hour oracle in some hours.
- target_tracking: Application Auto Scaling on PC utilisation, see `target_tracking_levels`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lambda_tuner.core.pc_blocks import BlockConfig, plan_block_hours
from lambda_tuner.core.pc_model import FloatArray, LevelTables, ModelParams, minute_costs, need, work
from lambda_tuner.core.pc_plan import idle_hour_cost
from lambda_tuner.core.pc_prices import PcPrices


@dataclass(frozen=True)
class HourScores:
    """cost[h], cold[h] over the evaluated hours, and the PC level in force (mean over the hour)."""

    cost: FloatArray
    cold: FloatArray
    level: FloatArray
    block_plan_hours: int = 0  # evaluated hours planned with more than one level (the agent only)

    def objective(self, lam: float) -> FloatArray:
        return self.cost + lam * self.cold


def from_levels(tables: LevelTables, levels: np.ndarray, hours: range) -> HourScores:
    cols = np.arange(hours.start, hours.stop)
    lv = np.asarray(levels, dtype=int)
    return HourScores(tables.cost[lv, cols], tables.cold[lv, cols], lv.astype(float))


def none_policy(tables: LevelTables, hours: range) -> HourScores:
    return from_levels(tables, np.zeros(len(hours), dtype=int), hours)


def static_policy(tables: LevelTables, lam: float, train: range, hours: range) -> HourScores:
    level = int(tables.objective(lam)[:, train.start : train.stop].sum(axis=1).argmin())
    return from_levels(tables, np.full(len(hours), level), hours)


def oracle_policy(tables: LevelTables, lam: float, hours: range) -> HourScores:
    levels = tables.objective(lam)[:, hours.start : hours.stop].argmin(axis=0)
    return from_levels(tables, levels, hours)


def agent_policy(
    blocks: LevelTables,
    active: np.ndarray,
    lam: float,
    hours: range,
    *,
    prices: PcPrices,
    params: ModelParams,
    config: BlockConfig | None = None,
) -> HourScores:
    """Scores of the block planner; `blocks` are the day's tables per `config.block_min` block."""
    config = config or BlockConfig()
    bph = config.blocks_per_hour
    idle = idle_hour_cost(blocks.max_level, prices, params)
    plans = plan_block_hours(blocks, active, lam, idle, hours, config=config)
    levels = np.array([p.levels for p in plans], dtype=int)  # hour × block
    cols = np.arange(hours.start * bph, hours.stop * bph).reshape(len(hours), bph)
    return HourScores(
        cost=blocks.cost[levels, cols].sum(axis=1),
        cold=blocks.cold[levels, cols].sum(axis=1),
        level=levels.mean(axis=1).astype(float),
        block_plan_hours=sum(not p.constant for p in plans),
    )


@dataclass(frozen=True)
class TargetTracking:
    """Target tracking on LambdaProvisionedConcurrencyUtilization, simulated minute by minute.

    utilisation_t = min(need_t, PC_t) / PC_t (the metric is concurrent executions on PC over PC).
    After minute t: if the mean utilisation of the last `out_window` minutes at the current level exceeds
    `target`, PC becomes ⌈PC × mean / target⌉; else if the mean of the last `in_window` minutes is below
    `in_ratio` × target, PC becomes max(minimum, ⌈PC × mean / target⌉). Only minutes since the last change
    count towards a window (the alarm needs that many fresh datapoints), and a new level is in force
    `delay_min` minutes after the decision (metric publication and allocation), i.e. from t + 1 + delay;
    while a change is in flight no other is decided. Levels are whole environments (⌈ ⌉).
    The policy runs from the first minute of the day at `minimum`; only evaluated hours are scored.
    """

    target: float = 0.7
    minimum: int = 1
    out_window: int = 3
    in_window: int = 15
    in_ratio: float = 0.9
    delay_min: int = 1
    min_mean_concurrency: float = 1.0  # applied only where training-hour mean concurrency reaches this

    def levels(self, needs: np.ndarray) -> np.ndarray:
        """PC per minute for each row of `needs` (functions × minutes), all functions at once."""
        n_fn, minutes = needs.shape
        pc = np.empty((n_fn, minutes))
        util = np.zeros((n_fn, minutes))
        level = np.full(n_fn, float(self.minimum))
        since = np.zeros(n_fn, dtype=int)  # minute the current level came into force
        pending = level.copy()
        pending_at = np.full(n_fn, -1)
        for t in range(minutes):
            arrive = pending_at == t
            level[arrive], since[arrive] = pending[arrive], t
            pc[:, t] = level
            util[:, t] = np.minimum(needs[:, t], level) / level
            decided = self._decide(util, t, since, level)
            changed = (decided != level) & (pending_at <= t)  # one change in flight at a time
            pending[changed] = decided[changed]
            pending_at[changed] = t + 1 + self.delay_min
        return pc

    def _decide(self, util: np.ndarray, t: int, since: np.ndarray, level: np.ndarray) -> np.ndarray:
        fresh = t + 1 - since
        m_out = util[:, max(0, t + 1 - self.out_window) : t + 1].mean(axis=1)
        m_in = util[:, max(0, t + 1 - self.in_window) : t + 1].mean(axis=1)
        out = (fresh >= self.out_window) & (m_out > self.target)
        scale_in = ~out & (fresh >= self.in_window) & (m_in < self.in_ratio * self.target)
        grown = np.ceil(level * m_out / self.target - 1e-9)
        shrunk = np.maximum(self.minimum, np.ceil(level * m_in / self.target - 1e-9))
        return np.where(out, grown, np.where(scale_in, shrunk, level))


def target_tracking_policy(
    counts: np.ndarray,
    mean_ms: np.ndarray,
    train: range,
    hours: range,
    *,
    prices: PcPrices,
    params: ModelParams,
    tt: TargetTracking | None = None,
) -> list[HourScores | None]:
    """Scores for every function (None where the policy is not applied: low mean concurrency)."""
    tt = tt or TargetTracking()
    out: list[HourScores | None] = [None] * len(counts)
    eligible = [
        i
        for i in range(len(counts))
        if work(counts[i], float(mean_ms[i]))[train.start * 60 : train.stop * 60].mean()
        >= tt.min_mean_concurrency
    ]
    if not eligible:
        return out
    needs = np.stack([need(counts[i], float(mean_ms[i])) for i in eligible])
    pcs = tt.levels(needs)
    sl = slice(hours.start * 60, hours.stop * 60)
    for row, i in enumerate(eligible):
        cost, cold = minute_costs(counts[i], float(mean_ms[i]), pcs[row], prices, params)
        out[i] = HourScores(
            cost=cost[sl].reshape(-1, 60).sum(axis=1),
            cold=cold[sl].reshape(-1, 60).sum(axis=1),
            level=pcs[row, sl].reshape(-1, 60).mean(axis=1),
        )
    return out
