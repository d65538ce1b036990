"""Ground truth and simulated days for the memory benchmark: what the collector would hand the agent.

The truth (a curve from the file, its noise, memory use, INIT, timeout) lives here and never reaches the
agent: each simulated day yields only an `Epoch` built from noisy samples, like CloudWatch metrics and
REPORT lines would.

Documented modelling choices:
- Per-invocation noise: bootstrapped from the file's own relative deviations when a curve has several
  samples per size; otherwise lognormal with sigma 0.15 (mean-preserving).
- Day-to-day drift: every simulated day multiplies all durations by lognormal(0, 0.02) (host and
  neighbour variation that one day's data cannot average away).
- Memory used: the file's `max_memory_used_mb` column when present; otherwise 60 % of the smallest
  measured size (so the floor never binds on files without that column).
- INIT: the file's `init_duration_ms` when present; otherwise 250 ms. Cold starts come from traffic gaps.
- Timeout: 3 x the worst true p99 over the measured range, between 3 s and 900 s, rounded up to a second.
- Canary days (functions invoked through an alias): each minute's calls are split binomially by the
  routing weight; both streams share the day's drift and keep their own warm environments.
- Traffic: per curve, one Azure 2019 trace function with 2,000–500,000 calls in its day, replayed every
  simulated day with Poisson noise and a lognormal(0, 0.1) day factor; without the trace a synthetic
  diurnal day of 20,000 calls. Statistics come from at most 4,000 sampled invocations a day (periods of
  one hour), the cold starts and invocation count from the full day.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt

from lambda_tuner.core.cost import cost_rates
from lambda_tuner.core.models import Epoch, ReportStats
from lambda_tuner.core.pricing import PriceTable
from lambda_tuner.core.report_windows import weighted_mean_se
from lambda_tuner.twin.azure_trace import Trace
from lambda_tuner.twin.curves import Curve

FloatArray = npt.NDArray[np.float64]

LOGNORMAL_SIGMA = 0.15
DAY_DRIFT_SIGMA = 0.02
DEFAULT_INIT_MS = 250.0
MAX_SAMPLES_PER_DAY = 4000
COLD_GAP_MINUTES = 15  # an environment idle this long is reclaimed: the next call is a cold start


@dataclass(frozen=True)
class Truth:
    curve: Curve
    noise_pool: FloatArray | None  # relative deviations (mean 1) from the file's own cells
    max_memory_used_mb: float
    init_ms: float
    timeout_s: int

    @property
    def bounds(self) -> tuple[int, int]:
        return self.curve.bounds

    @property
    def p99_factor(self) -> float:
        if self.noise_pool is not None:
            return float(np.quantile(self.noise_pool, 0.99))
        s = LOGNORMAL_SIGMA
        return math.exp(2.326 * s - s * s / 2)

    def mean(self, memory_mb: npt.ArrayLike) -> FloatArray:
        return np.asarray(self.curve.duration(np.asarray(memory_mb, dtype=float)), dtype=float)

    def p99(self, memory_mb: npt.ArrayLike) -> FloatArray:
        return self.mean(memory_mb) * self.p99_factor

    def sample(self, memory_mb: int, n: int, drift: float, rng: np.random.Generator) -> FloatArray:
        if self.noise_pool is not None:
            rel = rng.choice(self.noise_pool, size=n)
        else:
            s = LOGNORMAL_SIGMA
            rel = np.exp(s * rng.standard_normal(n) - s * s / 2)
        return np.asarray(float(self.mean(memory_mb)) * drift * rel, dtype=float)

    def cost_per_invocation(
        self, memory_mb: npt.ArrayLike, cold_rate: float, prices: PriceTable
    ) -> FloatArray:
        """Expected USD per call: request + 1 ms billing (mean + 0.5 ms) + INIT on cold starts."""
        rates = cost_rates(prices, self.curve.arch)  # type: ignore[arg-type]
        gb = np.asarray(memory_mb, dtype=float) / 1024
        billed = self.mean(memory_mb) + 0.5 + cold_rate * (self.init_ms + 0.5)
        return np.asarray(rates.request_usd + gb * billed * rates.duration_usd_per_gb_ms, dtype=float)


def make_truth(curve: Curve) -> Truth:
    pool = curve.relative_noise()
    lo, hi = curve.bounds
    worst_p99 = float(np.max(curve.duration(np.arange(lo, hi + 1, dtype=float))))
    base = Truth(
        curve=curve,
        noise_pool=pool if pool.size >= 5 else None,
        max_memory_used_mb=0.0,
        init_ms=0.0,
        timeout_s=0,
    )
    timeout = int(min(900, max(3, math.ceil(3 * worst_p99 * base.p99_factor / 1000))))
    return Truth(
        curve=curve,
        noise_pool=base.noise_pool,
        max_memory_used_mb=curve.max_memory_used_mb or 0.6 * lo,
        init_ms=curve.init_duration_ms or DEFAULT_INIT_MS,
        timeout_s=timeout,
    )


# ---------------------------------------------------------------- traffic


@dataclass(frozen=True)
class Traffic:
    per_minute: FloatArray  # the template day (1440 minutes)
    source: str

    def day(self, rng: np.random.Generator) -> FloatArray:
        factor = math.exp(0.1 * rng.standard_normal())
        return np.asarray(rng.poisson(self.per_minute * factor), dtype=float)

    def mean_cold_rate(self) -> float:
        return cold_starts(self.per_minute) / max(1.0, float(self.per_minute.sum()))


def cold_starts(per_minute: FloatArray) -> int:
    active = per_minute > 0
    idle_before = np.ones_like(active)
    run = COLD_GAP_MINUTES  # the day starts cold
    for i, a in enumerate(active):
        idle_before[i] = run >= COLD_GAP_MINUTES
        run = 0 if a else run + 1
    return int(np.sum(active & idle_before))


def pick_traffic(trace: Trace | None, index: int, rng: np.random.Generator) -> Traffic:
    if trace is not None:
        eligible = [f for f in trace.functions if 2_000 <= f.per_minute.sum() <= 500_000]
        if eligible:
            chosen = eligible[int(rng.integers(len(eligible)))] if index >= 0 else eligible[0]
            return Traffic(
                per_minute=np.asarray(chosen.per_minute, dtype=float), source=f"azure:{chosen.key}"
            )
    minutes = np.arange(1440)
    shape = 1.0 + 0.6 * np.sin(2 * np.pi * (minutes - 480) / 1440)
    return Traffic(per_minute=20_000 * shape / shape.sum(), source="synthetic-diurnal-20k")


# ---------------------------------------------------------------- one simulated day


@dataclass(frozen=True)
class Day:
    epoch: Epoch
    cost_per_invocation: float  # realised, 1 ms billing of the sampled durations + INIT
    p99_ms: float  # realised
    invocations: int


def simulate_day(
    truth: Truth,
    memory_mb: int,
    minutes: FloatArray,
    *,
    start: datetime,
    prices: PriceTable,
    rng: np.random.Generator,
) -> Day:
    drift = math.exp(DAY_DRIFT_SIGMA * rng.standard_normal())
    return _one_stream(truth, memory_mb, minutes, drift, start=start, prices=prices, rng=rng)


def simulate_canary_day(
    truth: Truth,
    main_mb: int,
    trial_mb: int,
    weight: float,
    minutes: FloatArray,
    *,
    start: datetime,
    prices: PriceTable,
    rng: np.random.Generator,
) -> tuple[Day, Day]:
    """A day on which an alias routes `weight` of each minute's calls to a version at `trial_mb`.

    Both streams see the same day (one drift); each keeps its own warm environments, so the canary's
    thinner traffic starts cold more often. Its `cost_per_invocation` is priced with the whole day's
    cold-start rate: the projection it is checked against is for the trial size on all the traffic.
    """
    drift = math.exp(DAY_DRIFT_SIGMA * rng.standard_normal())
    routed = np.asarray(rng.binomial(minutes.astype(np.int64), weight), dtype=float)
    full_cold = cold_starts(minutes) / max(float(minutes.sum()), 1.0)
    main = _one_stream(truth, main_mb, minutes - routed, drift, start=start, prices=prices, rng=rng)
    trial = _one_stream(
        truth, trial_mb, routed, drift, start=start, prices=prices, rng=rng, cost_cold_rate=full_cold
    )
    return main, replace(trial, epoch=trial.epoch.model_copy(update={"canary": True}))


def _one_stream(
    truth: Truth,
    memory_mb: int,
    minutes: FloatArray,
    drift: float,
    *,
    start: datetime,
    prices: PriceTable,
    rng: np.random.Generator,
    cost_cold_rate: float | None = None,
) -> Day:
    total = int(minutes.sum())
    n = max(1, min(total, MAX_SAMPLES_PER_DAY))
    durations = truth.sample(memory_mb, n, drift, rng)
    hourly = minutes.reshape(24, -1).sum(axis=1)
    period = rng.choice(24, size=n, p=hourly / hourly.sum()) if hourly.sum() > 0 else np.zeros(n, int)
    per_period = [durations[period == h] for h in range(24) if np.any(period == h)]
    period_means = [float(np.mean(p)) for p in per_period]
    colds = cold_starts(minutes)
    rates = cost_rates(prices, truth.curve.arch)  # type: ignore[arg-type]
    gb = memory_mb / 1024
    cold_rate = colds / max(total, 1) if cost_cold_rate is None else cost_cold_rate
    billed = float(np.mean(np.ceil(durations))) + cold_rate * math.ceil(truth.init_ms)
    p50, p95, p99 = np.percentile(durations, [50, 95, 99])
    used = min(truth.max_memory_used_mb, float(memory_mb))  # a function cannot use more than it has
    reports = ReportStats(
        invocations=total,
        cold_starts=colds,
        init_ms_avg=truth.init_ms * float(rng.uniform(0.95, 1.05)),
        max_memory_used_mb_p99=used * 0.97,
        max_memory_used_mb_max=used,
        billed_ms_avg=float(np.mean(np.ceil(durations))),
    )
    epoch = Epoch(
        memory_mb=memory_mb,
        arch=truth.curve.arch,
        start=start,
        end=start + timedelta(days=1),
        invocations=total,
        errors=int(0.02 * total) if truth.max_memory_used_mb > memory_mb else 0,  # out-of-memory kills
        duration_avg_ms=float(np.mean(durations)),
        duration_p50_ms=float(p50),
        duration_p95_ms=float(p95),
        duration_p99_ms=float(p99),
        duration_max_ms=float(np.max(durations)),
        periods=len(per_period),
        duration_avg_spread_ms=float(np.std(period_means, ddof=1)) if len(per_period) > 1 else None,
        duration_avg_se_ms=weighted_mean_se(period_means, [float(p.size) for p in per_period]),
        duration_p99_spread_ms=None,
        reports=reports,
    )
    return Day(
        epoch=epoch,
        cost_per_invocation=rates.request_usd + gb * billed * rates.duration_usd_per_gb_ms,
        p99_ms=float(p99),
        invocations=total,
    )
