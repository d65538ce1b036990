"""`lambda-tuner bench stops`: how often a canary's ratio stop fires, by how slow the canary truly is.

The memory bench stops a canary when its day's p99 over the live stream's is above the stop; the
product's alarm judges the same ratio on six-hour windows (two of the last four above the stop). This
bench draws lognormal call durations for both streams, hour by hour with Poisson counts, and reports
P(stop) under the day rule, the product's rule and, for comparison, half a day's hourly ratios, with
the stop the optimizer sets (STOP_MARGIN_SD sampling deviations inside the allowance). A rule that
stops less often than the day rule past the allowance lets through canaries the bench counts as
stopped; one that stops more often near 1.0 costs learning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from lambda_tuner.core.optimizer import STOP_MARGIN_SD, p99_ratio_sd

HOURS = 24


@dataclass(frozen=True)
class Rule:
    name: str
    hours: int  # window length
    needed: int  # windows above the stop (of the day's 24 // hours)


RULES = (
    Rule("day", 24, 1),  # the memory bench's
    Rule("6h, 2 of 4", 6, 2),  # the product's alarm (adapters/alarms.py)
    Rule("1h, 12 of 24", 1, 12),  # measured and not kept
)


def stop_ratio(calls_per_day: float, weight: float, log_spread: float, allowance: float = 0.10) -> float:
    p99_over_mean = math.exp(2.326 * log_spread - log_spread**2 / 2)
    return (1 + allowance) * math.exp(-STOP_MARGIN_SD * p99_ratio_sd(p99_over_mean, weight, calls_per_day))


def p_stop(
    calls_per_day: float,
    weight: float,
    truth: float,
    *,
    log_spread: float = 0.3,
    days: int = 200,
    rng: np.random.Generator,
) -> tuple[float, dict[str, float]]:
    """The stop, and for each rule the share of simulated days on which it fires."""
    stop = stop_ratio(calls_per_day, weight, log_spread)
    fired = dict.fromkeys((r.name for r in RULES), 0)
    for _ in range(days):
        canary = [
            truth * np.exp(log_spread * rng.standard_normal(n))
            for n in rng.poisson(weight * calls_per_day / HOURS, HOURS)
        ]
        live = [
            np.exp(log_spread * rng.standard_normal(n))
            for n in rng.poisson((1 - weight) * calls_per_day / HOURS, HOURS)
        ]
        for rule in RULES:
            above = 0
            for start in range(0, HOURS, rule.hours):
                c = np.concatenate(canary[start : start + rule.hours])
                v = np.concatenate(live[start : start + rule.hours])
                above += bool(c.size and v.size and np.percentile(c, 99) / np.percentile(v, 99) > stop)
            fired[rule.name] += above >= rule.needed
    return stop, {name: n / days for name, n in fired.items()}


def run(
    calls: list[int], truths: list[float], *, days: int = 200, seed: int = 1, log_spread: float = 0.3
) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    rows = []
    for n in calls:
        weight = min(max(0.1, 1000 / n), 0.5)  # the product's share: 10 %, more for a quiet function
        for truth in truths:
            stop, shares = p_stop(n, weight, truth, log_spread=log_spread, days=days, rng=rng)
            rows.append(
                {
                    "calls_per_day": n,
                    "weight": weight,
                    "truth": truth,
                    "stop": round(stop, 4),
                    "p_stop": shares,
                }
            )
    return {
        "seed": seed,
        "days": days,
        "log_spread": log_spread,
        "rules": [r.name for r in RULES],
        "rows": rows,
    }
