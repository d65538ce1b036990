"""The oracle, regret, guards and the two peer baselines of the memory benchmark, on ground truth.

Oracle: the best size at 1 MB resolution on the true interpolated curve, under the same strategy and the
same hard constraints as the agent (floor = true max memory used x headroom, timeout margin, the curve's
measured range as user bounds; for `default`, p99 within the allowance of the true p99 at the start).
Regret: `cost` and `default` on expected cost per invocation; `speed` on mean duration; `balanced` on
w * cost / max cost + (1 - w) * duration / max duration, both maxima over the allowed sizes (the Power
Tuning definition), all on ground truth.

Baselines:
- `power_tuning`: sizes 128, 256, 512, 1024, 1536, 3008 within the bounds (the bounds' ends when none
  is), 5 invocations each with the benchmark's noise, 20 % trimmed mean, chosen by strategy with Power
  Tuning's own cost (GB-s x rate, no request fee); `default` maps to its `cost`. Its tuning invocations
  are paid at true cost (`tuning_cost_usd`).
- `compute_optimizer`: passive, only for configured memory <= 1,792 MB and >= 50 invocations in 14 days
  (else keeps the size). Approximation of its documented behaviour from utilisation: memory-used p99
  below 50 % of the configuration -> MemoryOverprovisioned, recommend 2 x used rounded up to 64 MB;
  used above 80 % -> MemoryUnderprovisioned, recommend 1.5 x; otherwise Optimized (keep). It sees no
  duration curve, so it cannot find CPU-driven savings; that is the point of comparing with it.
- `fixed`: the start size kept.

Bounds (not policies: they read the truth), to show how much regret the data alone leaves:
- `bound_exact_grid`: the best of Power Tuning's sizes, each measured without any noise, under the
  oracle's constraints: what knowing the curve exactly, but only at those sizes, still costs.
- `bound_file_sizes`: the same on the sizes the curve file itself measured: what knowing every one of
  them exactly still costs. Between them the truth is the interpolation alone; with the power law (the
  default, `twin.curves`) the oracle sits between measured sizes only at a constraint's edge (a memory
  floor, the allowance), with `--interpolation pchip` also where PCHIP bows the cost below both sizes.
- `bound_allowance_day` and `bound_allowance_same_day` (`default` only; the oracle elsewhere): the
  cheapest size whose true p99 sits inside the allowance by z(1 - p99_risk) standard deviations of a
  p99 ratio measured without model error, i.e. what any rule that keeps the chance of breaking the
  allowance at `p99_risk` must give up. `day`: the trial and the baseline measured on different days
  (the day drift twice); `same_day`: a 10 % canary against the other 90 % of one day (sampling only).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from lambda_tuner.bench.memory_sim import (
    DAY_DRIFT_SIGMA,
    LOGNORMAL_SIGMA,
    MAX_SAMPLES_PER_DAY,
    FloatArray,
    Truth,
)
from lambda_tuner.core.exploration import BoolArray
from lambda_tuner.core.models import Strategy
from lambda_tuner.core.optimizer import MemoryPolicy
from lambda_tuner.core.pricing import PriceTable

POWER_TUNING_SIZES = (128, 256, 512, 1024, 1536, 3008)


@dataclass(frozen=True)
class Ground:
    """True quantities over every size of the measured range, for one curve, start and strategy."""

    memory_mb: FloatArray
    mean: FloatArray
    p99: FloatArray
    cost: FloatArray  # expected USD per invocation
    allowed: BoolArray  # hard constraints (and the default strategy's allowance)
    objective: FloatArray
    oracle_mb: int

    def at(self, memory_mb: int) -> int:
        return int(np.clip(memory_mb, self.memory_mb[0], self.memory_mb[-1]) - self.memory_mb[0])

    def regret(self, memory_mb: int) -> float:
        return float(self.objective[self.at(memory_mb)] / self.objective[self.at(self.oracle_mb)] - 1)


def ground(
    truth: Truth,
    strategy: Strategy,
    policy: MemoryPolicy,
    *,
    start_mb: int,
    cold_rate: float,
    prices: PriceTable,
) -> Ground:
    lo, hi = truth.bounds
    m = np.arange(lo, hi + 1, dtype=float)
    mean, p99 = truth.mean(m), truth.p99(m)
    cost = truth.cost_per_invocation(m, cold_rate, prices)
    hard = (m >= truth.max_memory_used_mb * policy.memory_headroom) & (
        p99 < policy.timeout_margin * truth.timeout_s * 1000
    )
    if not hard.any():
        hard = m == m[-1]
    allowed = hard.copy()
    if strategy == "default":
        allowed &= p99 <= (1 + policy.p99_allowance) * float(truth.p99(start_mb)) * (1 + 1e-9)
        if not allowed.any():
            allowed = hard
    if strategy in ("default", "cost"):
        objective = cost
    elif strategy == "speed":
        objective = mean
    else:
        w = policy.balanced_weight
        objective = w * cost / cost[hard].max() + (1 - w) * mean / mean[hard].max()
    masked = np.where(allowed, objective, np.inf)
    if strategy == "speed":  # ties on duration: the cheapest of them
        masked = np.where(masked <= masked.min() * (1 + 1e-9), cost, np.inf)
    return Ground(
        memory_mb=m,
        mean=mean,
        p99=p99,
        cost=cost,
        allowed=allowed,
        objective=objective,
        oracle_mb=int(m[int(np.argmin(masked))]),
    )


def violations(
    truth: Truth, g: Ground, policy: MemoryPolicy, *, strategy: Strategy, start_mb: int, memory_mb: int
) -> list[str]:
    """Which hard guards an applied size breaks, judged on ground truth."""
    lo, hi = truth.bounds
    out = []
    if not lo <= memory_mb <= hi:
        return ["outside bounds"]
    i = g.at(memory_mb)
    if memory_mb < truth.max_memory_used_mb * policy.memory_headroom:
        out.append("below memory floor")
    if g.p99[i] >= policy.timeout_margin * truth.timeout_s * 1000:
        out.append("p99 above timeout margin")
    if strategy == "default" and g.p99[i] > (1 + policy.p99_allowance) * float(truth.p99(start_mb)) * (
        1 + 1e-6
    ):
        out.append("p99 worse than allowance")
    return out


def power_tuning_sizes(truth: Truth) -> list[int]:
    """Power Tuning's default sizes within the curve's bounds (the bounds' ends when none is)."""
    lo, hi = truth.bounds
    return [s for s in POWER_TUNING_SIZES if lo <= s <= hi] or sorted({lo, hi})


def power_tuning(
    truth: Truth,
    strategy: Strategy,
    policy: MemoryPolicy,
    *,
    prices: PriceTable,
    cold_rate: float,
    rng: np.random.Generator,
) -> tuple[int, float]:
    """(chosen size, tuning cost in USD) of a Power-Tuning-like run."""
    sizes = power_tuning_sizes(truth)
    trimmed, spent = [], 0.0
    for size in sizes:
        samples = np.sort(truth.sample(size, 5, math.exp(0.02 * rng.standard_normal()), rng))
        k = int(len(samples) * 0.2)
        trimmed.append(float(np.mean(samples[k : len(samples) - k])))
        spent += 5 * float(truth.cost_per_invocation(size, cold_rate, prices))
    gb_s = np.asarray(sizes, dtype=float) / 1024 * np.asarray(trimmed) / 1000
    cost = gb_s * prices.tier1_usd_per_gb_s(truth.curve.arch)  # type: ignore[arg-type]
    dur = np.asarray(trimmed)
    if strategy == "speed":
        score = dur
    elif strategy == "balanced":
        w = policy.balanced_weight
        score = w * cost / cost.max() + (1 - w) * dur / dur.max()
    else:
        score = cost
    return sizes[int(np.argmin(score))], spent


def compute_optimizer(truth: Truth, configured_mb: int, invocations_14d: int) -> int:
    if configured_mb > 1792 or invocations_14d < 50:
        return configured_mb
    lo, hi = truth.bounds
    used = truth.max_memory_used_mb * 0.97
    if used < 0.5 * configured_mb:
        target = max(128, math.ceil(2 * used / 64) * 64)
    elif used > 0.8 * configured_mb:
        target = math.ceil(1.5 * configured_mb)
    else:
        return configured_mb
    return int(np.clip(target, lo, hi))


def exact_grid(truth: Truth, g: Ground, sizes: list[int] | None = None) -> int:
    """The best of `sizes` (Power Tuning's by default) on the true curve, under the oracle's constraints
    (a bound)."""
    index = [g.at(s) for s in (power_tuning_sizes(truth) if sizes is None else sizes)]
    usable = [i for i in index if g.allowed[i]] or index
    return int(g.memory_mb[min(usable, key=lambda i: float(g.objective[i]))])


def allowance_sds(truth: Truth, canary_share: float = 0.1) -> dict[str, float]:
    """Relative sd of a measured p99 ratio: across two days, and a canary against the rest of its day."""
    if truth.noise_pool is not None:
        cv = float(np.std(truth.noise_pool))
    else:
        cv = math.sqrt(math.exp(LOGNORMAL_SIGMA**2) - 1)
    n = MAX_SAMPLES_PER_DAY
    same_day = cv * math.sqrt(1 / (canary_share * n) + 1 / ((1 - canary_share) * n))
    return {"day": math.sqrt(2) * DAY_DRIFT_SIGMA, "same_day": same_day}


def cautious(truth: Truth, g: Ground, policy: MemoryPolicy, *, start_mb: int, rel_sd: float) -> int:
    """`default`: the cheapest allowed size whose true p99 is z * rel_sd inside the allowance (a bound).

    Other strategies have no allowance: the oracle."""
    if policy.strategy != "default":
        return g.oracle_mb
    z = NormalDist().inv_cdf(1 - policy.p99_risk)
    limit = (1 + policy.p99_allowance) * float(truth.p99(start_mb)) * math.exp(-z * rel_sd)
    usable = g.allowed & (g.p99 <= limit)
    usable[g.at(start_mb)] |= g.allowed[g.at(start_mb)]  # staying risks nothing: it is the baseline
    if not usable.any():  # the start breaks a hard constraint and nothing is inside the cautious limit
        return g.oracle_mb
    return int(g.memory_mb[int(np.argmin(np.where(usable, g.objective, np.inf)))])
