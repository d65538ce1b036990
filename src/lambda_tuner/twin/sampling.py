"""Counter-based randomness and the statistics of per-invocation samples, without drawing them.

Every random number in the twin is a hash of (seed, function, purpose, counter): any minute, period or
window can be computed on its own, in any order, and always gives the same answer.

Percentiles of n invocations are drawn as order statistics: the k-th smallest of n uniforms follows
Beta(k, n + 1 - k), so one Beta draw mapped through the duration distribution's quantile function is
exactly a sample percentile of n calls — noisy for small n like real data, and O(1) whatever n is. All
statistics of one period share one uniform (a comonotone coupling), so min <= p50 <= p99 <= max always.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy.special import betaincinv, gammaln, ndtr, ndtri

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def stable_key(*parts: object) -> int:
    """A 64-bit key from any printable parts, stable across processes (unlike `hash`)."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def hash_uniform(key: int, counters: np.ndarray | int) -> np.ndarray:
    """Uniforms in (0, 1), one per counter (splitmix64 of key and counter)."""
    c = np.atleast_1d(np.asarray(counters, dtype=np.int64)).view(np.uint64)
    with np.errstate(over="ignore"):
        z = c * _GOLDEN + np.uint64(key & 0xFFFFFFFFFFFFFFFF)
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        z = z ^ (z >> np.uint64(31))
    return np.asarray(((z >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53, dtype=float)


def random_round(x: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Round to an integer up or down so that the expectation is exact."""
    return np.asarray(np.floor(x + u), dtype=np.int64)


def poisson_from_uniform(lam: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Poisson(lam) by inverting its CDF at u; normal approximation above 40 per draw."""
    lam = np.asarray(lam, dtype=float)
    out = np.zeros(lam.shape, dtype=np.int64)
    big = lam > 40.0
    if big.any():
        out[big] = np.maximum(0, np.round(lam[big] + np.sqrt(lam[big]) * ndtri(u[big])))
    small = ~big & (lam > 0)
    if small.all() and lam.size and lam.min() == lam.max():
        return _poisson_constant(float(lam[0]), u)
    idx = np.flatnonzero(small)
    p = np.exp(-lam[idx])
    cdf = p.copy()
    k = 0
    while idx.size and k < 200:
        more = u[idx] > cdf
        idx, p, cdf = idx[more], p[more], cdf[more]
        k += 1
        out[idx] += 1
        p = p * lam[idx] / k
        cdf = cdf + p
    return out


def _poisson_constant(lam: float, u: np.ndarray) -> np.ndarray:
    """One rate for every draw (steady traffic): search a CDF table instead of iterating."""
    k = np.arange(int(lam + 12 * math.sqrt(lam) + 12))
    pmf = np.exp(-lam + k * math.log(lam) - gammaln(k + 1))
    return np.asarray(np.searchsorted(np.cumsum(pmf), u), dtype=np.int64)


class Noise(Protocol):
    """Distribution of duration / mean duration for one invocation (mean 1)."""

    @property
    def cv(self) -> float: ...

    def ppf(self, u: np.ndarray) -> np.ndarray: ...

    def cdf(self, r: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class LogNormalNoise:
    """Lognormal with mean 1 and coefficient of variation `cv`: p99/mean = exp(2.326 s - s²/2)."""

    cv: float

    @property
    def sigma(self) -> float:
        return math.sqrt(math.log1p(self.cv**2))

    def ppf(self, u: np.ndarray) -> np.ndarray:
        s = self.sigma
        return np.asarray(np.exp(s * ndtri(u) - s * s / 2), dtype=float)

    def cdf(self, r: np.ndarray) -> np.ndarray:
        s = max(self.sigma, 1e-9)
        with np.errstate(divide="ignore"):
            return np.asarray(ndtr((np.log(r) + s * s / 2) / s), dtype=float)


@dataclass(frozen=True, eq=False)
class EmpiricalNoise:
    """Measured relative deviations (sample / cell mean), interpolated between order statistics."""

    ratios: np.ndarray

    def __post_init__(self) -> None:
        r = np.sort(np.asarray(self.ratios, dtype=float))
        object.__setattr__(self, "ratios", r / r.mean())

    @property
    def cv(self) -> float:
        return float(np.std(self.ratios))

    def _probs(self) -> np.ndarray:
        return (np.arange(self.ratios.size) + 0.5) / self.ratios.size

    def ppf(self, u: np.ndarray) -> np.ndarray:
        return np.asarray(np.interp(u, self._probs(), self.ratios), dtype=float)

    def cdf(self, r: np.ndarray) -> np.ndarray:
        return np.asarray(np.interp(r, self.ratios, self._probs(), left=0.0, right=1.0), dtype=float)


def order_stat(q: float, weights: np.ndarray, means: np.ndarray, noises: Sequence[Noise],
               u: np.ndarray) -> np.ndarray:
    """Sample q-quantile (q in (0, 1]; q=1 is the maximum, q=0 the minimum) per row.

    weights[P, K]: calls per period and component; component k has mean `means[k]` and noise
    `noises[k]`. Rows without calls give NaN.
    """
    n = weights.sum(axis=1)
    out = np.full(n.shape, np.nan)
    has = n > 0
    if not has.any():
        return out
    nn = n[has]
    k = np.clip(np.ceil(q * nn), 1, nn)
    level = betaincinv(k, nn - k + 1, u[has])
    w = weights[has]
    single = np.count_nonzero(w, axis=1) == 1
    res = np.empty(nn.shape)
    if single.any():
        comp = np.argmax(w[single], axis=1)
        res[single] = _ppf_by_component(comp, level[single], means, noises)
    if (~single).any():
        res[~single] = _mixture_ppf(w[~single] / nn[~single, None], means, noises, level[~single])
    out[has] = res
    return out


def _ppf_by_component(comp: np.ndarray, level: np.ndarray, means: np.ndarray,
                      noises: Sequence[Noise]) -> np.ndarray:
    res = np.empty(level.shape)
    for c in np.unique(comp):
        sel = comp == c
        res[sel] = means[c] * noises[c].ppf(level[sel])
    return res


def _mixture_ppf(w: np.ndarray, means: np.ndarray, noises: Sequence[Noise], level: np.ndarray) -> np.ndarray:
    """Invert the mixture CDF by bisection in log space (vectorised over rows)."""
    lo = np.full(level.shape, math.log(float(means.min())) - 8.0)
    hi = np.full(level.shape, math.log(float(means.max())) + 8.0)
    for _ in range(48):
        mid = (lo + hi) / 2
        x = np.exp(mid)
        cdf = np.zeros(level.shape)
        for c in range(means.size):
            cdf += w[:, c] * noises[c].cdf(x / means[c])
        below = cdf < level
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    return np.asarray(np.exp((lo + hi) / 2), dtype=float)


def sample_mean(weights: np.ndarray, means: np.ndarray, noises: Sequence[Noise], u: np.ndarray, *,
                lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Mean of n calls (central limit draw), kept within the period's sampled [min, max]."""
    n = weights.sum(axis=1)
    safe = np.maximum(n, 1)
    cvs = np.array([nz.cv for nz in noises])
    mu = (weights * means).sum(axis=1) / safe
    second = (weights * means**2 * (1 + cvs**2)).sum(axis=1) / safe
    sd = np.sqrt(np.maximum(second - mu**2, 0.0))
    draw = mu + sd / np.sqrt(safe) * ndtri(u)
    return np.where(n > 0, np.clip(draw, lo, hi), np.nan)


def excess_fraction(c: np.ndarray, cap: np.ndarray) -> np.ndarray:
    """Share of demand above `cap` when concurrency is roughly Poisson with mean c (normal approx)."""
    c = np.asarray(c, dtype=float)
    sd = np.sqrt(np.maximum(c, 1e-12))
    z = (cap - c) / sd
    excess = sd * np.exp(-z * z / 2) / math.sqrt(2 * math.pi) + (c - cap) * (1 - ndtr(z))
    frac = np.where(c > 0, np.clip(excess / np.maximum(c, 1e-12), 0.0, 1.0), 0.0)
    return np.where(cap <= 0, 1.0, frac)


def peak_concurrency(c: np.ndarray, calls: np.ndarray) -> np.ndarray:
    """Peak concurrent executions in a minute from mean concurrency c: a burst margin, at most `calls`."""
    peak = np.ceil(c + 1.5 * np.sqrt(c))
    return np.where(calls > 0, np.minimum(np.maximum(peak, 1), calls), 0).astype(float)
