"""What a function's epochs say besides duration: traffic, cold starts, INIT and the memory floor."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import numpy as np

from lambda_tuner.core.cost import MONTH_DAYS
from lambda_tuner.core.models import Epoch

SATURATED = 0.95  # memory used / configured at which the reading is capped, not measured


@dataclass(frozen=True)
class Usage:
    invocations_per_month: float
    cold_start_rate: float
    init_ms: float
    floor_mb: float | None  # max memory used x headroom: never go below it (OOM)
    p95_ratio: float


def span_days(epochs: Sequence[Epoch]) -> float:
    """The days the epochs cover, each stretch counted once: a canary window has one epoch per size over
    the same hours (summing them counted a canary day as two days of traffic). At least a minute each."""
    spans = sorted((e.start, max(e.end, e.start + timedelta(minutes=1))) for e in epochs)
    total, reach = 0.0, None
    for start, end in spans:
        fresh = start if reach is None else max(start, reach)  # the part not counted already
        total += max((end - fresh).total_seconds(), 0.0)
        reach = end if reach is None else max(reach, end)
    return total / 86_400


def usage_from(epochs: list[Epoch], headroom: float) -> Usage:
    """Traffic, cold starts, INIT and the memory floor, pooled over the epochs by their invocations."""
    invocations = sum(e.invocations for e in epochs)
    days = span_days(epochs)
    reports = [e.reports for e in epochs if e.reports is not None and e.reports.invocations > 0]
    cold = sum(r.cold_starts for r in reports) / max(1, sum(r.invocations for r in reports))
    inits = [(r.init_ms_avg, r.cold_starts) for r in reports if r.init_ms_avg and r.cold_starts]
    init = sum(i * c for i, c in inits) / sum(c for _, c in inits) if inits else 0.0
    used = [v for r in reports for v in (r.max_memory_used_mb_max, r.max_memory_used_mb_p99) if v is not None]
    # Memory used at (nearly) the configured size says only "at least this much": the real need is unknown,
    # so the floor doubles the configuration instead of adding headroom to a capped reading.
    # A reading below SATURATED x its configuration at a larger size supersedes a capped one.
    readings = [
        (e.memory_mb, e.reports.max_memory_used_mb_max)
        for e in epochs
        if e.reports is not None and e.reports.max_memory_used_mb_max is not None
    ]
    free = [mb for mb, used_mb in readings if used_mb < SATURATED * mb]
    saturated = [
        2.0 * mb for mb, used_mb in readings if used_mb >= SATURATED * mb and not any(f > mb for f in free)
    ]
    ratios = [
        e.duration_p95_ms / e.duration_avg_ms for e in epochs if e.duration_p95_ms and e.duration_avg_ms
    ]
    return Usage(
        invocations_per_month=invocations / days * MONTH_DAYS,
        cold_start_rate=min(1.0, cold),
        init_ms=init,
        floor_mb=max([max(used) * headroom, *saturated]) if used else None,
        p95_ratio=float(np.median(ratios)) if ratios else 1.6,
    )
