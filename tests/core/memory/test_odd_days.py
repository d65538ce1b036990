"""Days a real account produces that the model must not take at face value: a quiet day of calls that
all waited on an outage, a one-call canary, and projections that overflow."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from memory_support import T0, epoch, function
from pydantic import ValidationError

from lambda_tuner.core.cost import MONTH_DAYS
from lambda_tuner.core.fitting import DEFAULT_CV, epoch_rel_se, fit_duration
from lambda_tuner.core.memory_types import argmin_within
from lambda_tuner.core.memory_usage import span_days, usage_from
from lambda_tuner.core.models import Observations
from lambda_tuner.core.optimizer import MemoryPolicy, decide_memory
from lambda_tuner.core.pricing import default_prices


def _observations(*epochs: object) -> Observations:
    ordered = tuple(sorted(epochs, key=lambda e: e.start))  # type: ignore[attr-defined]
    return Observations(
        function="fn", window_start=ordered[0].start, window_end=ordered[-1].end, epochs=ordered
    )


@pytest.mark.parametrize("slow_ms", [500.0, 3_000.0, 30_000.0])
def test_a_quiet_outage_day_weighs_by_its_calls_not_as_a_day(slow_ms: float) -> None:
    # Given six busy days at 50 ms and one day of 20 calls that all took `slow_ms`
    busy = [epoch(1024, 50.0, day=d, invocations=100_000) for d in range(6)]
    outage = epoch(1024, slow_ms, day=6, invocations=20)
    fit = fit_duration("fn", "x86_64", [*busy, outage])
    # Then the day-to-day noise stays a few per cent (it read 263 % with the day unweighted)
    assert fit.rel_noise < 0.06
    # And the decisions stay about a 50 ms function: nothing costs more than a few dollars a month
    for strategy in ("default", "cost", "speed", "balanced"):
        rec = decide_memory(
            function(1024),
            _observations(*busy, outage),
            MemoryPolicy(strategy=strategy),
            default_prices(),
            T0 + timedelta(days=8),
            "r",
        )
        assert rec.before is not None and rec.before.duration_ms.expected < 100.0
        assert rec.before.monthly_cost_usd.high < 10.0, strategy
        assert "timeout margin" not in rec.reason.decided_by


def test_an_epoch_of_a_few_calls_says_nothing_of_their_spread() -> None:
    one = epoch(512, 200.0, invocations=1)  # p50 = p95 = the call itself
    one = one.model_copy(update={"duration_p50_ms": 200.0, "duration_p95_ms": 200.0, "periods": 1})
    assert epoch_rel_se(one, 200.0) >= DEFAULT_CV  # not the 0.6 % a zero spread over one call gave
    assert epoch_rel_se(epoch(512, 200.0, invocations=100_000), 200.0) < 0.01


def test_the_cheapest_of_values_that_all_overflowed_is_none_not_the_first_size() -> None:
    values = np.array([1.0, np.inf, np.inf, np.nan])
    assert argmin_within(values, np.array([False, True, True, True])) is None
    assert argmin_within(values, np.array([True, True, False, False])) == 0
    assert argmin_within(np.array([3.0, np.inf, 2.0]), np.array([True, True, True])) == 2


def test_a_canary_window_counts_its_hours_once_in_the_traffic() -> None:
    plain = [epoch(1024, 100.0, day=d) for d in range(3)]
    canary = [epoch(1024, 100.0, day=3, invocations=18_000), epoch(512, 190.0, day=3, invocations=2_000)]
    assert span_days([*plain, *canary]) == pytest.approx(4.0)
    usage = usage_from([*plain, *canary], 1.25)
    assert usage.invocations_per_month == pytest.approx(20_000 * MONTH_DAYS)  # not 16,000 a day


def test_memory_bounds_out_of_order_are_refused_where_the_policy_is_made() -> None:
    with pytest.raises(ValidationError, match="min_mb 2048 is above max_mb 1024"):
        MemoryPolicy(min_mb=2048, max_mb=1024)


def _moved_by_cost() -> list[Any]:
    """A function `cost` moved from 1024 MB (p99 measured there: the baseline) to 512 MB, slower."""
    return [epoch(1024, 100.0, day=d, invocations=500_000) for d in range(2)] + [
        epoch(512, 190.0 + d % 2, day=2 + d, invocations=500_000) for d in range(3)
    ]


@pytest.mark.parametrize("canary_weight", [None, 0.1])
def test_under_cost_an_experiments_p99_stop_is_never_below_the_size_in_force(
    canary_weight: float | None,
) -> None:
    epochs = _moved_by_cost()
    fit = fit_duration("fn", "x86_64", epochs)
    at_1024, at_512 = fit.size(1024), fit.size(512)
    assert at_1024 is not None and at_512 is not None and at_1024.p99_ratio and at_512.p99_ratio
    rec = decide_memory(
        function(512),
        _observations(*epochs).model_copy(update={"qualifier": "live" if canary_weight else None}),
        MemoryPolicy(strategy="cost", canary_weight=canary_weight),
        default_prices(),
        T0 + timedelta(days=5),
        "r",
        baseline_p99_ms=at_1024.mean_ms * at_1024.p99_ratio,
        baseline_memory_mb=1024,
    )
    assert rec.kind == "experiment"
    assert float(rec.proposed["stop_if_p99_ms_above"]) >= 1.1 * at_512.mean_ms * at_512.p99_ratio * 0.999
    if canary_weight:
        assert float(rec.proposed["stop_if_p99_ratio_above"]) >= 1.1 * 0.999  # not 0.58 x the live version


def test_a_canary_keeps_its_ratio_stop_when_the_baselines_size_left_the_window() -> None:
    epochs = [epoch(1024, 200.0, day=d) for d in range(5)]  # the baseline was measured at 512 MB, earlier
    rec = decide_memory(
        function(1024),
        _observations(*epochs).model_copy(update={"qualifier": "live"}),
        MemoryPolicy(canary_weight=0.1),
        default_prices(),
        T0 + timedelta(days=5),
        "r",
        baseline_p99_ms=270.0,
        baseline_memory_mb=512,
    )
    assert rec.kind == "experiment" and rec.proposed.get("stop_if_p99_ratio_above") is not None
