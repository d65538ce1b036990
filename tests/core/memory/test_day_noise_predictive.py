"""A future day's deviation is Student-t: the day-to-day noise level is estimated from a few days."""

from __future__ import annotations

import numpy as np
import pytest
from memory_support import epoch, io_bound
from scipy import stats

from lambda_tuner.core.fitting import DAY_NOISE_PRIOR_DAYS, fit_duration
from lambda_tuner.core.fitting_draws import interval, sample


def _day_factors(days: int) -> tuple[float, np.ndarray, np.ndarray]:
    """(rel_noise, log of the projections' day factors, log of the allowance's) for `days` at 1,024 MB."""
    drift = (1.0, 1.04, 0.97, 1.02, 0.99, 1.03, 0.96, 1.01)
    epochs = [epoch(1024, io_bound(1024) * drift[d % len(drift)], day=d) for d in range(days)]
    fit = fit_duration("fn", "x86_64", epochs)
    s = sample(fit, 20_000)
    assert fit.rel_noise_dof == DAY_NOISE_PRIOR_DAYS + days - 1
    return fit.rel_noise, np.log(s.noise[:, 0]), np.log(s.day[:, 0])


@pytest.mark.parametrize("days", [1, 3, 8])
def test_the_projections_day_factor_has_the_student_t_tail_of_a_level_estimated_from_few_days(days):
    rel_noise, projected, allowance = _day_factors(days)
    dof = DAY_NOISE_PRIOR_DAYS + days - 1
    # Then the 95th percentile is the Student-t one with the fit's degrees of freedom ...
    assert np.percentile(projected, 95) / rel_noise == pytest.approx(stats.t.ppf(0.95, dof), rel=0.05)
    # ... while the allowance against one stored day keeps the level as estimated (normal)
    assert np.percentile(allowance, 95) / rel_noise == pytest.approx(stats.norm.ppf(0.95), rel=0.05)


def test_more_days_narrow_the_tail_towards_the_normal_one():
    few = _day_factors(1)
    many = _day_factors(8)
    tail = [np.percentile(p, 99) / r for r, p, _ in (few, many)]
    assert tail[0] > tail[1] > stats.norm.ppf(0.99)


def test_the_expected_value_does_not_follow_the_largest_draw_of_a_heavy_tailed_day():
    # Given day factors exp(0.3 t) with 4 degrees of freedom (no finite mean), 400 draws per seed
    def draws(seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        scale = np.sqrt(4 / rng.chisquare(4, (400, 1)))
        return np.exp(0.3 * scale * rng.standard_normal((400, 1)))

    plain = [float(np.mean(draws(seed))) for seed in range(20)]
    held = [float(interval(draws(seed))[0][0]) for seed in range(20)]
    # Then the reported expected value varies from seed to seed far less than a plain mean does
    assert np.std(held) < 0.6 * np.std(plain)
    assert max(held) < max(plain)
