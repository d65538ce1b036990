"""Duration-vs-memory model per function: physically shaped forms, fitted with honest uncertainty.

Lambda gives a function a CPU share proportional to memory: 1,769 MB is one vCPU, 10,240 MB about 5.8.
Each form splits the duration at a reference size `m_ref` into a fixed part (I/O, waiting: does not
shrink) and a CPU part (share `phi`) that scales with the CPU share `s(m) = min(m / 1769, cap)`:

    d(m) = y_ref * ((1 - phi) + phi * (s(m) / s(m_ref)) ** -alpha)

`cap` is 1 vCPU for single-threaded code (`single_thread`: stops gaining at 1,769 MB) and 6 for code that
keeps gaining (`multi_thread`); `io_bound` is phi = 0. `alpha` = 1 is ideal scaling; it is fitted around
1 (prior sd 0.3 in log) because real curves bend (memory pressure and GC at small sizes make it steeper).

Priors (documented population assumptions, used with few observed sizes):
- CPU share at the reference size: Beta(0.5, 0.5), the U-shaped prior with median 0.5 and 14 % of its
  mass above 0.95 (and below 0.05). Deployed functions range from pure I/O (API calls) to pure CPU and
  crowd towards either end; the prior is deliberately broad so that one observed size yields a wide
  interval, not a confident guess. (The least-squares fit uses a logit-normal(0, 2) stand-in to find
  the mode; the Monte Carlo draws are importance-resampled against the exact Beta prior.)
- `alpha`: log-normal(0, 0.3). Parameters are fitted unbounded (log y, logit share, log alpha) so the
  Gaussian (Laplace) approximation used for the Monte Carlo draws never leaves the valid range.
- Lambda Insights CPU time (`cpu_ms_avg`), when present, constrains the share (cpu / wall, sd 0.1);
  CPU time above wall time is evidence for multi-threading.
- Form weights before evidence: single_thread 0.55, multi_thread 0.25, io_bound 0.2 (io_bound is only
  considered with two or more sizes). Forms are averaged by prior x Akaike weight (AIC), so when the data
  cannot tell single from multi-threaded code, predictions above 1,769 MB carry both.
- A relative model error of 3 % (day-to-day drift, form mismatch) is added to each size's standard error;
  with more sizes than parameters it is inflated by the observed residuals.
- Real curves are not exactly any form: a Gaussian-process residual field (sd 4 % or the observed misfit,
  correlation length 0.35 octave) lets predictions follow what was measured at and near observed sizes,
  and adds that discrepancy to the uncertainty far from them. A second, slow component (sd 25 %,
  correlation length 1.5 octaves) stands for the whole curve bending away from its form (memory
  pressure at small sizes, a second regime): observed sizes pin it nearby, so it widens only
  extrapolations. Without it, moves beyond the observed range were covered 84 % of the time, not 90 %;
  at 8 % the misses that remained were far extrapolations realised 1.5-2 x the projection, and a
  real curve (primes_jconning_run1000: 40 % cheaper at 512 MB than at 256 MB) was ruled out at 95 %.
  At 15 %, a function at 128 MB whose first trial (224 MB) read flat saw nothing worth trying further
  up, where that curve is 46 % cheaper; curves with memory pressure were realised up to 2.1 x the
  projection two octaves away. 25 % makes such a bend a two-sigma event, not a four-sigma one.
- One future period's mean also varies day to day: a prior of 3 % (weighing as much as four days),
  updated by the spread of daily means at sizes seen on several days. It enters each size's error once
  (the within-day error plus it over the number of days), not on top of that size's own day spread.
  The residual field is conditioned on epochs, not on sizes pooled: each epoch carries its window's day
  deviation, shared with the other size measured in that window (a canary day), so the projection
  between two sizes measured side by side follows their measured contrast, known to their sampling
  error, instead of that day's drift against the other days. Pooled by size (as the form itself is
  still fitted, within its 3 % model error) a canary day 3 % slow for both sizes reads as the trial
  size being 3 % slower; the field, which makes the projections at and near measured sizes, does not.

scipy is imported inside functions only (cold starts of functions that import core without it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt

from lambda_tuner.core.models import Arch, CurveFit, Epoch, Frozen

FloatArray = npt.NDArray[np.float64]

VCPU_MB = 1769.0
CAPS = {"single_thread": 1.0, "multi_thread": 6.0, "io_bound": 1.0}
FORM_PRIOR = {"single_thread": 0.55, "multi_thread": 0.25, "io_bound": 0.2}
LOGIT_PHI_PRIOR = (0.0, 2.0)  # logit of the CPU share: median 0.5, 90 % of functions in [0.04, 0.96]
LOG_ALPHA_PRIOR = (0.0, 0.3)
ALPHA_BOUNDS = (0.3, 2.5)
MODEL_ERROR = 0.03
DISCREPANCY_FLOOR = 0.04
DISCREPANCY_OCTAVES = 0.35
TREND_SD = 0.25
TREND_OCTAVES = 1.5
DAY_NOISE = 0.03
DAY_NOISE_PRIOR_DAYS = 4.0  # the prior day-to-day noise weighs as much as this many repeated days
SIZE_PRIOR_DAYS = 0.5  # in one size's standard error, the prior drift weighs half a day
CPU_SHARE_SD = 0.1
DEFAULT_CV = 0.3  # per-invocation coefficient of variation when an epoch gives no spread at all
MIN_SPREAD_CALLS = 20  # fewer calls than this say nothing of their spread (one call: p50 = p95 = avg)
MIN_P99_RATIO_SD = 0.05
PROPOSAL_WIDEN = 1.5
PROPOSAL_FACTOR = 4


class SizeData(Frozen):
    """What the epochs say about one memory size (pooled)."""

    memory_mb: int
    invocations: int
    mean_ms: float
    rel_se: float  # relative standard error of the mean
    p99_ratio: float | None = None
    cpu_share: float | None = None  # Lambda Insights CPU time / wall time
    max_memory_used_mb: float | None = None
    epochs: int = 1
    within_se: float | None = None  # relative SE of the mean from within-day spread only (no drift)
    day_var: float = 0.0  # calls-weighted variance of the log of the daily means (`_day_spread`)
    day_dof: float = 0.0  # its degrees of freedom: epochs - 1 when their calls are even, fewer when not
    # Each epoch's window, mean (ms) and relative SE from within its window: the residual field is
    # conditioned on epochs, so that two sizes of one window (a canary day) share that day's deviation.
    epoch_windows: tuple[tuple[datetime, datetime], ...] = ()
    epoch_means: tuple[float, ...] = ()
    epoch_se: tuple[float, ...] = ()


class FormFit(Frozen):
    form: str
    weight: float
    params: tuple[float, ...]  # (log y_ref, logit phi, log alpha): unbounded, so Gaussian draws stay valid
    covariance: tuple[tuple[float, ...], ...]
    chi2: float
    aic: float
    noise_scale: float = 1.0  # residuals larger than the stated noise widen it by this factor


class DurationFit(Frozen):
    function: str
    arch: Arch
    ref_mb: int
    forms: tuple[FormFit, ...]
    sizes: tuple[SizeData, ...]
    p99_ratio: float
    p99_ratio_sd: float  # of log(p99 / mean)
    rel_noise: float  # relative day-to-day noise of one future period's mean, used in intervals
    # the degrees of freedom behind rel_noise (prior days + repeated days): a new day's deviation is
    # Student-t with these, not normal, while the noise level itself is this uncertain
    rel_noise_dof: float = DAY_NOISE_PRIOR_DAYS
    discrepancy: float = MODEL_ERROR  # relative sd of the truth around the smooth form (between sizes)
    notes: tuple[str, ...] = ()

    @property
    def best(self) -> FormFit:
        return max(self.forms, key=lambda f: f.weight)

    def size(self, memory_mb: int) -> SizeData | None:
        """What was measured at `memory_mb`, if it was."""
        return next((s for s in self.sizes if s.memory_mb == memory_mb), None)

    def curve_fit(self) -> CurveFit:
        """The shared `CurveFit` view: the most likely form, its parameters and covariance."""
        best = self.best
        log_y, phi, alpha = natural(best.params)
        params = {"y_ref_ms": math.exp(log_y), "ref_mb": float(self.ref_mb), "cpu_share": phi, "alpha": alpha}
        params.update({f"weight_{f.form}": f.weight for f in self.forms})
        return CurveFit(
            function=self.function,
            arch=self.arch,
            form=best.form,
            params=params,
            covariance=best.covariance,
            observed_sizes=tuple(s.memory_mb for s in self.sizes),
            p99_ratio=self.p99_ratio,
            rel_noise=self.rel_noise,
            notes=self.notes,
        )


# ---------------------------------------------------------------- observations -> per-size data


def epoch_rel_se(epoch: Epoch, mean: float) -> float:
    """Relative standard error of an epoch's mean from within its window (sampling, hour-to-hour).

    From the calls-weighted spread of its periods' averages when there are several, never below what
    sampling alone gives (the spread of a few periods can come out small by chance); from the sampling
    alone otherwise. An epoch given only the unweighted spread (by a caller that does not compute the
    weighted error) uses that.
    """
    sd = DEFAULT_CV * mean
    if epoch.duration_p95_ms is not None and epoch.duration_p50_ms is not None:
        sd = max(epoch.duration_p95_ms - epoch.duration_p50_ms, 0.01 * mean) / 1.645
        if epoch.invocations < MIN_SPREAD_CALLS:  # a p95 of a handful of calls is one of them: no spread
            sd = max(sd, DEFAULT_CV * mean)
    sampling = sd / math.sqrt(max(epoch.invocations, 1)) / mean
    if epoch.periods >= 2 and epoch.duration_avg_se_ms is not None:
        return max(epoch.duration_avg_se_ms / mean, sampling)
    if epoch.periods >= 2 and epoch.duration_avg_spread_ms is not None:
        return max(epoch.duration_avg_spread_ms / math.sqrt(epoch.periods) / mean, sampling)
    return sampling


def _day_spread(means: FloatArray, w: FloatArray) -> tuple[float, float]:
    """(variance, degrees of freedom) of the log of the epochs' means at one size, each epoch weighted by
    its share of the calls: the reliability-weighted unbiased variance, with n_eff - 1 degrees of freedom
    (n_eff = 1 / sum of squared weights). Equal weights give the usual sample variance and k - 1.

    Unweighted, one quiet day (20 calls that all waited on an outage) counted as much as a day of
    100,000 and made the size look 260 % noisy; weighted, it is worth the few calls it had, and a
    variance resting on next to no degrees of freedom carries next to no weight (`_day_noise`)."""
    if means.size < 2 or not np.all(means > 0):
        return 0.0, 0.0
    logs = np.log(means)
    spread = float(w @ (logs - float(w @ logs)) ** 2)
    squares = float(np.sum(w**2))
    dof = 1.0 / squares - 1.0
    if dof <= 1e-9:
        return 0.0, 0.0
    return spread / (1.0 - squares), dof


def size_data(epochs: Sequence[Epoch], arch: Arch) -> list[SizeData]:
    """Pool the epochs of one architecture by memory size, weighting by invocations."""
    by_size: dict[int, list[Epoch]] = {}
    for epoch in epochs:
        if epoch.arch == arch and epoch.invocations > 0 and epoch.duration_avg_ms:
            by_size.setdefault(epoch.memory_mb, []).append(epoch)
    out = []
    for memory, group in sorted(by_size.items()):
        n = np.array([e.invocations for e in group], dtype=float)
        means = np.array([float(e.duration_avg_ms or 0.0) for e in group])
        w = n / n.sum()
        mean = float(w @ means)
        within2 = float(np.sum(w**2 * np.array([epoch_rel_se(e, mean) for e in group]) ** 2))
        day_var, day_dof = _day_spread(means, w)
        # epochs at one size disagree by more than their own noise: day-to-day drift, its estimate held
        # towards the prior by half a day (what one busy day beside a one-call day can say is little)
        drift = (SIZE_PRIOR_DAYS * DAY_NOISE**2 + day_dof * day_var) / (SIZE_PRIOR_DAYS + day_dof)
        rel_se2 = within2 + (drift * float(np.sum(w**2)) if day_dof > 0 else 0.0)
        ratios = [
            e.duration_p99_ms / e.duration_avg_ms for e in group if e.duration_p99_ms and e.duration_avg_ms
        ]
        reports = [e.reports for e in group if e.reports is not None]
        cpu = [r.cpu_ms_avg for r in reports if r.cpu_ms_avg is not None]
        mem = [
            v for r in reports for v in (r.max_memory_used_mb_max, r.max_memory_used_mb_p99) if v is not None
        ]
        out.append(
            SizeData(
                memory_mb=memory,
                invocations=int(n.sum()),
                mean_ms=mean,
                rel_se=math.sqrt(rel_se2),
                p99_ratio=float(np.median(ratios)) if ratios else None,
                cpu_share=float(np.mean(cpu)) / mean if cpu else None,
                max_memory_used_mb=max(mem) if mem else None,
                epochs=len(group),
                within_se=math.sqrt(within2),
                day_var=day_var,
                day_dof=day_dof,
                epoch_windows=tuple((e.start, e.end) for e in group),
                epoch_means=tuple(float(v) for v in means),
                epoch_se=tuple(epoch_rel_se(e, float(v)) for e, v in zip(group, means, strict=True)),
            )
        )
    return out


# ---------------------------------------------------------------- the forms


def _sigmoid(z: npt.ArrayLike) -> FloatArray:
    return np.asarray(1.0 / (1.0 + np.exp(-np.asarray(z, dtype=float))), dtype=float)


def natural(params: Sequence[float]) -> tuple[float, float, float]:
    """(log y_ref, CPU share, alpha) from the fitted (log y_ref, logit share, log alpha)."""
    return params[0], float(_sigmoid(params[1])), math.exp(params[2])


def cpu_scale(memory_mb: FloatArray, cap: float) -> FloatArray:
    return np.minimum(np.asarray(memory_mb, dtype=float) / VCPU_MB, cap)


def form_duration(form: str, params: FloatArray, ref_mb: float, memory_mb: FloatArray) -> FloatArray:
    """Duration (ms) for parameter rows `params` (k x 3) at sizes `memory_mb` (n): a k x n array."""
    p = np.atleast_2d(params)
    log_y, phi, alpha = p[:, 0:1], _sigmoid(p[:, 1:2]), np.exp(np.clip(p[:, 2:3], *np.log(ALPHA_BOUNDS)))
    if form == "io_bound":
        return np.exp(log_y) * np.ones((1, np.size(memory_mb)))
    cap = CAPS[form]
    ratio = cpu_scale(np.atleast_1d(memory_mb), cap)[None, :] / float(cpu_scale(np.array([ref_mb]), cap)[0])
    return np.asarray(np.exp(log_y) * ((1.0 - phi) + phi * ratio ** (-alpha)), dtype=float)


@dataclass(frozen=True)
class _Problem:
    """Weighted log residuals of one form (data, priors, CPU-share evidence) and their exact Jacobian.

    With phi = sigmoid(z), alpha = exp(a), u = (s(m) / s(m_ref))^-alpha and B = (1 - phi) + phi u, the
    model is log d = log y + log B and the CPU part's share of the duration is phi u / B. Exact
    derivatives spare finite differences four residual calls per step (most of a decision's time).
    """

    form: str
    log_r: FloatArray  # log(s(m) / s(m_ref)) at the observed sizes
    log_y: FloatArray
    sigma: FloatArray
    cpu_log_r: FloatArray  # the same at sizes with Lambda Insights CPU time
    cpu_share: FloatArray
    prior_mu: FloatArray = field(default_factory=lambda: np.array([LOGIT_PHI_PRIOR[0], LOG_ALPHA_PRIOR[0]]))
    prior_sd: FloatArray = field(default_factory=lambda: np.array([LOGIT_PHI_PRIOR[1], LOG_ALPHA_PRIOR[1]]))

    @classmethod
    def of(
        cls, form: str, data: Sequence[SizeData], ref_mb: int, log_y: FloatArray, sigma: FloatArray
    ) -> _Problem:
        cap = CAPS[form]
        ref = float(cpu_scale(np.array([float(ref_mb)]), cap)[0])

        def log_r(sizes: list[float]) -> FloatArray:
            return np.asarray(np.log(cpu_scale(np.array(sizes, dtype=float), cap) / ref), dtype=float)

        cpu = [(float(d.memory_mb), min(d.cpu_share, 1.0)) for d in data if d.cpu_share is not None]
        return cls(
            form=form,
            log_r=log_r([float(d.memory_mb) for d in data]),
            log_y=log_y,
            sigma=sigma,
            cpu_log_r=log_r([c[0] for c in cpu]),
            cpu_share=np.array([c[1] for c in cpu], dtype=float),
        )

    @staticmethod
    def _shape(x: FloatArray, log_r: FloatArray) -> tuple[float, float, FloatArray, FloatArray]:
        phi = float(_sigmoid(x[1]))
        alpha = math.exp(float(np.clip(x[2], *np.log(ALPHA_BOUNDS))))
        u = np.exp(-alpha * log_r)
        return phi, alpha, u, (1.0 - phi) + phi * u

    def residuals(self, x: FloatArray) -> FloatArray:
        _, _, _, b = self._shape(x, self.log_r)
        res = [(x[0] + np.log(b) - self.log_y) / self.sigma, (x[1:] - self.prior_mu) / self.prior_sd]
        if self.cpu_share.size:  # the CPU part's share of the duration against Lambda Insights
            phi, _, u, b_c = self._shape(x, self.cpu_log_r)
            res.append((phi * u / b_c - self.cpu_share) / CPU_SHARE_SD)
        return np.concatenate(res)

    def jacobian(self, x: FloatArray) -> FloatArray:
        clipped = not np.log(ALPHA_BOUNDS)[0] < x[2] < np.log(ALPHA_BOUNDS)[1]

        def d_u(alpha: float, u: FloatArray, log_r: FloatArray) -> FloatArray:
            return np.zeros_like(u) if clipped else -alpha * log_r * u

        phi, alpha, u, b = self._shape(x, self.log_r)
        dphi = phi * (1.0 - phi)
        rows = [
            np.column_stack([np.ones_like(b), dphi * (u - 1.0) / b, phi * d_u(alpha, u, self.log_r) / b])
            / self.sigma[:, None],
            np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]) / self.prior_sd[:, None],
        ]
        if self.cpu_share.size:
            phi, alpha, u, b = self._shape(x, self.cpu_log_r)
            dphi = phi * (1.0 - phi)
            du = d_u(alpha, u, self.cpu_log_r)
            rows.append(np.column_stack([np.zeros_like(u), dphi * u / b**2, dphi * du / b**2]) / CPU_SHARE_SD)
        return np.vstack(rows)


def _fit_form(form: str, data: Sequence[SizeData], ref_mb: int) -> FormFit:
    from scipy.optimize import least_squares  # lazy: scipy only where fitting runs

    m = np.array([d.memory_mb for d in data], dtype=float)
    log_y = np.log([d.mean_ms for d in data])
    sigma = np.sqrt(np.array([d.rel_se for d in data]) ** 2 + MODEL_ERROR**2)
    ref_mean = float(np.exp(np.interp(np.log(ref_mb), np.log(m), log_y)))

    if form == "io_bound":  # weighted mean in log space: closed form
        w = 1.0 / sigma**2
        mu = float(w @ log_y / w.sum())
        chi2 = float(np.sum(((log_y - mu) / sigma) ** 2))
        io_cov = ((1.0 / float(w.sum()), 0.0, 0.0), (0.0, 0.0, 0.0), (0.0, 0.0, 0.0))
        return FormFit(
            form=form, weight=0.0, params=(mu, -30.0, 0.0), covariance=io_cov, chi2=chi2, aic=chi2 + 2
        )

    problem = _Problem.of(form, data, ref_mb, log_y, sigma)
    best = None
    for z0 in (-1.5, 1.5):  # two starts: a mostly-I/O and a mostly-CPU guess
        x0 = [math.log(ref_mean), z0, 0.0]
        sol = least_squares(problem.residuals, x0, jac=problem.jacobian, method="trf", ftol=1e-6, xtol=1e-6)
        if best is None or sol.cost < best.cost:
            best = sol
    assert best is not None
    jac = np.asarray(best.jac, dtype=float)
    cov = np.linalg.pinv(jac.T @ jac)
    data_res = best.fun[: len(data)]
    chi2 = float(np.sum(data_res**2))
    dof = len(data) - 3
    if dof > 0:  # residuals larger than the stated noise: widen rather than trust the noise model
        cov = cov * max(1.0, chi2 / dof)
    k = min(3, len(data))
    return FormFit(
        form=form,
        weight=0.0,
        params=tuple(float(v) for v in best.x),
        covariance=tuple(tuple(float(v) for v in row) for row in cov),
        chi2=chi2,
        aic=chi2 + 2 * k,
        noise_scale=math.sqrt(max(1.0, chi2 / dof)) if dof > 0 else 1.0,
    )


def log_posterior(form: FormFit, params: FloatArray, data: Sequence[SizeData], ref_mb: int) -> FloatArray:
    """Unnormalised log posterior of parameter rows (k x 3): data, priors and CPU-share evidence."""
    m = np.array([d.memory_mb for d in data], dtype=float)
    sigma = np.sqrt(np.array([d.rel_se for d in data]) ** 2 + MODEL_ERROR**2) * form.noise_scale
    model = np.log(form_duration(form.form, params, ref_mb, m))
    chi2 = np.sum(((model - np.log([d.mean_ms for d in data])[None, :]) / sigma[None, :]) ** 2, axis=1)
    # Exact prior of the share: Beta(0.5, 0.5) seen in logit space (the fit used a Gaussian stand-in).
    chi2 += np.logaddexp(0.0, -params[:, 1]) + np.logaddexp(0.0, params[:, 1])
    chi2 += ((params[:, 2] - LOG_ALPHA_PRIOR[0]) / LOG_ALPHA_PRIOR[1]) ** 2
    fixed = np.exp(params[:, 0]) * (1.0 - _sigmoid(params[:, 1]))
    for d in data:
        if d.cpu_share is not None:
            total = form_duration(form.form, params, ref_mb, np.array([float(d.memory_mb)]))[:, 0]
            chi2 += (((total - fixed) / total - min(d.cpu_share, 1.0)) / CPU_SHARE_SD) ** 2
    return np.asarray(-0.5 * chi2, dtype=float)


def fit_duration(
    function: str, arch: Arch, epochs: Sequence[Epoch], *, ref_mb: int | None = None
) -> DurationFit:
    """Fit every plausible form to the epochs of `arch` and weight them by evidence.

    Raises ValueError when no epoch of that architecture has invocations.
    """
    data = size_data(epochs, arch)
    if not data:
        raise ValueError(f"{function}: no epoch of {arch} with invocations to fit")
    ref = ref_mb if ref_mb is not None else max(data, key=lambda d: d.invocations).memory_mb
    notes: list[str] = []
    forms = ["single_thread", "multi_thread"] + (["io_bound"] if len(data) >= 2 else [])
    prior = dict(FORM_PRIOR)
    if any(d.cpu_share is not None and d.cpu_share > 1.1 for d in data):
        prior["single_thread"] *= 0.05
        notes.append("CPU time exceeds wall time: multi-threaded")
    if len(data) == 1:
        source = "Lambda Insights" if data[0].cpu_share is not None else "the population prior"
        notes.append(f"one observed size: CPU share from {source}")
    fits = [_fit_form(f, data, ref) for f in forms if not _same_as_single(f, data, ref)]
    if len(fits) < len(forms):  # every size at or below one vCPU: multi-threading is not yet visible
        fits.insert(1, fits[0].model_copy(update={"form": "multi_thread"}))
    aic_min = min(f.aic for f in fits)
    raw = [prior[f.form] * math.exp(-(f.aic - aic_min) / 2) for f in fits]
    fits = [f.model_copy(update={"weight": w / sum(raw)}) for f, w in zip(fits, raw, strict=True)]
    return DurationFit(
        function=function,
        arch=arch,
        ref_mb=ref,
        forms=tuple(fits),
        sizes=tuple(data),
        p99_ratio=_p99_ratio(data)[0],
        p99_ratio_sd=_p99_ratio(data)[1],
        rel_noise=_day_noise(data),
        rel_noise_dof=DAY_NOISE_PRIOR_DAYS + sum(d.day_dof for d in data),
        discrepancy=_discrepancy(data, fits),
        notes=tuple(notes),
    )


def _same_as_single(form: str, data: Sequence[SizeData], ref_mb: int) -> bool:
    return form == "multi_thread" and max(ref_mb, *(d.memory_mb for d in data)) <= VCPU_MB


def _p99_ratio(data: Sequence[SizeData]) -> tuple[float, float]:
    ratios = np.array([d.p99_ratio for d in data if d.p99_ratio is not None], dtype=float)
    if ratios.size == 0:  # no percentile seen: a lognormal with cv 0.3 has p99 / mean of about 1.9
        return 1.9, 0.3
    logs = np.log(ratios)
    spread = float(np.std(logs, ddof=1)) if ratios.size > 1 else 0.0
    return float(np.exp(np.median(logs))), max(MIN_P99_RATIO_SD, spread)


def _discrepancy(data: Sequence[SizeData], fits: Sequence[FormFit]) -> float:
    dof = len(data) - 3
    chi2 = min(f.chi2 for f in fits)
    inflation = math.sqrt(max(1.0, chi2 / dof)) if dof > 0 else 1.0
    return max(MODEL_ERROR * inflation, DISCREPANCY_FLOOR)


def _day_noise(data: Sequence[SizeData]) -> float:
    """Day-to-day noise: the prior (DAY_NOISE) updated by the spread of daily means at repeated sizes.

    A scaled-inverse-chi-squared update: the prior counts as DAY_NOISE_PRIOR_DAYS days, every repeated
    day at one size as one more. A fixed floor would keep the noise at 3 % for a function that shows
    2 % over a week, and the p99 allowance (judged at 98 % confidence) would then stay about twice as
    far from its edge as the evidence warrants.
    """
    dof = sum(d.day_dof for d in data)
    ss = sum(d.day_dof * d.day_var for d in data)
    return math.sqrt((DAY_NOISE_PRIOR_DAYS * DAY_NOISE**2 + ss) / (DAY_NOISE_PRIOR_DAYS + dof))
