"""The planner: a level for the next hour and a level per hour of the day, from the past only."""

from __future__ import annotations

import numpy as np
import pytest

from lambda_tuner.core.pc_model import LevelTables, ModelParams, level_tables
from lambda_tuner.core.pc_plan import idle_hour_cost, plan_day, plan_hour
from lambda_tuner.core.pc_prices import pc_prices

X86 = pc_prices("x86_64")
PARAMS = ModelParams()


def tables_for(calls: np.ndarray, mean_ms: float) -> tuple[LevelTables, np.ndarray, np.ndarray]:
    tables = level_tables(calls, mean_ms, X86, PARAMS)
    active = calls.reshape(-1, 60).sum(axis=1) > 0
    return tables, active, idle_hour_cost(tables.max_level, X86, PARAMS)


def test_a_function_never_called_gets_no_pc() -> None:
    tables, active, idle = tables_for(np.zeros(360), 100.0)
    assert plan_hour(tables, active, 0.05, idle).level == 0


def test_steady_full_utilisation_gets_pc_on_cost_alone() -> None:
    # Given 8 environments busy every minute for 6 hours: PC at 100 % utilisation is cheaper.
    tables, active, idle = tables_for(np.full(360, 8 * 600.0), 100.0)
    plan = plan_hour(tables, active, 0.0, idle)
    assert plan.level == 8
    assert plan.p_active > 0.9


def test_hours_after_a_burst_went_quiet_make_the_planner_stop_paying_for_it() -> None:
    # Given a burst of 20 cold environments in hour 0, then two silent hours.
    calls = np.zeros(180)
    calls[30] = 20 * 2  # 40 calls of 30 s: 20 environments for one minute
    tables, active, idle = tables_for(calls, 30_000.0)
    lam = 0.05
    # Over the whole history one PC level would have paid (20 × $0.05 of cold starts saved)...
    assert int(tables.objective(lam).sum(axis=1).argmin()) > 0
    # ...but after two idle hours the next one is more likely idle too.
    plan = plan_hour(tables, active, lam, idle)
    assert plan.level == 0
    assert plan.p_active < 0.5


def test_the_daily_plan_gives_pc_only_to_the_hours_that_need_it() -> None:
    # Given two days with 6 busy environments 09:00–17:00 and silence otherwise.
    day = np.zeros(1440)
    day[9 * 60 : 17 * 60] = 6 * 600.0
    tables, active, idle = tables_for(np.tile(day, 2), 100.0)
    schedule = plan_day(tables, active, 0.0, idle)
    assert len(schedule) == 24
    assert all(schedule[h] == 6 for h in range(9, 17))
    assert all(schedule[h] == 0 for h in (*range(9), *range(17, 24)))


def test_inconsistent_or_negative_inputs_are_refused() -> None:
    tables, active, idle = tables_for(np.ones(120), 100.0)
    with pytest.raises(ValueError, match="hours"):
        plan_hour(tables, active[:1], 0.0, idle)
    with pytest.raises(ValueError, match="negative"):
        plan_hour(tables, active, -1.0, idle)
