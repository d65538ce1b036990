"""The memory benchmark runs on curve files it has never seen and reports sane figures.

These tests check that it runs and what it reports; the regret targets are benchmark figures, not tests.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from lambda_tuner.bench import memory as bench_memory
from lambda_tuner.bench.memory import run_bench, run_loop
from lambda_tuner.bench.memory_cli import memory
from lambda_tuner.bench.memory_curvegen import SHAPES, generate_curves, generator_shapes
from lambda_tuner.bench.memory_oracle import (
    allowance_sds,
    cautious,
    exact_grid,
    ground,
    power_tuning_sizes,
    violations,
)
from lambda_tuner.bench.memory_sim import make_truth, pick_traffic, simulate_canary_day, simulate_day
from lambda_tuner.cli.main import main
from lambda_tuner.core.models import FunctionConfig, Observations, Recommendation
from lambda_tuner.core.optimizer import MemoryPolicy, decide_memory
from lambda_tuner.core.pricing import default_prices
from lambda_tuner.twin.curves import Curve, load_curves

SHARED_CURVES = (
    Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "lambda-curves" / "curves.csv"
)
STRATEGY_FIELDS = {
    "regret_median",
    "regret_p90",
    "regret_max",
    "exploration_steps_max",
    "guard_violations",
    "calibration",
    "calibration_n",
    "interval_width_median",
    "exploration_overspend_usd",
    "experiment_guard_stops",
}


@pytest.fixture
def unseen(tmp_path: Path) -> Path:
    return generate_curves(tmp_path / "unseen.csv", n_curves=5, seed=11)


def test_the_generator_writes_every_shape_in_the_curve_format_with_optional_columns(tmp_path: Path):
    with_columns = load_curves(generate_curves(tmp_path / "a.csv", n_curves=10, seed=3, samples=5))
    without = load_curves(generate_curves(tmp_path / "b.csv", n_curves=5, seed=4, memory_columns=False))
    assert {c.function_id.split("_")[1] for c in with_columns} == set(SHAPES)
    assert all(c.max_memory_used_mb is not None and c.init_duration_ms is not None for c in with_columns)
    assert all(len(c.samples[c.sizes[0]]) == 5 for c in with_columns)
    assert all(c.max_memory_used_mb is None and c.init_duration_ms is None for c in without)


def test_the_generator_hands_out_the_exact_law_behind_every_curve_it_writes(tmp_path: Path):
    path = generate_curves(tmp_path / "g.csv", n_curves=5, seed=5, samples=1)
    laws = generator_shapes(n_curves=5, seed=5, samples=1)
    for curve in load_curves(path):
        sizes = np.array(curve.sizes, dtype=float)
        # the file's rows are the law at its sizes, to the 3 decimals written
        assert laws[curve.function_id].duration(sizes) == pytest.approx(curve.means, abs=1e-3)


def test_centred_samples_average_to_the_law_with_the_same_spread(tmp_path: Path):
    # Given the same generator seed with five samples a size, as drawn and centred on the law
    laws = generator_shapes(n_curves=10, seed=2026, samples=5)
    drawn = {c.function_id: c for c in load_curves(generate_curves(tmp_path / "d.csv", seed=2026, samples=5))}
    centred = load_curves(
        generate_curves(tmp_path / "c.csv", seed=2026, samples=5, centred=True), interpolation="power"
    )
    worst_drawn = 0.0
    for curve in centred:
        law = laws[curve.function_id].duration(np.array(curve.sizes, dtype=float))
        # Then every size's mean is the law (to the 3 decimals written) ...
        assert np.array(curve.means) == pytest.approx(law, rel=1e-6)
        other = drawn[curve.function_id]
        worst_drawn = max(worst_drawn, float(np.max(np.abs(np.array(other.means) / law - 1))))
        for size in curve.sizes:
            # ... and its samples keep the drawn ones' relative spread
            mine, theirs = np.array(curve.samples[size]), np.array(other.samples[size])
            assert mine / mine.mean() == pytest.approx(theirs / theirs.mean(), rel=1e-5)
    # while the drawn file's means stray from the law by their sampling error
    assert worst_drawn > 0.05


def test_bench_curves_writes_the_generators_file(tmp_path: Path):
    out = tmp_path / "cli.csv"
    result = CliRunner().invoke(
        main, ["bench", "curves", str(out), "--seed", "7", "--count", "5", "--centred"]
    )
    assert result.exit_code == 0, result.output
    assert (
        out.read_bytes()
        == generate_curves(tmp_path / "py.csv", n_curves=5, seed=7, centred=True).read_bytes()
    )
    refused = CliRunner().invoke(main, ["bench", "curves", str(out), "--seed", "7", "--samples", "0"])
    assert refused.exit_code == 2 and "--samples" in refused.output


def test_the_power_law_truth_finds_the_generators_cheapest_size_where_pchip_may_not(tmp_path: Path):
    # Given one-sample files of every shape (no sampling noise: only the interpolation differs from
    # the law that generated them), the duration part of the cost at 1 MB over each curve's range
    worst = {"power": 0.0, "pchip": 0.0}
    for seed in (2026, 7, 8):
        path = generate_curves(tmp_path / f"g{seed}.csv", n_curves=10, seed=seed, samples=1)
        laws = generator_shapes(n_curves=10, seed=seed, samples=1)
        for interpolation in ("power", "pchip"):
            for curve in load_curves(path, interpolation=interpolation):
                m = np.arange(curve.sizes[0], curve.sizes[-1] + 1, dtype=float)
                law_cost = m * (laws[curve.function_id].duration(m) + 0.5)
                pick = int(np.argmin(m * (curve.duration(m) + 0.5)))
                regret = float(law_cost[pick] / law_cost.min() - 1)
                worst[interpolation] = max(worst[interpolation], regret)
    # Then the cheapest size on the power-law truth costs, on the generator's own law, within 0.1 % of
    # the law's cheapest; PCHIP's bows put it where the law is dearer by more than 1 % on some curve
    assert worst["power"] < 1e-3
    assert worst["pchip"] > 1e-2


def test_a_simulated_day_is_noisy_metrics_never_the_truth(unseen: Path):
    truth = make_truth(load_curves(unseen)[0])
    rng = np.random.default_rng(1)
    traffic = pick_traffic(None, 0, rng)
    size = truth.bounds[0]
    day = simulate_day(
        truth,
        size,
        traffic.day(rng),
        start=datetime(2026, 1, 1, tzinfo=UTC),
        prices=default_prices(),
        rng=rng,
    )
    e = day.epoch
    true_mean = float(truth.mean(size))
    assert e.duration_avg_ms != true_mean
    assert e.duration_avg_ms == pytest.approx(true_mean, rel=0.25)
    assert e.duration_p50_ms <= e.duration_p95_ms <= e.duration_p99_ms <= e.duration_max_ms
    assert e.invocations > 0 and e.periods > 1 and e.duration_avg_spread_ms is not None
    assert e.reports is not None and e.reports.max_memory_used_mb_max <= size


def test_the_oracle_is_the_cheapest_allowed_size_and_guards_are_judged_on_truth(unseen: Path):
    truth = make_truth(load_curves(unseen)[2])  # an I/O-bound shape: cheaper when smaller
    policy = MemoryPolicy(strategy="cost")
    g = ground(truth, "cost", policy, start_mb=truth.bounds[1], cold_rate=0.01, prices=default_prices())
    allowed_costs = g.cost[g.allowed]
    assert g.cost[g.at(g.oracle_mb)] == allowed_costs.min()
    assert g.regret(g.oracle_mb) == 0.0
    hi = truth.bounds[1]
    assert violations(truth, g, policy, strategy="cost", start_mb=hi, memory_mb=hi + 1) == ["outside bounds"]


def _best_of(curve: Curve, sizes: list[int] | None) -> float:
    """`exact_grid` on `sizes` (None: its default, Power Tuning's sizes within the bounds) for one curve
    under `cost`; asserts the size chosen is among them and no allowed one of them is cheaper on the
    truth, and returns its regret."""
    truth = make_truth(curve)
    policy = MemoryPolicy(strategy="cost")
    g = ground(truth, "cost", policy, start_mb=truth.bounds[0], cold_rate=0.0, prices=default_prices())
    chosen = exact_grid(truth, g, sizes)
    grid = sizes if sizes is not None else power_tuning_sizes(truth)
    assert chosen in grid
    # Then no other of these sizes the oracle's constraints allow is cheaper on the truth.
    allowed = [s for s in grid if g.allowed[g.at(s)]]
    assert all(g.cost[g.at(chosen)] <= g.cost[g.at(s)] for s in allowed)
    return g.regret(chosen)


def test_the_exact_grid_bound_is_the_best_power_tuning_size_on_the_true_curve(unseen: Path):
    for curve in load_curves(unseen):
        assert _best_of(curve, None) >= 0.0


def test_the_file_sizes_bound_is_the_oracle_under_a_power_law_and_may_miss_it_under_pchip(unseen: Path):
    power = [_best_of(curve, list(curve.sizes)) for curve in load_curves(unseen)]
    pchip = [_best_of(curve, list(curve.sizes)) for curve in load_curves(unseen, interpolation="pchip")]
    # Then knowing every measured size exactly is never better than the oracle; with a power law
    # between sizes the oracle is a measured size (to the 0.5 ms that billing adds), while PCHIP puts
    # it between measured sizes on some curve of the file
    assert min(power) >= 0.0 and max(power) < 1e-3
    assert min(pchip) >= 0.0 and max(pchip) > 2e-3


def test_the_allowance_bound_gives_up_cost_as_the_measurement_gets_noisier(unseen: Path):
    # Given an I/O-bound curve under `default`, started at its largest size (cheaper when smaller)
    truth = make_truth(load_curves(unseen)[2])
    policy = MemoryPolicy(strategy="default")
    start = truth.bounds[1]
    g = ground(truth, "default", policy, start_mb=start, cold_rate=0.0, prices=default_prices())
    # When nothing is uncertain, the bound is the oracle
    assert cautious(truth, g, policy, start_mb=start, rel_sd=0.0) == g.oracle_mb
    # When the p99 ratio is measured with noise, the bound keeps its true p99 inside the allowance by
    # z * sd (or stays) and costs at least as much as with less noise
    regrets = []
    for sd in (0.0, 0.01, 0.03, 0.05):
        size = cautious(truth, g, policy, start_mb=start, rel_sd=sd)
        limit = (1 + policy.p99_allowance) * float(truth.p99(start)) * np.exp(-2.05 * sd)
        assert size == start or g.p99[g.at(size)] <= limit * 1.0001
        regrets.append(g.regret(size))
    assert regrets == sorted(regrets) and regrets[-1] > 0.0
    sds = allowance_sds(truth)
    assert 0.0 < sds["same_day"] < sds["day"]


def test_the_bench_runs_on_unseen_curves_and_reports_every_field(unseen: Path):
    result = run_bench(unseen, starts=(256, 2048), cycles=2, seed=5, strategies=("default", "cost"))
    summary = result["summary"]
    for strategy in ("default", "cost"):
        row = summary[strategy]
        assert set(row) >= STRATEGY_FIELDS
        assert (
            0.0 <= row["regret_median"] <= row["regret_p90"] <= row["regret_max"] or row["guard_violations"]
        )
        assert 0 <= row["exploration_steps_max"] <= 2
        assert row["calibration"] is None or 0.0 <= row["calibration"] <= 1.0
        assert row["calibration_n"] >= 0
    bounds = ("bound_exact_grid", "bound_file_sizes", "bound_allowance_day", "bound_allowance_same_day")
    for baseline in ("fixed", "power_tuning", "compute_optimizer", *bounds):
        assert {"regret_median", "regret_p90", "regret_max", "guard_violations", "by_strategy"} <= set(
            summary[baseline]
        )
        assert set(summary[baseline]["by_strategy"]) == {"default", "cost"}
    assert summary["power_tuning"]["tuning_cost_usd"] > 0
    # The allowance bounds bind only `default`: under `cost` they are the oracle
    for name in bounds[2:]:
        assert summary[name]["by_strategy"]["cost"]["regret_max"] == 0.0
        assert summary[name]["regret_max"] == summary[name]["by_strategy"]["default"]["regret_max"]
    assert len(result["per_curve"]) == 5 * 2 * 2
    for run in result["per_curve"]:
        lo_hi = next(c.bounds for c in load_curves(unseen) if c.function_id == run["curve"])
        assert all(lo_hi[0] <= s <= lo_hi[1] for s in run["sizes"])
        assert len(run["sizes"]) == 3  # start, two cycles' decisions
    assert result["config"]["cycles"] == 2 and result["config"]["starts"] == [256, 2048]


def test_the_command_writes_json_and_prints_a_table(unseen: Path, tmp_path: Path):
    out = tmp_path / "out" / "memory.json"
    res = CliRunner().invoke(
        memory,
        [
            "--curves",
            str(unseen),
            "--starts",
            "512",
            "--cycles",
            "1",
            "--strategies",
            "cost",
            "--seed",
            "3",
            "--json",
            str(out),
            "--no-trace",
        ],
    )
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    assert data["config"]["seed"] == 3 and "cost" in data["summary"]
    assert "Memory regret" in res.output


def test_the_command_refuses_a_folder_without_a_trace(unseen: Path, tmp_path: Path):
    res = CliRunner().invoke(
        memory, ["--curves", str(unseen), "--trace", str(tmp_path), "--json", str(tmp_path / "x.json")]
    )
    assert res.exit_code != 0
    assert "no N_inv.csv" in res.output


def test_the_command_refuses_an_unknown_strategy(unseen: Path, tmp_path: Path):
    res = CliRunner().invoke(
        memory, ["--curves", str(unseen), "--strategies", "fastest", "--json", str(tmp_path / "x.json")]
    )
    assert res.exit_code != 0
    assert "unknown strategies" in res.output


@pytest.mark.skipif(not SHARED_CURVES.exists(), reason="../shared/data/lambda-curves/curves.csv is absent")
def test_the_bench_runs_on_the_shared_curves():
    result = run_bench(SHARED_CURVES.resolve(), starts=(512,), cycles=2, seed=1, strategies=("cost",))
    assert {r["curve"] for r in result["per_curve"]} == {c.function_id for c in load_curves(SHARED_CURVES)}


def test_a_run_sees_the_same_days_whichever_other_runs_the_bench_makes():
    # Each run draws from its own stream: a variant or a subset of strategies is compared with common
    # random numbers, run for run, not through whatever the runs before it happened to consume.
    both = run_bench(
        SHARED_CURVES.resolve(), starts=(512, 1024), cycles=3, seed=3, strategies=("default", "cost")
    )
    alone = run_bench(SHARED_CURVES.resolve(), starts=(512, 1024), cycles=3, seed=3, strategies=("cost",))
    other_seed = run_bench(
        SHARED_CURVES.resolve(), starts=(512, 1024), cycles=3, seed=4, strategies=("cost",)
    )

    def cost_runs(result: dict[str, Any]) -> list[tuple[str, int, list[int], float]]:
        return [
            (r["curve"], r["start_mb"], r["sizes"], r["regret"])
            for r in result["per_curve"]
            if r["strategy"] == "cost"
        ]

    assert cost_runs(both) == cost_runs(alone)
    assert cost_runs(alone) != cost_runs(other_seed)


def test_the_baselines_figures_do_not_depend_on_what_the_agents_runs_drew(unseen: Path):
    # The same curves and seed with canaries and with all-traffic trials: the agent's runs differ (and
    # draw differently), the peers' baselines must not
    canary = run_bench(unseen, starts=(512,), cycles=3, seed=3, strategies=("cost",))
    plain = run_bench(unseen, starts=(512,), cycles=3, seed=3, strategies=("cost",), canary_weight=None)
    assert [r["sizes"] for r in canary["per_curve"]] != [r["sizes"] for r in plain["per_curve"]]
    for name in ("power_tuning", "compute_optimizer", "fixed"):
        assert canary["summary"][name] == plain["summary"][name]


class AlwaysTrialHalf:
    """Stands in for the agent: always asks to try half the memory, stopped when the day's p99 is above
    `stop` (0: any day is); with `canary_weight`, as a canary behind an alias. Remembers what it saw."""

    def __init__(self, *, stop: float = 0.0, canary_weight: float | None = None) -> None:
        self.stop, self.canary_weight = stop, canary_weight
        self.seen_at: list[int] = []
        self.epochs_seen: list[list[tuple[int, datetime, int]]] = []

    def __call__(
        self, fn: FunctionConfig, obs: Observations, *args: object, **kwargs: object
    ) -> Recommendation:
        self.seen_at.append(fn.memory_mb)
        self.epochs_seen.append([(e.memory_mb, e.start, e.invocations) for e in obs.epochs])
        rec = decide_memory(fn, obs, *args, **kwargs)  # type: ignore[arg-type]
        proposed: dict[str, int | float | str | None] = {
            "memory_mb": fn.memory_mb // 2,
            "stop_if_p99_ms_above": self.stop,
            "best_guess_mb": fn.memory_mb,
        }
        if self.canary_weight is not None:
            proposed["canary_weight"] = self.canary_weight
        return rec.model_copy(update={"kind": "experiment", "proposed": proposed})


def test_an_experiment_its_p99_guard_stops_is_rolled_back_and_not_a_violation(
    unseen: Path, monkeypatch: pytest.MonkeyPatch
):
    # Given an agent that keeps trying half its memory with a guard every day trips
    agent = AlwaysTrialHalf()
    monkeypatch.setattr(bench_memory, "decide_memory", agent)
    truth = make_truth(load_curves(unseen)[0])
    rng = np.random.default_rng(3)
    start = truth.bounds[1]
    # When the loop runs three days
    run, _ = run_loop(
        truth, pick_traffic(None, 0, rng), start_mb=start, strategy="default", cycles=3,
        prices=default_prices(), rng=rng,
    )  # fmt: skip
    # Then each trial ran one day at half the size, its guard restored the size before the next decision
    assert run.sizes == [start, start // 2, start // 2, start // 2]
    assert agent.seen_at == [start, start, start]
    assert run.guard_stops == 3 and run.violations == []


def test_a_canary_runs_beside_the_size_in_force_the_same_day_on_its_share_of_the_calls(
    unseen: Path, monkeypatch: pytest.MonkeyPatch
):
    # Given an agent behind an alias that asks for a canary at half its memory every day
    agent = AlwaysTrialHalf(stop=1e12, canary_weight=0.1)
    monkeypatch.setattr(bench_memory, "decide_memory", agent)
    truth = make_truth(load_curves(unseen)[0])
    rng = np.random.default_rng(3)
    start = truth.bounds[1]
    run, _ = run_loop(
        truth, pick_traffic(None, 0, rng), start_mb=start, strategy="cost", cycles=3,
        prices=default_prices(), rng=rng, canary_weight=0.1,
    )  # fmt: skip
    # Then the size in force never changes, and each canary day gave the next decision two epochs
    # over the same window, the canary's with about a tenth of the calls
    assert run.sizes == [start] * 4 and agent.seen_at == [start] * 3
    epochs = agent.epochs_seen[-1]
    day = [e for e in epochs if e[1] == epochs[-1][1]]
    (main, tried) = sorted(day, key=lambda e: -e[2])
    assert main[0] == start and tried[0] == start // 2
    assert 0.07 < tried[2] / (main[2] + tried[2]) < 0.13
    assert run.exploration_steps == 3 and run.guard_stops == 0


def test_a_canary_day_shares_its_drift_so_the_ratio_of_the_two_sizes_is_steadier_than_across_days(
    unseen: Path,
):
    truth = make_truth(load_curves(unseen)[0])
    lo, hi = truth.bounds
    true_ratio = float(truth.mean(lo) / truth.mean(hi))
    rng = np.random.default_rng(5)
    traffic = pick_traffic(None, 0, rng)
    when, prices = datetime(2026, 1, 1, tzinfo=UTC), default_prices()
    same, apart = [], []
    for _ in range(40):
        main, tried = simulate_canary_day(
            truth, hi, lo, 0.5, traffic.day(rng), start=when, prices=prices, rng=rng
        )
        assert (main.epoch.start, main.epoch.end) == (tried.epoch.start, tried.epoch.end)
        assert (tried.epoch.canary, main.epoch.canary) == (True, False)  # as the collector marks them
        same.append(np.log(tried.epoch.duration_avg_ms / main.epoch.duration_avg_ms / true_ratio))
        a = simulate_day(truth, hi, traffic.day(rng), start=when, prices=prices, rng=rng)
        b = simulate_day(truth, lo, traffic.day(rng), start=when, prices=prices, rng=rng)
        apart.append(np.log(b.epoch.duration_avg_ms / a.epoch.duration_avg_ms / true_ratio))
    assert np.std(same) < 0.6 * np.std(apart)


def test_a_climb_the_step_limit_paces_is_not_stopped_by_the_first_steps_small_gain():
    # primes_jconning_run1000 costs about the same from 128 to 256 MB and 40 % less at 512 MB. From
    # 128 MB (seed 8) its canaries find that; the step limit allows 256 MB first, which alone saves
    # under the 1 % threshold. Judged by where it leads, the climb goes on (it stayed at 128 MB,
    # 85 % above the oracle, when the first step was judged on its own).
    trace = SHARED_CURVES.parents[1] / "azure-functions-2019"
    result = run_bench(
        SHARED_CURVES.resolve(), starts=(128,), seed=8, strategies=("default",), trace_dir=trace.resolve()
    )
    (run,) = [r for r in result["per_curve"] if r["curve"] == "primes_jconning_run1000"]
    assert run["sizes"][-1] > 256 and run["regret"] < 0.05
