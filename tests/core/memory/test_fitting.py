"""The duration model recovers known shapes and is honest about what one size cannot tell."""

from __future__ import annotations

import numpy as np
import pytest
from memory_support import cpu_bound, epoch, io_bound, multi_thread, observe

from lambda_tuner.core.fitting import fit_duration, natural
from lambda_tuner.core.fitting_draws import predict


def _fit(curve, sizes, **kwargs):
    return fit_duration("fn", "x86_64", observe(curve, sizes, **kwargs).epochs)


def test_a_single_threaded_cpu_bound_curve_is_recognised_with_a_cpu_share_near_one():
    fit = _fit(cpu_bound, [256, 512, 1024, 2048, 3008])
    assert fit.best.form == "single_thread"
    _, share, alpha = natural(fit.best.params)
    assert share > 0.95
    assert alpha == pytest.approx(1.0, abs=0.1)


def test_an_io_bound_curve_is_recognised_as_io_bound():
    fit = _fit(io_bound, [256, 512, 1024, 2048])
    assert fit.best.form in ("io_bound", "single_thread")
    mean, *_ = predict(fit, np.array([128, 10_240]))
    assert mean[0] / mean[1] < 1.15  # memory barely matters


def test_a_multi_threaded_curve_keeps_gaining_above_one_vcpu():
    fit = _fit(multi_thread, [1024, 2048, 4096, 8192])
    assert fit.best.form == "multi_thread"
    mean, *_ = predict(fit, np.array([2048, 8192]))
    assert mean[1] < mean[0] * 0.4


@pytest.mark.parametrize("size", [512, 1536, 4096])
def test_predictions_match_the_truth_between_observed_sizes(size):
    fit = _fit(cpu_bound, [256, 768, 2048, 3008])
    mean, low, high, *_ = predict(fit, np.array([size]))
    assert low[0] <= cpu_bound(size) <= high[0]
    assert mean[0] == pytest.approx(cpu_bound(size), rel=0.05)


def test_one_observed_size_gives_wide_intervals_away_from_it_and_several_sizes_narrow_them():
    one = _fit(cpu_bound, [1024])
    many = _fit(cpu_bound, [256, 512, 1024, 2048])
    _, low1, high1, *_ = predict(one, np.array([256]))
    _, low4, high4, *_ = predict(many, np.array([256]))
    assert (high1[0] - low1[0]) > 3 * (high4[0] - low4[0])
    assert "one observed size" in " ".join(one.notes)


def test_lambda_insights_cpu_time_replaces_the_prior_on_the_cpu_share():
    # Given one size, without and with CPU time showing the function is all CPU
    prior_only = _fit(cpu_bound, [1024])
    with_cpu = _fit(cpu_bound, [1024], cpu_ms=cpu_bound(1024) - 5.0)
    # Then the fitted share follows the evidence, and the I/O-bound half of the prior is ruled out
    assert natural(with_cpu.best.params)[1] > 0.9
    _, lo_p, _, *_ = predict(prior_only, np.array([256]))
    _, lo_c, hi_c, *_ = predict(with_cpu, np.array([256]))
    assert lo_c[0] > 2 * lo_p[0]
    assert lo_c[0] <= cpu_bound(256) <= hi_c[0]


def test_p99_projections_use_the_observed_p99_to_mean_ratio():
    fit = _fit(cpu_bound, [512, 1024], cv=0.2)
    mean, _, _, p99, _, _ = predict(fit, np.array([768]))
    assert p99[0] / mean[0] == pytest.approx(1 + 2.33 * 0.2, rel=0.02)


def test_the_shared_curve_fit_view_names_the_form_and_observed_sizes():
    view = _fit(cpu_bound, [512, 1024, 2048]).curve_fit()
    assert view.observed_sizes == (512, 1024, 2048)
    assert view.form == "single_thread"
    assert 0 < view.params["cpu_share"] <= 1


def test_epochs_of_the_other_architecture_are_not_fitted():
    arm_only = (epoch(1024, 100.0, arch="arm64"),)
    with pytest.raises(ValueError, match="no epoch of x86_64"):
        fit_duration("fn", "x86_64", arm_only)


def test_an_extrapolation_allows_a_slow_departure_from_the_form_that_no_observed_size_rules_out():
    # Given an I/O-bound function observed closely at four sizes between 512 and 1,536 MB
    fit = _fit(io_bound, [512, 768, 1024, 1536])
    # When the model projects 640 MB (between observed sizes) and 256 MB (an octave below them)
    _, low, high, *_ = predict(fit, np.array([640, 256]))
    inside, beyond = (high - low) / (high + low) * 2
    # Then an octave beyond, the truth may leave the fitted form by more than the day-to-day noise and
    # the fit's own uncertainty (real curves bend: memory pressure, GC): at least +-12.5 %
    assert beyond > 0.25
    assert beyond > 1.8 * inside


def _days(means: list[float], memory_mb: int = 1024):
    return [epoch(memory_mb, mean, day=i) for i, mean in enumerate(means)]


def test_day_to_day_noise_starts_from_the_prior_and_follows_a_week_of_evidence():
    # Given one day at 1,024 MB, the model assumes the population's 3 % day-to-day noise
    one = fit_duration("fn", "x86_64", _days([100.0]))
    assert one.rel_noise == pytest.approx(0.03)
    # When eight days at that size vary by about 1 % (sd), the estimate moves most of the way there
    steady = fit_duration("fn", "x86_64", _days([100, 101, 99, 100.5, 99.5, 101.5, 98.5, 100]))
    assert 0.012 < steady.rel_noise < 0.02
    # And days that vary by 6 % raise it above the prior rather than being floored at it
    jumpy = fit_duration("fn", "x86_64", _days([100, 106, 94, 103, 97, 108, 92, 100]))
    assert jumpy.rel_noise > 0.045


def test_a_size_seen_on_several_days_keeps_its_within_day_error_apart_from_the_day_to_day_noise():
    fit = fit_duration("fn", "x86_64", _days([100, 106, 94, 103]))
    (size,) = fit.sizes
    # The pooled error includes the days' disagreement; the within-day part does not (the model adds
    # the day-to-day noise once, as rel_noise / days)
    assert size.within_se is not None and size.within_se < 0.5 * size.rel_se
