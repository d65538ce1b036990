"""The block planner: a PC level per 5-minute block of the coming hour, the rule chosen by a backtest."""

from __future__ import annotations

import numpy as np
import pytest

from lambda_tuner.core.pc_blocks import (
    BlockConfig,
    hourly_tables,
    plan_block_hours,
    plan_blocks_from_counts,
    slot_levels,
)
from lambda_tuner.core.pc_model import LevelTables, ModelParams, level_tables, need
from lambda_tuner.core.pc_plan import idle_hour_cost
from lambda_tuner.core.pc_prices import pc_prices

X86 = pc_prices("x86_64")
PARAMS = ModelParams()
HOURS = 12


def hourly_burst(hours: int = HOURS, minute: int = 0, calls: float = 40.0) -> np.ndarray:
    """`calls` calls of 30 s at `minute` of every hour: 20 environments for one minute, cold each time."""
    counts = np.zeros(hours * 60)
    counts[minute::60] = calls
    return counts


def plan(counts: np.ndarray, lam: float, mean_ms: float = 30_000.0):
    return plan_blocks_from_counts(counts, mean_ms, lam, prices=X86, params=PARAMS)


def test_hour_tables_are_the_sums_of_their_blocks() -> None:
    counts = np.random.default_rng(1).poisson(30, 6 * 60).astype(float)
    blocks = level_tables(counts, 900.0, X86, PARAMS, block_min=5)
    hours = level_tables(counts, 900.0, X86, PARAMS)
    summed = hourly_tables(blocks, 12)
    np.testing.assert_allclose(summed.cost, hours.cost)
    np.testing.assert_allclose(summed.cold, hours.cold)


def test_an_hourly_burst_at_the_top_of_the_hour_gets_pc_in_the_first_block_only() -> None:
    # Given 20 environments needed at :00 every hour for 12 hours, valued at $0.05 a cold start...
    result = plan(hourly_burst(), 0.05)
    # ...then the coming hour holds 20 in :00–:05 and nothing after, the rule having won its backtest.
    assert result.levels == (20,) + (0,) * 11
    assert result.rule in {"slot", "hourly+slot"}
    assert result.backtest_usd[1] < result.backtest_usd[0]


def test_the_slot_rule_follows_the_burst_minute() -> None:
    counts = hourly_burst(minute=47)
    blocks = level_tables(counts, 30_000.0, X86, PARAMS, block_min=5)
    assert slot_levels(blocks, 0.05, 12).tolist() == [0] * 9 + [20, 0, 0]


def test_steady_traffic_keeps_one_level_because_ties_go_to_the_hourly_rule() -> None:
    # Given 8 environments busy every minute: every rule proposes 8 in every block.
    result = plan(np.full(HOURS * 60, 8 * 600.0), 0.0, mean_ms=100.0)
    assert result.rule == "hourly"
    assert result.levels == (8,) * 12
    assert result.constant


def test_bursts_at_a_different_minute_each_hour_get_the_hourly_level() -> None:
    # Given one 20-environment burst per hour at a random minute: past blocks do not predict the next.
    rng = np.random.default_rng(5)
    counts = np.zeros(24 * 60)
    counts[np.arange(24) * 60 + rng.integers(0, 60, 24)] = 40.0
    result = plan(counts, 0.05)
    # Then the backtest prefers one level for the hour over PC in the blocks that happened to burst.
    assert result.rule == "hourly"
    assert result.constant


def test_planning_a_range_equals_planning_each_hour_from_its_own_past() -> None:
    rng = np.random.default_rng(9)
    counts = hourly_burst(hours=20) + rng.poisson(2, 20 * 60) * (rng.random(20 * 60) < 0.2)
    mean_ms, lam = 30_000.0, 0.01
    top = int(need(counts, mean_ms).max())
    blocks = level_tables(counts, mean_ms, X86, PARAMS, block_min=5, max_level=top)
    active = counts.reshape(-1, 60).sum(axis=1) > 0
    idle = idle_hour_cost(top, X86, PARAMS)
    together = plan_block_hours(blocks, active, lam, idle, range(10, 20))
    for h, p in zip(range(10, 20), together, strict=True):
        alone = plan_block_hours(blocks, active, lam, idle, range(h, h + 1))[0]
        cut = plan_blocks_from_counts(counts[: h * 60], mean_ms, lam, prices=X86, params=PARAMS)
        assert p.levels == alone.levels == cut.levels, h


def test_the_first_hour_has_no_past_and_no_pc() -> None:
    assert plan(np.zeros(0), 0.05).levels == (0,) * 12


def test_the_second_hour_has_nothing_to_replay_and_takes_the_hourly_rule() -> None:
    result = plan(hourly_burst(hours=1), 0.05)
    assert result.rule == "hourly"
    assert result.backtest_usd == (0.0, 0.0, 0.0)


@pytest.mark.parametrize("kwargs", [{"block_min": 7}, {"block_min": 0}, {"backtest_hours": 0}])
def test_a_block_that_does_not_divide_the_hour_or_an_empty_backtest_is_refused(kwargs) -> None:
    with pytest.raises(ValueError, match="block_min"):
        BlockConfig(**kwargs)


def test_planning_past_the_end_of_the_history_is_refused() -> None:
    blocks = level_tables(hourly_burst(hours=3), 30_000.0, X86, PARAMS, block_min=5)
    idle = idle_hour_cost(blocks.max_level, X86, PARAMS)
    with pytest.raises(ValueError, match="needs 5 hours of history"):
        plan_block_hours(blocks, np.ones(3, dtype=bool), 0.05, idle, range(5, 6))


def test_counts_that_are_not_whole_hours_are_refused() -> None:
    with pytest.raises(ValueError, match="whole number of hours"):
        plan(np.zeros(90), 0.0)


def two_level_tables(level1_cost: np.ndarray) -> LevelTables:
    """Level 0 costs nothing; level 1 costs `level1_cost[hour, block]` (no cold starts either way)."""
    hours = level1_cost.shape[0]
    cost = np.stack([np.zeros(hours * 12), level1_cost.reshape(-1)])
    return LevelTables(cost=cost, cold=np.zeros_like(cost))


def test_a_block_rule_that_won_its_backtest_by_one_lucky_hour_is_not_used() -> None:
    # Given level 1 paying off in block 0 in hours 0..2 only, costing a little there afterwards,
    # and costing a lot in every other block (so the hourly rule never holds level 1)...
    costs = np.full((10, 12), 1.0)
    costs[:3, 0] = -1.0
    costs[3:, 0] = 0.001
    tables = two_level_tables(costs)
    active = np.ones(10, dtype=bool)
    # ...when hour 10 is planned from a replay of hours 2..9, each from the hours before it...
    plan = plan_block_hours(tables, active, 0.0, np.zeros(2), range(10, 11), config=BlockConfig())[0]
    # ...the slot rule (level 1 in block 0) has the lower replayed total, thanks to hour 2 alone...
    assert plan.backtest_usd[1] < plan.backtest_usd[0]
    # ...and a gain from a single hour never exceeds its standard error, so the hourly rule plans.
    assert plan.rule == "hourly"
    assert plan.levels == (0,) * 12


def test_a_block_rule_that_won_every_replayed_hour_is_used() -> None:
    costs = np.full((10, 12), 1.0)
    costs[:, 0] = -1.0
    tables, active = two_level_tables(costs), np.ones(10, dtype=bool)
    plan = plan_block_hours(tables, active, 0.0, np.zeros(2), range(10, 11))[0]
    assert plan.rule == "slot"
    assert plan.levels == (1,) + (0,) * 11
