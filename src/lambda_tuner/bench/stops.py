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

from lambda_tuner.adapters.alarms import STOP_BREACHING, STOP_PERIOD_S, STOP_WINDOWS
from lambda_tuner.core.decide import CANARY_WEIGHT
from lambda_tuner.core.mean_stop import P99_Z
from lambda_tuner.core.memory_types import MemoryPolicy
from lambda_tuner.core.optimizer import ratio_stop_margin

HOURS = 24


@dataclass(frozen=True)
class Rule:
    name: str
    hours: int  # window length
    needed: int  # windows above the stop (of the day's 24 // hours)


_PRODUCT_HOURS = STOP_PERIOD_S // 3600
assert _PRODUCT_HOURS * STOP_WINDOWS == HOURS  # the product's windows cover a day, as simulated here
RULES = (
    Rule("day", HOURS, 1),  # the memory bench's
    Rule(
        f"{_PRODUCT_HOURS}h, {STOP_BREACHING} of {STOP_WINDOWS}", _PRODUCT_HOURS, STOP_BREACHING
    ),  # the product's
    Rule("1h, 12 of 24", 1, 12),  # measured and not kept
)
POLICY = MemoryPolicy(canary_weight=CANARY_WEIGHT)  # the product's canary shares and allowance


def stop_ratio(calls_per_day: float, weight: float, log_spread: float) -> float:
    """The stop the optimizer sets beside the baseline's size, for lognormal calls with `log_spread`."""
    p99_over_mean = math.exp(P99_Z * log_spread - log_spread**2 / 2)
    return (1 + POLICY.p99_allowance) * ratio_stop_margin(p99_over_mean, weight, calls_per_day)


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
        weight = float(POLICY.canary_share(n) or CANARY_WEIGHT)  # 10 %, more for a quiet function
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
