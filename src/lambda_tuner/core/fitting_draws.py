"""Monte Carlo draws of a fitted duration model, sampled once and evaluated on any grid of sizes.

`sample` draws everything that does not depend on the sizes (form, parameters, the residual field's
shared normal, the p99 ratio, day noise); `Sample.at` evaluates them at the sizes asked for. A column
depends only on its own size, so a coarse grid and a refined one see exactly the same draws: the
optimizer searches coarsely and refines near the optimum without changing any value it looks at.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from lambda_tuner.core.fitting import (
    DISCREPANCY_OCTAVES,
    PROPOSAL_FACTOR,
    PROPOSAL_WIDEN,
    TREND_OCTAVES,
    TREND_SD,
    DurationFit,
    FloatArray,
    FormFit,
    SizeData,
    form_duration,
    log_posterior,
)

TAIL_PCT = 0.5  # `interval`: each tail held at this percentile for the expected value


@dataclass(frozen=True)
class Draws:
    """Monte Carlo draws of the mean and p99 duration (n_draws x n_sizes) at `memory_mb`."""

    memory_mb: FloatArray
    mean: FloatArray  # parameter uncertainty only: the expected duration at each size
    p99: FloatArray
    mean_noisy: FloatArray  # plus residual (day-to-day) noise: what one future period will show
    p99_noisy: FloatArray
    # n x 1: one day's factor at the noise level as estimated (normal): what a p99 allowance judged
    # against one day's stored p99 charges for that day's own deviation
    day: FloatArray


@dataclass(frozen=True)
class _Group:
    form: str
    params: FloatArray  # count x 3
    weights: FloatArray  # count x k observations (`_Observed`): their log residuals @ (K + noise)^-1
    z: FloatArray  # count x 1: the residual field's shared normal


@dataclass(frozen=True)
class Sample:
    """Size-independent draws of one fit; `at` evaluates them on a grid."""

    fit: DurationFit
    groups: tuple[_Group, ...]
    order: npt.NDArray[np.int64]
    ratio: FloatArray  # n x 1: p99 / mean
    noise: FloatArray  # n x 1: day-to-day factor of one future period (Student-t, see `sample`)
    day: FloatArray  # n x 1: the same draws at the estimated noise level (normal)
    observed: _Observed  # what the residual field is conditioned on, solved once

    def at(self, memory_mb: npt.ArrayLike) -> Draws:
        m = np.atleast_1d(np.asarray(memory_mb, dtype=float))
        cross, sd = _field_at(self.fit, self.observed, m)
        rows = []
        for g in self.groups:
            model = form_duration(g.form, g.params, self.fit.ref_mb, m)
            rows.append(model * np.exp(g.weights @ cross + g.z * sd[None, :]))
        mean = np.vstack(rows)[self.order]
        p99 = mean * self.ratio
        noisy = {"mean_noisy": mean * self.noise, "p99_noisy": p99 * self.noise}
        return Draws(memory_mb=m, mean=mean, p99=p99, day=self.day, **noisy)


def _kernel(fit: DurationFit, a: FloatArray, b: FloatArray) -> FloatArray:
    """Bumps between neighbouring sizes plus a slow departure of the whole curve from its form."""
    gap = a[:, None] - b[None, :]
    bumps = fit.discrepancy**2 * np.exp(-0.5 * (gap / DISCREPANCY_OCTAVES) ** 2)
    return np.asarray(bumps + TREND_SD**2 * np.exp(-0.5 * (gap / TREND_OCTAVES) ** 2))


@dataclass(frozen=True)
class _Observed:
    """What the residual field is conditioned on: one row per epoch (per size without epoch data)."""

    memory_mb: FloatArray
    log_mean: FloatArray
    solve: FloatArray  # (kernel + their error covariance)^-1; the error: within-window, plus days

    @classmethod
    def of(cls, fit: DurationFit) -> _Observed:
        """Each epoch has its window's day deviation (variance `fit.rel_noise` squared), shared with the
        other sizes measured in that window: two sizes of one canary day differ by their sampling error
        alone, so the field follows their measured contrast instead of blurring it with the drift of two
        days. Epochs of separate windows are independent, which pooled by size is the error used before
        (the within-window error plus the day variance over the number of days)."""
        memory, log_mean, within, day = [], [], [], []
        windows: list[tuple[datetime, datetime] | None] = []
        for d in fit.sizes:
            if d.epoch_means and len(d.epoch_means) == len(d.epoch_windows) == len(d.epoch_se):
                for window, mean, se in zip(d.epoch_windows, d.epoch_means, d.epoch_se, strict=True):
                    memory.append(float(d.memory_mb))
                    log_mean.append(math.log(mean))
                    within.append(se**2)
                    day.append(1.0)
                    windows.append(window)
            else:
                memory.append(float(d.memory_mb))
                log_mean.append(math.log(d.mean_ms))
                within.append(_within(d) ** 2)
                day.append(1.0 / d.epochs)
                windows.append(None)
        shared = np.array([[a is not None and a == b for b in windows] for a in windows], dtype=float)
        np.fill_diagonal(shared, day)
        noise = np.diag(within) + fit.rel_noise**2 * shared
        x_obs = np.log2(memory)
        solve = np.asarray(np.linalg.inv(_kernel(fit, x_obs, x_obs) + noise), dtype=float)
        return cls(np.array(memory), np.array(log_mean), solve)


def _within(size: SizeData) -> float:
    """The size's standard error without its day-to-day part (`fit.rel_noise` stands for that)."""
    return size.rel_se if size.within_se is None else size.within_se


