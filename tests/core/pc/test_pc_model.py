"""The scored PC model on traces small enough to count by hand."""

from __future__ import annotations

import numpy as np
import pytest

from lambda_tuner.core.pc_model import (
    ModelParams,
    level_tables,
    minute_costs,
    need,
    series_tables,
    warm_pool,
)
from lambda_tuner.core.pc_prices import pc_prices

X86 = pc_prices("x86_64")
# x86_64 list prices per GB-second (pricing.md), used to compute expectations by hand.
PC_ALLOC, PC_DURATION, ON_DEMAND = 0.0000041667, 0.0000097222, 0.0000166667


def test_need_is_work_rounded_up_and_zero_without_calls() -> None:
    # 120 calls of 500 ms in a minute keep exactly one environment busy; 121 need a second.
    assert need(np.array([0.0, 120.0, 121.0]), 500.0).tolist() == [0.0, 1.0, 2.0]


def test_warm_pool_is_the_largest_need_of_the_previous_keep_alive_minutes() -> None:
    needs = np.array([2, 0, 0, 3, 1, 0, 0, 0, 0, 4], dtype=float)
    assert warm_pool(needs, 2).tolist() == [0, 2, 2, 0, 3, 3, 1, 0, 0, 0]


def test_cold_starts_are_need_above_both_the_warm_pool_and_pc() -> None:
    # Given one-minute calls (mean 60 s), need equals calls; keep-alive 2 minutes.
    calls = np.array([2, 0, 0, 3, 1, 0, 0, 0, 0, 4], dtype=float)
    params = ModelParams(keep_alive_min=2)
    # When no PC: cold at minutes 0 (2), 3 (3: the pool of 2 expired), 9 (4).
    _, cold = minute_costs(calls, 60_000.0, np.zeros(10), X86, params)
    assert cold.tolist() == [2, 0, 0, 3, 0, 0, 0, 0, 0, 4]
    # When PC = 2: only the need above 2 starts cold.
    _, cold = minute_costs(calls, 60_000.0, np.full(10, 2.0), X86, params)
    assert cold.tolist() == [0, 0, 0, 1, 0, 0, 0, 0, 0, 2]


def test_pc_serves_its_share_of_the_work_and_spillover_pays_on_demand() -> None:
    # Given 150 calls of 1 s in one minute: work 2.5 environments, need 3; PC = 2, nothing warm.
    cost, cold = minute_costs(np.array([150.0]), 1000.0, np.array([2.0]), X86, ModelParams(keep_alive_min=0))
    expected = (
        2 * 60 * PC_ALLOC  # two PC environments allocated for the minute
        + 2 * 60 * PC_DURATION  # 2 of the 2.5 environment-minutes served by PC
        + 0.5 * 60 * ON_DEMAND  # the other 0.5 spill over to on-demand
        + 1 * 0.5 * ON_DEMAND  # the third environment starts cold: 0.5 s INIT
    )
    assert cold.tolist() == [1.0]
    assert cost[0] == pytest.approx(expected, rel=1e-9)


def test_cost_scales_with_memory() -> None:
    calls, pc = np.array([150.0]), np.array([2.0])
    full, _ = minute_costs(calls, 1000.0, pc, X86, ModelParams(memory_mb=1024, keep_alive_min=0))
    half, _ = minute_costs(calls, 1000.0, pc, X86, ModelParams(memory_mb=512, keep_alive_min=0))
    assert half[0] == pytest.approx(full[0] / 2)


def test_level_tables_equal_the_minute_model_for_every_constant_level() -> None:
    rng = np.random.default_rng(3)
    calls = rng.poisson(2.0, 180).astype(float) * (rng.random(180) < 0.3)
    params = ModelParams()
    tables = level_tables(calls, 20_000.0, X86, params)
    for level in range(tables.max_level + 1):
        cost, cold = minute_costs(calls, 20_000.0, np.full(180, float(level)), X86, params)
        assert np.allclose(tables.cost[level], cost.reshape(3, 60).sum(axis=1))
        assert np.allclose(tables.cold[level], cold.reshape(3, 60).sum(axis=1))


def test_tables_of_a_prefix_are_the_first_columns_of_the_whole_so_planning_cannot_peek() -> None:
    rng = np.random.default_rng(5)
    calls = rng.poisson(1.0, 240).astype(float)
    whole = level_tables(calls, 30_000.0, X86, ModelParams(), max_level=4)
    prefix = level_tables(calls[:120], 30_000.0, X86, ModelParams(), max_level=4)
    assert np.array_equal(prefix.cost, whole.cost[:, :2])
    assert np.array_equal(prefix.cold, whole.cold[:, :2])


def test_five_minute_periods_round_the_keep_alive_to_whole_periods() -> None:
    # Need 1 in period 0, again in period 3 (15 min later): cold again with a 10-minute keep-alive.
    n = np.array([1, 0, 0, 1, 0, 0], dtype=float)
    tables = series_tables(n * 0.1, n, X86, ModelParams(), period_s=300, block_periods=6)
    assert tables.cold[0].tolist() == [2.0]
    # PC allocation for 30 minutes at level 1.
    assert tables.cost[1, 0] == pytest.approx(1800 * PC_ALLOC + 0.2 * 300 * PC_DURATION, rel=1e-9)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        need(np.array([1.0]), 0.0)
    with pytest.raises(ValueError, match="negative"):
        need(np.array([-1.0]), 10.0)
    with pytest.raises(ValueError, match="whole number"):
        level_tables(np.ones(90), 100.0, X86, ModelParams())
