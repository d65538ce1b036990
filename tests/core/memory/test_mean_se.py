"""The standard error of a window's mean duration, from its hourly averages (core.report_windows)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt
import pytest

from lambda_tuner.core.fitting import epoch_rel_se
from lambda_tuner.core.models import Epoch
from lambda_tuner.core.report_windows import weighted_mean_se

T0 = datetime(2026, 1, 5, tzinfo=UTC)
# A quiet function's day: a few calls an hour at night, dozens by day (600 calls in all).
CALLS = np.array([2, 1, 1, 2, 3, 5, 10, 20, 35, 45, 50, 55, 55, 50, 45, 45, 40, 35, 30, 25, 20, 12, 8, 6])


def _days(
    n_days: int, *, calls: npt.NDArray[np.int64], cv: float, hourly_drift: float, seed: int
) -> tuple[list[list[float]], list[float]]:
    """Per simulated day the hourly averages, and the day's calls-weighted mean."""
    rng = np.random.default_rng(seed)
    averages, means = [], []
    for _ in range(n_days):
        level = np.exp(hourly_drift * rng.standard_normal(CALLS.size))
        hourly = [
            float(np.mean(100.0 * lv * (1 + cv * rng.standard_normal(int(c)))))
            for lv, c in zip(level, calls, strict=True)
        ]
        averages.append(hourly)
        means.append(float(np.average(hourly, weights=calls)))
    return averages, means


def test_the_weighted_error_matches_a_quiet_days_sampling_noise_which_the_unweighted_one_doubles() -> None:
    averages, means = _days(3000, calls=CALLS, cv=0.3, hourly_drift=0.0, seed=11)
    truth = float(np.std(means))
    assert _weighted(averages, CALLS) == pytest.approx(truth, rel=0.1)
    assert _unweighted(averages) > 1.8 * truth  # the quiet hours' stray averages count as much as busy ones


def test_the_weighted_error_matches_a_busy_days_hourly_drift_which_the_unweighted_one_understates() -> None:
    busy = CALLS * 100
    averages, means = _days(1000, calls=busy, cv=0.3, hourly_drift=0.05, seed=12)
    truth = float(np.std(means))
    assert _weighted(averages, busy) == pytest.approx(truth, rel=0.1)
    assert _unweighted(averages) < 0.9 * truth  # the busy hours weigh more than 1/24 each


def _weighted(averages: list[list[float]], calls: npt.NDArray[np.int64]) -> float:
    errors = [weighted_mean_se(a, calls.tolist()) for a in averages]
    return math.sqrt(float(np.mean([e**2 for e in errors if e is not None])))


def _unweighted(averages: list[list[float]]) -> float:
    return math.sqrt(float(np.mean([np.var(a, ddof=1) / len(a) for a in averages])))


def test_fewer_than_two_periods_with_calls_give_no_error() -> None:
    assert weighted_mean_se([100.0], [10.0]) is None
    assert weighted_mean_se([100.0, 300.0], [10.0, 0.0]) is None
    assert weighted_mean_se([100.0, 300.0], [10.0, 10.0]) == pytest.approx(100.0)


def _epoch(**kw: float | int | None) -> Epoch:
    base: dict[str, object] = {
        "memory_mb": 512,
        "arch": "x86_64",
        "start": T0,
        "end": T0 + timedelta(days=1),
        "invocations": 600,
        "duration_avg_ms": 100.0,
        "duration_p50_ms": 95.0,
        "duration_p95_ms": 144.35,
        "periods": 24,
    }
    return Epoch.model_validate(base | kw)


def test_an_epoch_uses_its_weighted_error_but_never_less_than_sampling_alone() -> None:
    sampling = (144.35 - 95.0) / 1.645 / math.sqrt(600) / 100.0  # sd 30 ms over 600 calls
    assert epoch_rel_se(_epoch(duration_avg_se_ms=2.5, duration_avg_spread_ms=40.0), 100.0) == pytest.approx(
        0.025
    )
    assert epoch_rel_se(_epoch(duration_avg_se_ms=0.01), 100.0) == pytest.approx(sampling)
    # stored before the weighted error existed: the unweighted spread over sqrt(periods)
    assert epoch_rel_se(_epoch(duration_avg_spread_ms=24.0), 100.0) == pytest.approx(
        24.0 / math.sqrt(24) / 100.0
    )