def _field_at(fit: DurationFit, observed: _Observed, m: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Gaussian-process residual field at sizes `m`: the cross kernel and the posterior sd.

    Real curves are not exactly any form (measured cells carry bumps). The log residuals at observed
    sizes are smoothed into neighbouring sizes (squared-exponential in log2 memory, length
    DISCREPANCY_OCTAVES, variance `fit.discrepancy` squared): at an observed size the prediction follows
    what was measured; far from any, it reverts to the form with the full discrepancy as extra
    uncertainty (one shared normal per draw).
    """
    cross = _kernel(fit, np.log2(observed.memory_mb), np.log2(m))  # k x g
    solve = observed.solve
    var = np.clip(fit.discrepancy**2 + TREND_SD**2 - np.einsum("ig,ij,jg->g", cross, solve, cross), 0.0, None)
    return cross, np.sqrt(var)


def sample(fit: DurationFit, n_draws: int = 400, seed: int = 7) -> Sample:
    """Sample the model mixture: forms by weight, parameters from the importance-corrected posterior."""
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n_draws, [f.weight for f in fit.forms])
    obs = _Observed.of(fit)
    observed, log_obs = obs.memory_mb, obs.log_mean[None, :]
    groups = []
    for form, count in zip(fit.forms, counts, strict=True):
        if count == 0:
            continue
        params = _posterior_sample(fit, form, int(count), rng)
        residuals = log_obs - np.log(form_duration(form.form, params, fit.ref_mb, observed))
        z = rng.standard_normal((int(count), 1))
        groups.append(_Group(form=form.form, params=params, weights=residuals @ obs.solve, z=z))
    order = rng.permutation(n_draws)
    ratio = np.exp(np.log(fit.p99_ratio) + fit.p99_ratio_sd * rng.standard_normal((n_draws, 1)))
    # One future day's deviation: normal given the noise level, the level drawn from its posterior
    # (scaled inverse chi-squared), so the projections' predictive is Student-t with rel_noise_dof
    # degrees of freedom: a level estimated from a few days is itself uncertain
    z = rng.standard_normal((n_draws, 1))
    scale = np.sqrt(fit.rel_noise_dof / rng.chisquare(fit.rel_noise_dof, (n_draws, 1)))
    noise, day = np.exp(fit.rel_noise * scale * z), np.exp(fit.rel_noise * z)
    return Sample(fit=fit, groups=tuple(groups), order=order, ratio=ratio, noise=noise, day=day, observed=obs)


def draw(fit: DurationFit, memory_mb: npt.ArrayLike, n_draws: int = 400, seed: int = 7) -> Draws:
    return sample(fit, n_draws, seed).at(memory_mb)


def _posterior_sample(fit: DurationFit, form: FormFit, count: int, rng: np.random.Generator) -> FloatArray:
    """Laplace proposal (widened) corrected by importance resampling against the exact posterior.

    The Gaussian alone misplaces mass when the curve is nonlinear in its parameters (a share near 0 or 1,
    few sizes): resampling keeps only draws that agree with what was observed.
    """
    mean, cov = np.array(form.params), np.array(form.covariance)
    if form.form == "io_bound":
        return np.asarray(rng.multivariate_normal(mean, cov, size=count, method="eigh"), dtype=float)
    widened = cov * PROPOSAL_WIDEN**2 + np.eye(3) * 1e-12
    proposals = rng.multivariate_normal(mean, widened, size=count * PROPOSAL_FACTOR, method="eigh")
    inv = np.linalg.pinv(widened)
    centred = proposals - mean
    log_q = -0.5 * np.einsum("ij,jk,ik->i", centred, inv, centred)
    log_w = log_posterior(form, proposals, fit.sizes, fit.ref_mb) - log_q
    weights = np.exp(log_w - log_w.max())
    picks = rng.choice(len(proposals), size=count, p=weights / weights.sum())
    return np.asarray(proposals[picks], dtype=float)


def interval(samples: FloatArray, axis: int = 0) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Expected value and the 90 % interval (5th and 95th percentiles) along `axis`.

    The expected value is the mean with the outer 0.5 % on each side held at those percentiles: a day
    factor exp(s * t) has no finite mean under the Student-t day noise (`sample`), so a plain mean of
    a few hundred draws would follow its largest draw."""
    low, high, edge_low, edge_high = np.percentile(samples, [5.0, 95.0, TAIL_PCT, 100 - TAIL_PCT], axis=axis)
    held = np.clip(samples, np.expand_dims(edge_low, axis), np.expand_dims(edge_high, axis))
    return np.mean(held, axis=axis), low, high


def predict(
    fit: DurationFit, memory_mb: npt.ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """(mean, low, high, p99_mean, p99_low, p99_high) in ms at each size, 90 % intervals with noise."""
    d = draw(fit, memory_mb)
    mean, low, high = interval(d.mean_noisy)
    p99, p99_low, p99_high = interval(d.p99_noisy)
    return mean, low, high, p99, p99_low, p99_high
