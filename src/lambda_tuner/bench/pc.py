"""Provisioned-concurrency benchmark on a day of the Azure Functions trace (any N_inv/N_run/N_mem triple).

Learn from the first `train_hours`, score the rest; every policy is scored with the one model of
`core.pc_model` (1,024 MB, x86_64 list prices, need = ⌈calls × mean ms / 60,000⌉, on-demand keep-alive,
0.5 s INIT per cold start). The tables are built per 5-minute PC billing block, the hourly ones being
their sums: the agent may plan a level per block of the coming hour (`core.pc_blocks`), while the
oracle, as the issue defines it, holds one level per evaluated hour. Request fees are the same for
every policy and are excluded from cost; the total is reported in `config.request_fees_usd_excluded`.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from lambda_tuner.bench.pc_policies import (
    HourScores,
    TargetTracking,
    agent_policy,
    none_policy,
    oracle_policy,
    static_policy,
    target_tracking_policy,
)
from lambda_tuner.core.pc_blocks import BlockConfig, hourly_tables
from lambda_tuner.core.pc_model import LevelTables, ModelParams, level_tables, need
from lambda_tuner.core.pc_prices import PcPrices, pc_prices
from lambda_tuner.twin.azure_trace import load_trace

POLICIES = ("none", "target_tracking", "static", "agent", "oracle")
PolicyScores = dict[str, list[HourScores]]  # policy -> one HourScores per function


@dataclass(frozen=True)
class BenchConfig:
    train_hours: int = 16
    lambdas: tuple[float, ...] = (0.0, 0.001, 0.01, 0.05)
    keep_alive_min: int = 10
    keep_alive_sweep: tuple[int, ...] = (5, 10, 20)
    memory_mb: int = 1024
    init_s: float = 0.5
    planner: BlockConfig = field(default_factory=BlockConfig)
    target_tracking: TargetTracking = field(default_factory=TargetTracking)


@dataclass(frozen=True)
class TraceArrays:
    counts: np.ndarray  # functions × minutes
    mean_ms: np.ndarray

    @property
    def hours(self) -> int:
        return int(self.counts.shape[1] // 60)


def load_arrays(trace_dir: str | Path, limit: int | None = None) -> TraceArrays:
    trace = load_trace(trace_dir, limit=limit)
    if not trace.functions:
        raise ValueError(f"{trace_dir}: the trace has no functions")
    counts = np.stack([f.per_minute for f in trace.functions])
    if counts.shape[1] % 60:
        raise ValueError(f"{trace_dir}: {counts.shape[1]} minutes is not a whole number of hours")
    return TraceArrays(counts=counts, mean_ms=np.array([f.mean_ms for f in trace.functions]))


def score_policies(data: TraceArrays, cfg: BenchConfig, keep_alive_min: int) -> dict[float, PolicyScores]:
    """Per λ, per policy, the evaluated-hour scores of every function."""
    if not 0 < cfg.train_hours < data.hours:
        raise ValueError(f"train_hours must be in 1..{data.hours - 1}, got {cfg.train_hours}")
    prices, params = pc_prices("x86_64"), ModelParams(cfg.memory_mb, keep_alive_min, cfg.init_s)
    train, hours = range(cfg.train_hours), range(cfg.train_hours, data.hours)
    blocks, active = _tables(data, prices, params, cfg.planner)
    tables = [hourly_tables(b, cfg.planner.blocks_per_hour) for b in blocks]
    tt = target_tracking_policy(
        data.counts, data.mean_ms, train, hours, prices=prices, params=params, tt=cfg.target_tracking
    )
    nones = [none_policy(t, hours) for t in tables]
    out: dict[float, PolicyScores] = {}
    for lam in cfg.lambdas:
        out[lam] = {
            "none": nones,
            "target_tracking": [s if s is not None else n for s, n in zip(tt, nones, strict=True)],
            "static": [static_policy(t, lam, train, hours) for t in tables],
            "agent": [
                agent_policy(b, a, lam, hours, prices=prices, params=params, config=cfg.planner)
                for b, a in zip(blocks, active, strict=True)
            ],
            "oracle": [oracle_policy(t, lam, hours) for t in tables],
        }
    return out


def _tables(
    data: TraceArrays, prices: PcPrices, params: ModelParams, planner: BlockConfig
) -> tuple[list[LevelTables], list[np.ndarray]]:
    """Per function, tables per PC billing block (the hourly ones are their sums) and hourly activity."""
    tables = [
        level_tables(c, float(m), prices, params, block_min=planner.block_min, max_level=_top(c, float(m)))
        for c, m in zip(data.counts, data.mean_ms, strict=True)
    ]
    active = [c.reshape(-1, 60).sum(axis=1) > 0 for c in data.counts]
    return tables, active


def _top(counts: np.ndarray, mean_ms: float) -> int:
    return int(need(counts, mean_ms).max(initial=0))


def summarize(
    scores: PolicyScores, lam: float, names: tuple[str, ...] = POLICIES
) -> dict[str, dict[str, float | int]]:
    none_obj = np.array([s.objective(lam).sum() for s in scores["none"]])
    out: dict[str, dict[str, float | int]] = {}
    for name in names:
        per_fn = scores[name]
        obj = np.array([s.objective(lam).sum() for s in per_fn])
        uses_pc = np.array([bool((s.level > 0).any()) for s in per_fn])
        cost = float(sum(s.cost.sum() for s in per_fn))
        cold = float(sum(s.cold.sum() for s in per_fn))
        out[name] = {
            "cost_usd": round(cost, 6),
            "cold_starts": round(cold),
            "objective_usd": round(float(obj.sum()), 6),
            "functions_helped": int((uses_pc & (obj < none_obj - 1e-12)).sum()),
            "functions_with_pc": int(uses_pc.sum()),
            "pc_level_hours": round(float(sum(s.level.sum() for s in per_fn)), 2),
            "block_plan_hours": sum(s.block_plan_hours for s in per_fn),
            "functions_with_block_plan": sum(s.block_plan_hours > 0 for s in per_fn),
        }
    return out


# Policies that hold one level per hour; the agent and target tracking may change PC within an hour.
HOURLY = ("none", "static", "oracle")


def oracle_is_lowest_every_hour(scores: PolicyScores, lam: float) -> bool:
    """By construction the oracle's objective is ≤ that of every one-level-per-hour policy, every hour."""
    oracle = scores["oracle"]
    return all(
        bool(np.all(o.objective(lam) <= s.objective(lam) + 1e-12))
        for name in HOURLY
        for o, s in zip(oracle, scores[name], strict=True)
    )


