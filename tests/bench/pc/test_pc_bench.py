"""The PC trace benchmark on a small generated triple: it runs, reports every figure, and is consistent."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from pc_bench_support import write_triple

from lambda_tuner.bench.pc import HOURLY, POLICIES, BenchConfig, load_arrays, run, score_policies
from lambda_tuner.bench.pc_cli import provisioned
from lambda_tuner.bench.pc_policies import TargetTracking
from lambda_tuner.core.pc_blocks import plan_blocks_from_counts
from lambda_tuner.core.pc_model import ModelParams
from lambda_tuner.core.pc_prices import pc_prices

SHARED_TRACE = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "azure-functions-2019"
SMALL = BenchConfig(keep_alive_sweep=(5, 10))


@pytest.fixture(scope="module")
def trace_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_triple(tmp_path_factory.mktemp("trace"), n_label="6")


@pytest.fixture(scope="module")
def result(trace_dir: Path) -> dict[str, object]:
    return run(trace_dir, SMALL)


def test_every_lambda_reports_every_policy_with_cost_cold_starts_objective_and_helped(result) -> None:
    assert [r["lambda_usd_per_cold_start"] for r in result["results"]] == [0.0, 0.001, 0.01, 0.05]
    for r in result["results"]:
        assert set(r["policies"]) == set(POLICIES)
        for figures in r["policies"].values():
            assert {"cost_usd", "cold_starts", "objective_usd", "functions_helped"} <= set(figures)
            lam = r["lambda_usd_per_cold_start"]
            assert figures["objective_usd"] == pytest.approx(
                figures["cost_usd"] + lam * figures["cold_starts"], abs=1e-4
            )


def test_the_agent_reports_how_many_hours_it_planned_more_than_one_level(result) -> None:
    at_005 = result["results"][-1]["policies"]
    assert at_005["agent"]["functions_with_block_plan"] >= 1  # the periodic function at least
    assert at_005["agent"]["block_plan_hours"] >= 8
    assert at_005["oracle"]["block_plan_hours"] == 0


def test_the_keep_alive_sweep_and_the_config_are_reported(result) -> None:
    assert [b["keep_alive_min"] for b in result["keep_alive_sweep"]] == [5, 10]
    config = result["config"]
    assert (config["functions"], config["train_hours"], config["evaluated_hours"]) == (6, 16, 8)
    assert "excluded" in config["request_fees"]
    json.dumps(result)  # the whole result is JSON as is


def test_a_longer_keep_alive_never_adds_cold_starts_without_pc(result) -> None:
    colds = [b["results"][0]["policies"]["none"]["cold_starts"] for b in result["keep_alive_sweep"]]
    assert colds[0] >= colds[1]


def test_the_oracle_is_at_most_every_hourly_policy_in_every_function_and_hour(trace_dir: Path) -> None:
    data = load_arrays(trace_dir)
    for lam, scores in score_policies(data, SMALL, 10).items():
        for name in HOURLY:
            for oracle, other in zip(scores["oracle"], scores[name], strict=True):
                assert np.all(oracle.objective(lam) <= other.objective(lam) + 1e-12), (lam, name)


def test_the_idle_function_never_gets_pc_from_any_policy(trace_dir: Path) -> None:
    scores = score_policies(load_arrays(trace_dir), SMALL, 10)[0.05]
    assert all(float(scores[name][3].level.sum()) == 0.0 for name in POLICIES)


def test_target_tracking_applies_only_where_mean_concurrency_reaches_one(trace_dir: Path) -> None:
    scores = score_policies(load_arrays(trace_dir), SMALL, 10)[0.0]
    applied = [i for i, s in enumerate(scores["target_tracking"]) if s.level.sum() > 0]
    assert applied == [0, 4]  # steady (~10 environments) and diurnal (~2); the others stay below one


def test_target_tracking_scales_out_after_three_hot_minutes_and_waits_for_the_new_level() -> None:
    levels = TargetTracking().levels(np.full((1, 10), 10.0))
    # Decision after minute 2 (three minutes at 100 %), in force from minute 4; the next one after
    # three fresh minutes at level 2 (4, 5, 6), in force from minute 8.
    assert levels[0].tolist() == [1, 1, 1, 1, 2, 2, 2, 2, 3, 3]


def test_target_tracking_scales_in_on_the_fifteen_minute_mean_down_to_the_minimum() -> None:
    needs = np.concatenate([np.full(60, 10.0), np.zeros(40)])[None, :]
    levels = TargetTracking().levels(needs)[0]
    # Under steady need 10 it settles where utilisation 10 / level is at most the 0.7 target.
    assert levels[59] == 15
    assert np.all(levels[60:62] == 15)  # a decision takes effect two minutes later
    assert np.all(np.diff(levels[60:]) <= 0)
    assert levels[-1] == 1


def test_the_cli_prints_a_table_and_writes_json_with_the_synthetic_section(trace_dir, tmp_path) -> None:
    out = tmp_path / "pc.json"
    args = ["--trace", str(trace_dir), "--json", str(out), "--synthetic-days", "2", "--keep-alive", "10"]
    res = CliRunner().invoke(provisioned, args)
    assert res.exit_code == 0, res.output
    assert "agent/oracle" in res.output
    data = json.loads(out.read_text())
    synth = data["synthetic_diurnal"]
    assert "SYNTHETIC" in synth["label"]
    assert set(synth["results"][0]["policies"]) == {"none", "static", "schedule", "agent", "oracle"}


def test_a_folder_without_a_triple_is_a_clear_error(tmp_path: Path) -> None:
    res = CliRunner().invoke(provisioned, ["--trace", str(tmp_path)])
    assert res.exit_code == 1
    assert "N_inv.csv" in res.output


def test_the_shared_trace_runs_unchanged() -> None:
    if not SHARED_TRACE.exists():
        pytest.skip(f"shared trace not found at {SHARED_TRACE}")
    result = run(SHARED_TRACE, BenchConfig(keep_alive_sweep=(10,)), limit=100)
    assert result["config"]["functions"] == 100
    assert all(r["oracle_lowest_every_hour"] for r in result["results"])


def test_the_benchmark_agent_decides_exactly_as_the_planner_given_only_the_past(trace_dir) -> None:
    # Given the benchmark's agent, which reads the past columns of whole-day tables for speed...
    data = load_arrays(trace_dir)
    lam = 0.05
    agent = score_policies(data, SMALL, 10)[lam]["agent"]
    params = ModelParams(keep_alive_min=10)
    for i in (1, 2, 4, 5):
        for k, h in enumerate(range(16, 24)):
            # ...when the planner is handed nothing but the counts before hour h...
            plan = plan_blocks_from_counts(data.counts[i, : h * 60], float(data.mean_ms[i]), lam,
                                           prices=pc_prices("x86_64"), params=params)
            # ...then it plans the same levels (the bench keeps their mean over the hour).
            assert np.mean(plan.levels) == pytest.approx(agent[i].level[k]), (i, h)


def test_a_function_called_at_the_same_minutes_every_hour_gets_pc_only_in_those_blocks(trace_dir) -> None:
    # Given the periodic function (5 calls of 2 s every 15 minutes: one environment, cold each time
    # after a 10-minute keep-alive), valued at $0.05 per cold start...
    scores = score_policies(load_arrays(trace_dir), SMALL, 10)[0.05]
    agent, oracle = scores["agent"][5], scores["oracle"][5]
    # ...the agent holds one environment in the 4 blocks with calls (a third of the hour)...
    assert agent.level.tolist() == pytest.approx([4 / 12] * 8)
    assert agent.block_plan_hours == 8
    # ...so it beats the hindsight oracle, which can only hold one level for the whole hour.
    assert np.all(agent.objective(0.05) < oracle.objective(0.05))
    assert agent.cold.sum() == 0
