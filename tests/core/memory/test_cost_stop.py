"""An experiment is limited in cost: its mean duration (a call costs duration x memory) is stopped
above the upper end of what the model promised at the size tried."""

from __future__ import annotations

import math

import numpy as np
import pytest
from memory_support import NOW, epoch, function

from lambda_tuner.core.fitting import fit_duration
from lambda_tuner.core.mean_stop import (
    EDGE,
    UNKNOWN_CV,
    canary_mean_ratio_stop,
    duration_cv,
    extra_cost_limit,
    mean_stop_ms,
)
from lambda_tuner.core.models import Observations, Recommendation
from lambda_tuner.core.optimizer import MemoryPolicy, decide_memory, evaluate, usage_from
from lambda_tuner.core.pricing import default_prices

PRICES = default_prices()
PER_DAY = 40 * 60 * 24


def _io_function(calls_per_day: int, *, canary: bool) -> Recommendation:
    """An over-provisioned I/O-bound function (80 ms at 3,008 MB), seen one day: it is asked to try less."""
    e = epoch(3008, 80.0, invocations=calls_per_day)
    obs = Observations(
        function="fn",
        window_start=e.start,
        window_end=e.end,
        epochs=(e,),
        qualifier="live" if canary else None,
    )
    policy = MemoryPolicy(min_saving_usd_month=0.0, canary_weight=0.1 if canary else None)
    return decide_memory(function(3008), obs, policy, PRICES, NOW, "rec-1", baseline_memory_mb=3008)


def test_every_experiment_carries_a_cost_stop_and_a_canary_one_as_a_ratio_to_the_live_version():
    canary, trial = _io_function(PER_DAY, canary=True), _io_function(PER_DAY, canary=False)
    assert canary.kind == trial.kind == "experiment"
    # A canary is judged against the live version in the same hours; a trial on all traffic on its own
    ratio = float(canary.proposed["stop_if_mean_ratio_above"] or 0)
    assert "stop_if_mean_ratio_above" not in trial.proposed
    # Both also carry a fixed mean, above the 80 ms now (less memory cannot make an I/O function faster)
    for rec in (canary, trial):
        assert float(rec.proposed["stop_if_mean_ms_above"] or 0) > 80.0
    # The canary may be slower than the live version only by what the model's interval allows
    assert 1.0 < ratio < 3.0


def test_a_cost_stop_sits_above_the_models_interval_by_one_windows_sampling_error():
    epochs = [epoch(3008, 80.0, invocations=PER_DAY), epoch(1024, 84.0, day=1, invocations=PER_DAY)]
    policy = MemoryPolicy(canary_weight=0.1)
    fit = fit_duration("fn", "x86_64", epochs)
    ev = evaluate(
        function(1024), fit, usage_from(epochs, policy.memory_headroom), policy=policy, prices=PRICES,
        baseline_p99_ms=None, baseline_memory_mb=3008,
    )  # fmt: skip
    index = int(np.argmin(np.abs(ev.memory_mb - 512)))
    ratio_draws = ev.draws.mean[:, index] / ev.draws.mean[:, ev.current]
    top = float(np.percentile(ratio_draws, EDGE))
    stop = canary_mean_ratio_stop(ev, fit, index, 0.1)
    # Above the upper end of the model's ratio, by a margin a few per cent wide at 57,600 calls a day
    assert top < stop < top * 1.1
    # The quieter the window, the wider the margin
    assert canary_mean_ratio_stop(ev, fit, index, 0.01) > stop
    # A fixed stop starts from the model's interval of one future day's mean (day-to-day noise included)
    fixed = mean_stop_ms(ev, fit, index, None)
    assert float(np.percentile(ev.draws.mean_noisy[:, index], EDGE)) < fixed
    assert mean_stop_ms(ev, fit, index, 0.1) > fixed  # the same stop on a tenth of the calls: wider


def test_the_spread_of_calls_is_read_from_the_measured_p99_and_assumed_wide_where_none_was():
    cv = 0.15
    epochs = [epoch(1024, 100.0, cv=cv)]
    fit = fit_duration("fn", "x86_64", epochs)
    # p99 = mean x (1 + 2.33 cv) read as a lognormal tail gives back about the spread it was made with
    assert duration_cv(fit, 1024) == pytest.approx(cv, rel=0.15)
    assert duration_cv(fit, 2048) == UNKNOWN_CV


def test_the_extra_cost_limit_is_against_the_size_in_force_on_the_experiments_share_and_days():
    # Given a function seen equally fast at 3,008 and 1,536 MB: I/O-bound, as far as the model can tell
    epochs = [epoch(3008, 80.0, invocations=PER_DAY), epoch(1536, 80.0, day=1, invocations=PER_DAY)]
    policy = MemoryPolicy()
    fit = fit_duration("fn", "x86_64", epochs)
    ev = evaluate(
        function(3008), fit, usage_from(epochs, policy.memory_headroom), policy=policy, prices=PRICES,
        baseline_p99_ms=None, baseline_memory_mb=3008,
    )  # fmt: skip
    cheaper, dearer = int(np.argmin(np.abs(ev.memory_mb - 1024))), int(np.argmin(np.abs(ev.memory_mb - 6144)))
    # Less memory for it costs less in (almost) every draw: nothing extra to pay
    assert extra_cost_limit(ev, cheaper, 1, None) == 0.0
    # More memory costs more: the upper end of the extra, a day's worth, scaled by the share of calls
    whole = extra_cost_limit(ev, dearer, 1, None)
    month = float(np.percentile(ev.cost_noisy[:, dearer] - ev.cost_noisy[:, ev.current], EDGE))
    assert whole == pytest.approx(month / 30.4375, rel=1e-3) and whole > 0
    assert extra_cost_limit(ev, dearer, 2, 0.1) == pytest.approx(whole * 0.2)
    assert math.isfinite(whole)