def hours_beating_oracle(scores: PolicyScores, lam: float, name: str) -> int:
    """Function-hours where a policy that changes PC within the hour beats the per-hour oracle."""
    return sum(
        int(np.sum(t.objective(lam) < o.objective(lam) - 1e-12))
        for o, t in zip(scores["oracle"], scores[name], strict=True)
    )


def _targets(lam: float, pol: dict[str, dict[str, float | int]]) -> dict[str, object]:
    agent, oracle = float(pol["agent"]["objective_usd"]), float(pol["oracle"]["objective_usd"])
    bound = 1.03 if lam <= 0.01 else 1.30
    ratio = agent / oracle if oracle > 0 else 1.0
    return {
        "agent_le_static": agent <= float(pol["static"]["objective_usd"]) + 1e-9,
        "agent_below_none": agent < float(pol["none"]["objective_usd"]),
        "agent_below_target_tracking": agent < float(pol["target_tracking"]["objective_usd"]),
        "agent_over_oracle": round(ratio, 4),
        "agent_over_oracle_bound": bound,
        "agent_within_oracle_bound": ratio <= bound,
        "static_over_oracle": round(float(pol["static"]["objective_usd"]) / oracle, 4) if oracle > 0 else 1.0,
    }


def _results(data: TraceArrays, cfg: BenchConfig, keep_alive_min: int) -> list[dict[str, object]]:
    results = []
    for lam, scores in score_policies(data, cfg, keep_alive_min).items():
        pol = summarize(scores, lam)
        results.append(
            {
                "lambda_usd_per_cold_start": lam,
                "keep_alive_min": keep_alive_min,
                "policies": pol,
                "targets": _targets(lam, pol),
                "oracle_lowest_every_hour": oracle_is_lowest_every_hour(scores, lam),
                "hours_target_tracking_beats_oracle": hours_beating_oracle(scores, lam, "target_tracking"),
                "hours_agent_beats_oracle": hours_beating_oracle(scores, lam, "agent"),
            }
        )
    return results


def run(trace_dir: str | Path, cfg: BenchConfig | None = None, limit: int | None = None) -> dict[str, object]:
    cfg = cfg or BenchConfig()
    started = time.perf_counter()
    data = load_arrays(trace_dir, limit)
    results = _results(data, cfg, cfg.keep_alive_min)
    sweep = [
        {"keep_alive_min": k, "results": results if k == cfg.keep_alive_min else _results(data, cfg, k)}
        for k in cfg.keep_alive_sweep
    ]
    return {
        "config": _config_json(data, cfg, trace_dir, time.perf_counter() - started),
        "results": results,
        "keep_alive_sweep": sweep,
    }


def _config_json(
    data: TraceArrays, cfg: BenchConfig, trace_dir: str | Path, elapsed: float
) -> dict[str, object]:
    prices = pc_prices("x86_64")
    return {
        "trace": str(trace_dir),
        "functions": int(data.counts.shape[0]),
        "minutes": int(data.counts.shape[1]),
        "train_hours": cfg.train_hours,
        "evaluated_hours": data.hours - cfg.train_hours,
        "memory_mb": cfg.memory_mb,
        "keep_alive_min": cfg.keep_alive_min,
        "init_s_per_cold_start": cfg.init_s,
        "prices": asdict(prices),
        "request_fees": "excluded (identical for every policy)",
        "request_fees_usd_excluded": round(
            float(data.counts[:, cfg.train_hours * 60 :].sum()) * prices.request, 6
        ),
        "planner": asdict(cfg.planner),
        "target_tracking": asdict(cfg.target_tracking),
        "elapsed_s": round(elapsed, 2),
    }
