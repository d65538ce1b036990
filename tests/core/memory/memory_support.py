"""Builders for the epochs a collector would hand the agent, from a known duration curve."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from lambda_tuner.core.models import Epoch, FunctionConfig, Observations, ReportStats

T0 = datetime(2026, 3, 2, tzinfo=UTC)


def epoch(
    memory_mb: int,
    mean_ms: float,
    *,
    day: int = 0,
    invocations: int = 20_000,
    cv: float = 0.15,
    used_mb: float = 100.0,
    cpu_ms: float | None = None,
    arch: str = "x86_64",
) -> Epoch:
    """One day at one size; the spread is what hourly periods of lognormal(cv) durations would show."""
    return Epoch(
        memory_mb=memory_mb,
        arch=arch,
        start=T0 + timedelta(days=day),
        end=T0 + timedelta(days=day + 1),  # type: ignore[arg-type]
        invocations=invocations,
        duration_avg_ms=mean_ms,
        duration_p50_ms=mean_ms * 0.99,
        duration_p95_ms=mean_ms * (1 + 1.645 * cv),
        duration_p99_ms=mean_ms * (1 + 2.33 * cv),
        periods=24,
        duration_avg_spread_ms=mean_ms * cv / math.sqrt(invocations / 24),
        reports=ReportStats(
            invocations=invocations,
            cold_starts=invocations // 100,
            init_ms_avg=300.0,
            max_memory_used_mb_p99=used_mb * 0.97,
            max_memory_used_mb_max=used_mb,
            cpu_ms_avg=cpu_ms,
        ),
    )


def observe(curve: Callable[[float], float], sizes: list[int], **kwargs: object) -> Observations:
    epochs = tuple(epoch(m, curve(m), day=i, **kwargs) for i, m in enumerate(sizes))  # type: ignore[arg-type]
    return Observations(function="fn", window_start=epochs[0].start, window_end=epochs[-1].end, epochs=epochs)


def function(memory_mb: int, *, timeout_s: int = 30, arch: str = "x86_64") -> FunctionConfig:
    return FunctionConfig(
        name="fn",
        arn="arn:aws:lambda:us-east-1:123456789012:function:fn",
        memory_mb=memory_mb,
        timeout_s=timeout_s,
        arch=arch,
        log_group="/aws/lambda/fn",
    )  # type: ignore[arg-type]


def cpu_bound(m: float) -> float:
    """Single-threaded CPU work: 2 s at one vCPU plus 5 ms of I/O."""
    return 5.0 + 2000.0 * 1769.0 / min(m, 1769.0)


def io_bound(m: float) -> float:
    """Waits 400 ms on I/O whatever its memory; a little CPU."""
    return 400.0 + 3.0 * 1769.0 / min(m, 1769.0)


def multi_thread(m: float) -> float:
    return 10.0 + 4000.0 * 1769.0 / min(m, 6 * 1769.0)


NOW = T0 + timedelta(days=30)
