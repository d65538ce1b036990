"""Builders for PC policy tests: functions, aliases and per-minute concurrency histories."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np

from lambda_tuner.core.models import AliasInfo, ConcurrencySeries, Epoch, FunctionConfig, Observations

# A Monday, so hour-of-week bins line up with the calendar in tests.
MONDAY = datetime(2026, 11, 2, tzinfo=UTC)
NOW = MONDAY + timedelta(days=15)


def function(**overrides: object) -> FunctionConfig:
    fields: dict[str, object] = {
        "name": "orders", "arn": "arn:aws:lambda:us-east-1:123456789012:function:orders",
        "memory_mb": 1024, "timeout_s": 30, "log_group": "/aws/lambda/orders", "revision_id": "r1",
    }
    fields.update(overrides)
    return FunctionConfig.model_validate(fields)


def alias(pc: int | None = None) -> AliasInfo:
    return AliasInfo(name="live", function_version="7", pc_requested=pc, pc_allocated=pc)


def observations(
    concurrency: np.ndarray,
    calls: np.ndarray,
    mean_ms: float,
    start: datetime = MONDAY,
    utilisation: tuple[float, ...] = (),
) -> Observations:
    """Per-minute max concurrency and invocations, with one epoch carrying the mean duration."""
    end = start + timedelta(minutes=len(concurrency))
    return Observations(
        function="orders", qualifier="live", window_start=start, window_end=end,
        epochs=(Epoch(memory_mb=1024, arch="x86_64", start=start, end=end, invocations=int(calls.sum()),
                      duration_avg_ms=mean_ms, duration_p99_ms=mean_ms * 2),),
        concurrency=ConcurrencySeries(
            start=start, period_s=60, max_concurrency=tuple(float(c) for c in concurrency),
            invocations=tuple(float(c) for c in calls), pc_utilization_max=utilisation,
        ),
    )


def by_minute(days: int, level: Callable[[int, int], float]) -> np.ndarray:
    """A per-minute series over `days` days; `level(day_of_week, hour)` gives the value (Monday = 0)."""
    minutes = np.arange(days * 1440)
    return np.array([level(int(m // 1440 % 7), int(m % 1440 // 60)) for m in minutes], dtype=float)


def steady_traffic(days: int, concurrency: float, mean_ms: float) -> tuple[np.ndarray, np.ndarray]:
    """Constant work of `concurrency` busy environments (calls = work × 60,000 / mean ms)."""
    conc = by_minute(days, lambda d, h: concurrency)
    return np.ceil(conc), conc * 60_000 / mean_ms


def sparse_calls(days: int, every_min: int) -> tuple[np.ndarray, np.ndarray]:
    """One short call every `every_min` minutes: each finds no warm environment when > keep-alive."""
    calls = np.zeros(days * 1440)
    calls[::every_min] = 1
    return calls.copy(), calls
