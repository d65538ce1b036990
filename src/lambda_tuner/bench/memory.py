"""`lambda-tuner bench memory`: closed-loop regret of the memory decisions on ground-truth curves.

For each curve of a curve-format file, each start size (clipped to the measured range) and each
strategy, the agent runs `cycles` simulated days in auto mode: every day produces one `Epoch` from noisy
samples of the true curve, the agent keeps its own history, calls `decide_memory` and applies what it
recommends. An experiment is applied for one cycle like any change, and rolled back when that day's p99
exceeds its `stop_if_p99_ms_above`, or for a canary when its day's p99 exceeds `stop_if_p99_ratio_above`
times the live stream's that day (what the product's rollback alarms do), or when its day's mean
duration exceeds its cost stop (`stop_if_mean_ms_above`, for a canary `stop_if_mean_ratio_above` times
the live stream's mean): a stopped experiment counts
under `experiment_guard_stops`, not as a guard violation. After the last cycle one more day is simulated
only to check the last projection. See memory_sim.py and memory_oracle.py for the models and
definitions; docs of the JSON fields are in `summarise`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from lambda_tuner.bench.memory_oracle import (
    Ground,
    allowance_sds,
    cautious,
    compute_optimizer,
    exact_grid,
    ground,
    power_tuning,
    violations,
)
from lambda_tuner.bench.memory_sim import (
    Day,
    Traffic,
    Truth,
    make_truth,
    pick_traffic,
    simulate_canary_day,
    simulate_day,
)
from lambda_tuner.core.decide import CANARY_WEIGHT
from lambda_tuner.core.models import (
    Epoch,
    FunctionConfig,
    Observations,
    Projection,
    Recommendation,
    Strategy,
)
from lambda_tuner.core.optimizer import MemoryPolicy, decide_memory
from lambda_tuner.core.pricing import PriceTable, default_prices
from lambda_tuner.core.stopped_trials import StoppedTrial
from lambda_tuner.twin.azure_trace import Trace, load_trace
from lambda_tuner.twin.curves import Interpolation, load_curves

STRATEGIES: tuple[Strategy, ...] = ("default", "cost", "speed", "balanced")
DEFAULT_STARTS = (128, 512, 1024, 2048)
T0 = datetime(2026, 1, 5, tzinfo=UTC)
STOP_WITHIN_DAY = timedelta(hours=12)  # when in its day a stopped trial's alarm fired (not simulated)
DEFAULT_CANARY_WEIGHT = CANARY_WEIGHT  # the product's share for functions invoked through an alias


def bench_policy(strategy: Strategy, lo: int, hi: int, canary_weight: float | None = None) -> MemoryPolicy:
    # Decision quality is measured, not churn policy: no dollar threshold (the traffic is small).
    return MemoryPolicy(
        strategy=strategy, min_mb=lo, max_mb=hi, min_saving_usd_month=0.0, canary_weight=canary_weight
    )


@dataclass
class Run:
    curve: str
    start_mb: int
    strategy: Strategy
    sizes: list[int] = field(default_factory=list)
    exploration_steps: int = 0
    exploration_overspend_usd: float = 0.0
    guard_stops: int = 0  # experiments rolled back by their p99 guard (not violations: the guard worked)
    violations: list[str] = field(default_factory=list)
    coverage: list[bool] = field(default_factory=list)
    widths: list[float] = field(default_factory=list)
    regret: float = 0.0
    oracle_mb: int = 0
    misses: list[dict[str, Any]] = field(default_factory=list)  # intervals that missed the next day

    def check(self, projection: Projection, day: Day) -> None:
        """Whether the projection's 90 % intervals held the day's realised cost and p99."""
        c, p = projection.cost_per_invocation_usd, projection.p99_ms
        self.coverage += [
            _covered(day.cost_per_invocation, c.low, c.high),
            _covered(day.p99_ms, p.low, p.high),
        ]
        if not all(self.coverage[-2:]):
            self.misses.append(
                {
                    "memory_mb": day.epoch.memory_mb,
                    "cost_realised_over_expected": day.cost_per_invocation / c.expected,
                    "cost_interval": [c.low / c.expected, c.high / c.expected],
                    "p99_realised_over_expected": day.p99_ms / p.expected,
                    "p99_interval": [p.low / p.expected, p.high / p.expected],
                }
            )
        self.widths += [(c.high - c.low) / c.expected, (p.high - p.low) / p.expected]


@dataclass(frozen=True)
class Trial:
    """A running experiment: the size to restore if its guard stops it, the size tried, the stop."""

    restore_mb: int
    trial_mb: int
    stop_p99_ms: float
    canary_weight: float | None  # None: all traffic
    stop_ratio: float | None = None  # a canary's stop: its p99 over the live stream's, the same day
    stop_mean_ms: float = float("inf")  # its cost stop: the day's mean duration ...
    stop_mean_ratio: float | None = None  # ... or a canary's mean over the live stream's


def _covered(value: float, low: float, high: float) -> bool:
    return low <= value <= high


def run_loop(
    truth: Truth,
    traffic: Traffic,
    *,
    start_mb: int,
    strategy: Strategy,
    cycles: int,
    prices: PriceTable,
    rng: np.random.Generator,
    canary_weight: float | None = None,
) -> tuple[Run, Ground]:
    """`canary_weight` set: the function is invoked through an alias and its experiments are canaries
    on that share of the traffic, beside the size in force, the same day; None: all-traffic trials."""
    lo, hi = truth.bounds
    policy = bench_policy(strategy, lo, hi, canary_weight)
    start = int(np.clip(start_mb, lo, hi))
    g = ground(truth, strategy, policy, start_mb=start, cold_rate=traffic.mean_cold_rate(), prices=prices)
    run = Run(curve=truth.curve.function_id, start_mb=start, strategy=strategy, oracle_mb=g.oracle_mb)
    memory, history, baseline = start, list[Epoch](), None
    pending: Projection | None = None
    trial: Trial | None = None
    stops: list[StoppedTrial] = []
    for cycle in range(cycles + 1):
        when = T0 + timedelta(days=cycle)
        minutes = traffic.day(rng)
        if trial is not None and trial.canary_weight is not None:
            day, tried = simulate_canary_day(
                truth,
                memory,
                trial.trial_mb,
                trial.canary_weight,
                minutes,
                start=when,
                prices=prices,
                rng=rng,
            )
        else:
            day = tried = simulate_day(truth, memory, minutes, start=when, prices=prices, rng=rng)
        run.sizes.append(memory)
        rollback: int | None = None
        if trial is not None:  # the product's rollback alarm: p99 above the experiment's stop restores
            stopped = _stopped(trial, day, tried)
            run.guard_stops += stopped
            rollback = trial.restore_mb if stopped else None
            stops += _remembered(truth, trial, when) if stopped else []
            judged = [] if stopped else [trial.trial_mb]  # a trial not stopped ran its day: judge its size
            for size in judged:
                run.violations += violations(
                    truth, g, policy, strategy=strategy, start_mb=start, memory_mb=size
                )
            trial = None
        if pending is not None:  # the previous change's projection against what the day realised
            run.check(pending, tried)
            pending = None
        if cycle == cycles:
            break
        history += [day.epoch] + ([tried.epoch] if tried is not day else [])
        baseline = baseline or day.epoch.duration_p99_ms
        memory = rollback or memory
        rec = _decide(
            truth, memory, history, policy, prices, cycle, baseline=baseline, start=start, stopped=stops
        )
        if rec.kind not in ("memory", "experiment"):
            continue
        target = int(rec.proposed["memory_mb"] or memory)
        if rec.kind == "experiment":
            trial, pending = _start_trial(run, rec, memory, truth, traffic, prices, int(minutes.sum()))
            if trial.canary_weight is not None:
                continue  # the size in force stays; the canary runs beside it
        else:  # an experiment is judged after its day, when its guard has had the chance to stop it
            run.violations += violations(
                truth, g, policy, strategy=strategy, start_mb=start, memory_mb=target
            )
        if target != memory:
            pending = rec.after
        memory = target
    run.regret = g.regret(memory)
    return run, g


def _remembered(truth: Truth, trial: Trial, day: datetime) -> list[StoppedTrial]:
    """A trial its stop ended, as the product's cycle reads it back from the rolled-back recommendation
    (`decide_memory` heeds it once its day has left the observations)."""
    return [
        StoppedTrial(
            function=truth.curve.function_id,
            from_mb=trial.restore_mb,
            trial_mb=trial.trial_mb,
            stopped_at=day + STOP_WITHIN_DAY,
            tried_at=day,
        )
    ]


def _start_trial(  # noqa: PLR0917 - the experiment and what prices it
    run: Run, rec: Recommendation, memory: int, truth: Truth, traffic: Traffic, prices: PriceTable, calls: int
) -> tuple[Trial, Projection | None]:
    """Count an experiment and its overspend (true cost at the tried size over the best guess's, on the
    share of the day's calls it takes); return it and the projection its day will be checked against."""
    target = int(rec.proposed["memory_mb"] or memory)
    best = int(rec.proposed.get("best_guess_mb") or memory)
    run.exploration_steps += target != best  # a canary confirming the best estimate is not exploration
    extra = float(
        truth.cost_per_invocation(target, traffic.mean_cold_rate(), prices)
        - truth.cost_per_invocation(best, traffic.mean_cold_rate(), prices)
    )
    weight = rec.proposed.get("canary_weight")
    run.exploration_overspend_usd += extra * float(weight or 1.0) * calls
    stop = rec.proposed.get("stop_if_p99_ms_above")
    share = float(weight) if weight is not None else None
    ratio = rec.proposed.get("stop_if_p99_ratio_above")
    mean, mean_ratio = rec.proposed.get("stop_if_mean_ms_above"), rec.proposed.get("stop_if_mean_ratio_above")
    trial = Trial(
        memory,
        target,
        float(stop) if stop is not None else float("inf"),
        share,
        float(ratio) if isinstance(ratio, int | float) and share is not None else None,
        float(mean) if isinstance(mean, int | float) else float("inf"),
        float(mean_ratio) if isinstance(mean_ratio, int | float) and share is not None else None,
    )
    return trial, rec.after


def _stopped(trial: Trial, day: Day, tried: Day) -> bool:
    """Whether the experiment's stops end it on its day: its p99 and its mean duration (its cost),
    a canary's as ratios to the live stream's the same day, as the product's alarms judge them."""
    p99_limit = trial.stop_p99_ms if trial.stop_ratio is None else trial.stop_ratio * day.p99_ms
    mean, live = tried.epoch.duration_avg_ms or 0.0, day.epoch.duration_avg_ms or 0.0
    mean_limit = trial.stop_mean_ms if trial.stop_mean_ratio is None else trial.stop_mean_ratio * live
    return tried.p99_ms > p99_limit or mean > mean_limit


def _decide(  # noqa: PLR0917 - one decision's inputs, each needed
    truth: Truth,
    memory: int,
    history: list[Epoch],
    policy: MemoryPolicy,
    prices: PriceTable,
    cycle: int,
    *,
    baseline: float | None,
    start: int,
    stopped: Sequence[StoppedTrial] = (),
) -> Recommendation:
    fn = FunctionConfig(
        name=truth.curve.function_id,
        arn=f"arn:bench:{truth.curve.function_id}",
        memory_mb=memory,
        timeout_s=truth.timeout_s,
        arch=truth.curve.arch,
        log_group="bench",
    )
    recent = history[-14:]
    window = [e for e in history if e.start >= recent[0].start]  # a canary day keeps both its epochs
    obs = Observations(
        function=fn.name,
        window_start=window[0].start,
        window_end=window[-1].end,
        epochs=tuple(window),
        qualifier="live" if policy.canary_weight else None,
    )
    return decide_memory(
        fn,
        obs,
        policy,
        prices,
        window[-1].end,
        f"{fn.name}-{cycle}",
        baseline_p99_ms=baseline,
        baseline_memory_mb=start,
        stopped=stopped,
    )


def _baselines(  # noqa: PLR0917 - one call site, every value needed
    truth: Truth,
    traffic: Traffic,
    g: Ground,
    start: int,
    strategy: Strategy,
    prices: PriceTable,
    rng: np.random.Generator,
) -> dict[str, dict[str, Any]]:
    """Where each peer baseline ends for one curve, start and strategy, judged on ground truth."""
    policy = bench_policy(strategy, *truth.bounds)

    def judged(size: int) -> dict[str, Any]:
        broken = violations(truth, g, policy, strategy=strategy, start_mb=start, memory_mb=size)
        return {"strategy": strategy, "regret": g.regret(size), "violations": len(broken), "chosen_mb": size}

    chosen, spent = power_tuning(
        truth, strategy, policy, prices=prices, cold_rate=traffic.mean_cold_rate(), rng=rng
    )
    co = compute_optimizer(truth, start, int(traffic.per_minute.sum() * 14))
    sds = allowance_sds(truth)
    return {
        "fixed": judged(start),
        "power_tuning": {**judged(chosen), "tuning_cost_usd": spent},
        "compute_optimizer": judged(co),
        "bound_exact_grid": judged(exact_grid(truth, g)),
        "bound_file_sizes": judged(exact_grid(truth, g, list(truth.curve.sizes))),
        **{
            f"bound_allowance_{name}": judged(cautious(truth, g, policy, start_mb=start, rel_sd=sd))
            for name, sd in sds.items()
        },
    }


def run_bench(
    curves_path: Path,
    *,
    starts: tuple[int, ...] = DEFAULT_STARTS,
    cycles: int = 10,
    seed: int = 7,
    trace_dir: Path | None = None,
    strategies: tuple[Strategy, ...] = STRATEGIES,
    command: str = "",
    canary_weight: float | None = DEFAULT_CANARY_WEIGHT,
    interpolation: Interpolation = "power",
) -> dict[str, Any]:
    """Run the whole benchmark and return the JSON-ready result (no printing, no writing).

    `canary_weight`: the functions are invoked through an alias and experiments are canaries on that
    share of the traffic (the product's default for aliased functions); None: all-traffic trials, as
    for functions invoked without an alias. `interpolation`: how the truth runs between the sizes the
    file measured (see `twin.curves`)."""
    curves = load_curves(curves_path, interpolation=interpolation)
    if not curves:
        raise ValueError(f"{curves_path}: no curves")
    trace: Trace | None = load_trace(trace_dir) if trace_dir is not None else None
    prices = default_prices()
    runs: list[Run] = []
    baselines: dict[str, list[dict[str, Any]]] = {}
    for index, curve in enumerate(curves):
        truth = make_truth(curve)
        traffic = pick_traffic(trace, index, np.random.default_rng([seed, index]))
        for start in sorted({int(np.clip(s, *truth.bounds)) for s in starts}):
            for strategy in strategies:
                # One stream per run: a run's days do not depend on which other runs came before it,
                # so two variants (or a subset of strategies) see the same traffic and noise.
                rng = np.random.default_rng([seed, index, start, STRATEGIES.index(strategy)])
                run, g = run_loop(
                    truth,
                    traffic,
                    start_mb=start,
                    strategy=strategy,
                    cycles=cycles,
                    prices=prices,
                    rng=rng,
                    canary_weight=canary_weight,
                )
                runs.append(run)
                # The baselines draw from a stream of their own too: the agent's run, however many
                # draws it took, does not move their figures.
                peers = np.random.default_rng([seed, index, start, STRATEGIES.index(strategy), 1])
                for name, row in _baselines(truth, traffic, g, start, strategy, prices, peers).items():
                    baselines.setdefault(name, []).append(row)
    config = {
        "command": command,
        "seed": seed,
        "starts": list(starts),
        "cycles": cycles,
        "file": str(curves_path),
        "trace": str(trace_dir) if trace_dir else "synthetic",
        "strategies": list(strategies),
        "canary_weight": canary_weight,
        "interpolation": interpolation,
    }
    return summarise(runs, baselines, config)


def _regrets(values: list[float]) -> dict[str, float]:
    arr = np.asarray(values, dtype=float)
    return {
        "regret_median": float(np.median(arr)),
        "regret_p90": float(np.percentile(arr, 90)),
        "regret_max": float(np.max(arr)),
    }


def summarise(
    runs: list[Run], baselines: dict[str, list[dict[str, Any]]], config: dict[str, Any]
) -> dict[str, Any]:
    """`summary`: per strategy regret figures (fractions) plus exploration steps (max per run), guard
    violations (count), calibration (share of 90 % intervals of cost per invocation and p99 that held the
    next day's realised value, pooled over applied changes), calibration_n (applied changes),
    interval_width_median ((high - low) / expected) and exploration overspend (USD, true cost at the
    explored size minus at the model's best guess, over the explored day's traffic). Baselines report
    the `cost` strategy's regret at top level (`default`'s for the allowance bounds, the only strategy they
    bind) and every strategy under `by_strategy`. `bound_*` rows read the truth: they are not policies
    but the regret the data alone leaves (memory_oracle.py)."""
    summary: dict[str, Any] = {}
    for strategy in dict.fromkeys(r.strategy for r in runs):
        mine = [r for r in runs if r.strategy == strategy]
        coverage = [c for r in mine for c in r.coverage]
        widths = [w for r in mine for w in r.widths]
        summary[strategy] = {
            **_regrets([r.regret for r in mine]),
            "exploration_steps_max": max(r.exploration_steps for r in mine),
            "guard_violations": sum(len(r.violations) for r in mine),
            "experiment_guard_stops": sum(r.guard_stops for r in mine),
            "calibration": float(np.mean(coverage)) if coverage else None,
            "calibration_n": len(coverage) // 2,
            "interval_width_median": float(np.median(widths)) if widths else None,
            "exploration_overspend_usd": float(sum(r.exploration_overspend_usd for r in mine)),
        }
    for name, rows in baselines.items():
        by_strategy = {
            s: {
                **_regrets([r["regret"] for r in rows if r["strategy"] == s]),
                "guard_violations": sum(r["violations"] for r in rows if r["strategy"] == s),
            }
            for s in dict.fromkeys(r["strategy"] for r in rows)
        }
        headline = "default" if name.startswith("bound_allowance") else "cost"
        summary[name] = {
            **by_strategy.get(headline, next(iter(by_strategy.values()))),
            "by_strategy": by_strategy,
        }
        if name == "power_tuning":
            summary[name]["tuning_cost_usd"] = float(sum(r["tuning_cost_usd"] for r in rows))
    per_curve = [
        {
            "curve": r.curve,
            "start_mb": r.start_mb,
            "strategy": r.strategy,
            "final_mb": r.sizes[-1],
            "oracle_mb": r.oracle_mb,
            "regret": r.regret,
            "sizes": r.sizes,
            "exploration_steps": r.exploration_steps,
            "guard_stops": r.guard_stops,
            "violations": r.violations,
        }
        for r in runs
    ]
    return {"summary": summary, "per_curve": per_curve, "config": config}


def write_json(result: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
