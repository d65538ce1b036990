"""The sampling shortcuts agree with brute force: order statistics, Poisson draws, hashed uniforms."""

from __future__ import annotations

import numpy as np
import pytest

from lambda_tuner.twin.sampling import (
    LogNormalNoise,
    hash_uniform,
    order_stat,
    poisson_from_uniform,
    sample_mean,
)

NOISE = LogNormalNoise(0.3)


def _brute_force(n: int, periods: int, q: float, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    s = NOISE.sigma
    draws = 100 * np.exp(s * rng.standard_normal((periods, n)) - s * s / 2)
    return np.quantile(draws, q, axis=1, method="inverted_cdf")


@pytest.mark.parametrize(("n", "q"), [(5, 0.5), (50, 0.9), (50, 1.0), (400, 0.99)])
def test_one_beta_draw_gives_the_same_sample_percentile_distribution_as_drawing_every_call(n, q):
    # Given 4,000 periods of n calls with mean 100 ms
    periods = 4000
    weights = np.full((periods, 1), float(n))
    shortcut = order_stat(q, weights, np.array([100.0]), [NOISE], hash_uniform(7, np.arange(periods)))
    brute = _brute_force(n, periods, q)
    # Then the per-period sample percentiles have the same centre and spread
    assert np.mean(shortcut) == pytest.approx(np.mean(brute), rel=0.02)
    assert np.std(shortcut) == pytest.approx(np.std(brute), rel=0.1)


def test_a_mixture_of_two_sizes_puts_its_median_between_them():
    weights = np.array([[500.0, 500.0]])
    median = order_stat(0.5, weights, np.array([100.0, 400.0]), [NOISE, NOISE], np.array([0.5]))[0]
    assert 100 < median < 400


def test_sample_mean_of_many_calls_is_close_to_the_mean_and_stays_inside_min_and_max():
    weights = np.full((1000, 1), 20.0)
    u = hash_uniform(3, np.arange(1000))
    lo = order_stat(0.0, weights, np.array([100.0]), [NOISE], u)
    hi = order_stat(1.0, weights, np.array([100.0]), [NOISE], u)
    mean = sample_mean(weights, np.array([100.0]), [NOISE], hash_uniform(4, np.arange(1000)), lo=lo, hi=hi)
    assert np.mean(mean) == pytest.approx(100, rel=0.01)
    assert np.std(mean) == pytest.approx(100 * 0.3 / np.sqrt(20), rel=0.15)
    assert ((lo <= mean) & (mean <= hi)).all()


@pytest.mark.parametrize("lam", [0.01, 0.7, 6.0, 35.0, 500.0])
def test_poisson_draws_have_the_right_mean_and_variance(lam):
    u = hash_uniform(11, np.arange(200_000))
    varying = np.full(u.size, lam) * np.where(np.arange(u.size) % 2, 1.0, 1.0 + 1e-12)
    for rates in (np.full(u.size, lam), varying):
        counts = poisson_from_uniform(rates, u)
        assert counts.mean() == pytest.approx(lam, rel=0.03, abs=0.002)
        assert counts.var() == pytest.approx(lam, rel=0.05, abs=0.002)


def test_hashed_uniforms_are_uniform_repeatable_and_independent_across_keys():
    a, b = hash_uniform(1, np.arange(100_000)), hash_uniform(2, np.arange(100_000))
    assert np.array_equal(a, hash_uniform(1, np.arange(100_000)))
    assert ((a > 0) & (a < 1)).all()
    assert np.histogram(a, bins=10, range=(0, 1))[0] == pytest.approx([10_000] * 10, rel=0.05)
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.01
