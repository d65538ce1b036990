"""SYNTHETIC multi-day diurnal traffic: where a daily PC schedule should beat one static level.

A handful of generated functions with daily cycles (and quieter weekends): learn from all days but the
last, score the last. Compared: none, static (one level), schedule (a level per hour of the day, fitted
on the past days and held), agent (re-plans every hour from the past), oracle (hindsight, per hour).
Uses the twin's diurnal traffic generator (deterministic per seed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lambda_tuner.bench.pc import summarize
from lambda_tuner.bench.pc_policies import (
    HourScores,
    agent_policy,
    from_levels,
    none_policy,
    oracle_policy,
    static_policy,
)
from lambda_tuner.core.pc_blocks import BlockConfig, hourly_tables
from lambda_tuner.core.pc_model import LevelTables, ModelParams, level_tables
from lambda_tuner.core.pc_plan import plan_day
from lambda_tuner.core.pc_prices import pc_prices
from lambda_tuner.twin.traffic import diurnal

SYNTH_POLICIES = ("none", "static", "schedule", "agent", "oracle")
FIRST_DAY = 5  # 1970-01-06, a Tuesday: a 7-day run scores a Monday, after a weekend in the history


@dataclass(frozen=True)
class SynthFunction:
    name: str
    mean_rpm: float
    mean_ms: float
    peak_ratio: float
    peak_hour_utc: float
    weekend_factor: float


FUNCTIONS = (
    SynthFunction("office-api", 600.0, 400.0, 8.0, 14.0, 0.3),
    SynthFunction("checkout", 1_500.0, 250.0, 4.0, 19.0, 1.2),
    SynthFunction("nightly-etl", 40.0, 9_000.0, 20.0, 2.0, 1.0),
    SynthFunction("internal-tool", 4.0, 800.0, 30.0, 10.0, 0.1),
    SynthFunction("webhook", 20.0, 1_500.0, 3.0, 16.0, 0.7),
)


def generate(days: int, seed: int = 7) -> np.ndarray:
    """Per-minute counts, functions × (days × 1440)."""
    rows = [
        diurnal(f.mean_rpm, f.peak_ratio, f.peak_hour_utc, f.weekend_factor, seed=seed + i).counts(
            FIRST_DAY * 1440, days * 1440
        )
        for i, f in enumerate(FUNCTIONS)
    ]
    return np.stack(rows).astype(float)


def run_synthetic(days: int, lambdas: tuple[float, ...], keep_alive_min: int = 10) -> dict[str, object]:
    if days < 2:
        raise ValueError("the synthetic section needs at least 2 days (history and a scored day)")
    counts = generate(days)
    prices, params = pc_prices("x86_64"), ModelParams(keep_alive_min=keep_alive_min)
    hours = days * 24
    train, scored = range(hours - 24), range(hours - 24, hours)
    planner = BlockConfig()
    blocks = [
        level_tables(c, f.mean_ms, prices, params, block_min=planner.block_min)
        for c, f in zip(counts, FUNCTIONS, strict=True)
    ]
    tables = [hourly_tables(b, planner.blocks_per_hour) for b in blocks]
    active = [c.reshape(-1, 60).sum(axis=1) > 0 for c in counts]
    results = []
    for lam in lambdas:
        scores: dict[str, list[HourScores]] = {
            "none": [none_policy(t, scored) for t in tables],
            "static": [static_policy(t, lam, train, scored) for t in tables],
            "schedule": [_schedule(t, a, lam, train, scored) for t, a in zip(tables, active, strict=True)],
            "agent": [
                agent_policy(b, a, lam, scored, prices=prices, params=params, config=planner)
                for b, a in zip(blocks, active, strict=True)
            ],
            "oracle": [oracle_policy(t, lam, scored) for t in tables],
        }
        results.append({"lambda_usd_per_cold_start": lam, "policies": summarize(scores, lam, SYNTH_POLICIES)})
    return {
        "label": "SYNTHETIC traffic (twin diurnal generator), not a trace",
        "days": days,
        "trained_hours": len(train),
        "scored_hours": len(scored),
        "keep_alive_min": keep_alive_min,
        "functions": [f.__dict__ for f in FUNCTIONS],
        "results": results,
    }


def _schedule(tables: LevelTables, active: np.ndarray, lam: float, train: range, scored: range) -> HourScores:
    past = LevelTables(cost=tables.cost[:, : train.stop], cold=tables.cold[:, : train.stop])
    day = plan_day(past, active[: train.stop], lam, np.zeros(0))
    return from_levels(tables, np.array([day[h % 24] for h in scored]), scored)
