"""The per-minute cost model of provisioned concurrency (PC), vectorised over candidate levels.

For one function with `counts[t]` calls in minute t and mean duration `mean_ms`:
- work a_t = counts_t × mean_ms / 60,000 (mean busy environments, Little's law);
- need_t = ⌈a_t⌉ environments (0 when no calls);
- the on-demand warm pool in minute t is the largest need of the previous `keep_alive` minutes (an
  environment stays warm that long after its last use); it is a function of traffic only, not of PC, so
  the cold starts of a minute depend only on that minute's PC level — which makes hour-by-hour
  optimisation exact;
- cold starts_t = max(0, need_t − max(pool_t, PC_t)); each bills `init_s` of INIT at the on-demand rate;
- PC is billed per minute whether used or not; the share min(PC_t, a_t) / a_t of the minute's work is
  billed at the PC duration rate, the rest (spillover) at the on-demand rate.
Request fees are identical for every PC level and are left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from lambda_tuner.core.pc_prices import PcPrices

FloatArray = NDArray[np.float64]

DEFAULT_KEEP_ALIVE_MIN = 10
DEFAULT_INIT_S = 0.5
# Above this many (levels × minutes) cells the tables are built one block at a time to bound memory.
_MAX_CELLS = 2_000_000


@dataclass(frozen=True)
class ModelParams:
    memory_mb: int = 1024
    keep_alive_min: int = DEFAULT_KEEP_ALIVE_MIN
    init_s: float = DEFAULT_INIT_S

    def __post_init__(self) -> None:
        if self.memory_mb <= 0 or self.keep_alive_min < 0 or self.init_s < 0:
            raise ValueError(f"invalid model parameters: {self}")

    @property
    def gb(self) -> float:
        return self.memory_mb / 1024


@dataclass(frozen=True)
class LevelTables:
    """cost[L, b] (USD) and cold[L, b] (cold starts) of PC level L in block b (e.g. one hour)."""

    cost: FloatArray
    cold: FloatArray

    def objective(self, lam: float) -> FloatArray:
        return self.cost + lam * self.cold

    @property
    def max_level(self) -> int:
        return int(self.cost.shape[0] - 1)


def work(counts: FloatArray, mean_ms: float) -> FloatArray:
    if mean_ms <= 0:
        raise ValueError(f"mean duration must be positive, got {mean_ms}")
    counts = np.asarray(counts, dtype=float)
    if np.any(counts < 0):
        raise ValueError("invocation counts must not be negative")
    return counts * (mean_ms / 60_000.0)


def need(counts: FloatArray, mean_ms: float) -> FloatArray:
    # A tiny tolerance keeps 2.0000000001 from becoming 3 environments through float noise.
    return np.ceil(work(counts, mean_ms) - 1e-9).clip(min=0.0)


def warm_pool(need_series: FloatArray, keep_alive_min: int) -> FloatArray:
    """pool[t] = max(need[t-k .. t-1]); the day starts with nothing warm."""
    n = len(need_series)
    if keep_alive_min == 0 or n == 0:
        return np.zeros(n)
    padded = np.concatenate([np.zeros(keep_alive_min), need_series])
    windows = np.lib.stride_tricks.sliding_window_view(padded[:-1], keep_alive_min)
    return np.asarray(windows.max(axis=1), dtype=float)


def minute_rates(prices: PcPrices, params: ModelParams) -> tuple[float, float, float, float]:
    """USD per environment-minute: PC allocation, PC-served work, on-demand work; USD per cold start."""
    gb_min = params.gb * 60.0
    return (
        prices.pc_allocation_gb_s * gb_min,
        prices.pc_duration_gb_s * gb_min,
        prices.duration_gb_s * gb_min,
        prices.duration_gb_s * params.gb * params.init_s,
    )


def minute_costs(
    counts: FloatArray, mean_ms: float, pc: FloatArray, prices: PcPrices, params: ModelParams
) -> tuple[FloatArray, FloatArray]:
    """(cost_t, cold_t) for an arbitrary per-minute PC level series (used for target tracking)."""
    a = work(counts, mean_ms)
    n = need(counts, mean_ms)
    pool = warm_pool(n, params.keep_alive_min)
    alloc, pc_rate, od_rate, init_cost = minute_rates(prices, params)
    pc = np.asarray(pc, dtype=float)
    served = np.minimum(pc, a)
    cold = np.maximum(0.0, n - np.maximum(pool, pc))
    cost = alloc * pc + pc_rate * served + od_rate * (a - served) + init_cost * cold
    return cost, cold


def level_tables(
    counts: FloatArray,
    mean_ms: float,
    prices: PcPrices,
    params: ModelParams,
    *,
    block_min: int = 60,
    max_level: int | None = None,
) -> LevelTables:
    """Cost and cold starts of every level 0..max_level in every block of per-minute counts.

    Causal: block b uses counts up to the end of block b only, so the tables of a prefix of the day
    equal the first columns of the tables of the whole day.
    """
    return series_tables(
        work(counts, mean_ms), need(counts, mean_ms), prices, params, block_periods=block_min,
        max_level=max_level,
    )


def series_tables(
    a: FloatArray,
    n: FloatArray,
    prices: PcPrices,
    params: ModelParams,
    *,
    period_s: int = 60,
    block_periods: int = 60,
    max_level: int | None = None,
) -> LevelTables:
    """The same tables from per-period work `a` (mean busy environments) and need `n` (environments).

    This is how the policy reads CloudWatch: need is the period's maximum concurrency, work is
    invocations × mean duration / period; the keep-alive is rounded up to whole periods.
    """
    a, n = np.asarray(a, dtype=float), np.asarray(n, dtype=float)
    if a.shape != n.shape or a.ndim != 1:
        raise ValueError("work and need must be one-dimensional series of the same length")
    if period_s <= 0 or block_periods <= 0 or len(a) % block_periods:
        raise ValueError(f"{len(a)} periods is not a whole number of {block_periods}-period blocks")
    scale = period_s / 60.0
    pool = warm_pool(n, int(np.ceil(params.keep_alive_min / scale)))
    top = int(n.max(initial=0.0)) if max_level is None else max_level
    levels = np.arange(top + 1, dtype=float)[:, None]
    alloc, pc_rate, od_rate, init_cost = minute_rates(prices, params)
    alloc, pc_rate, od_rate = alloc * scale, pc_rate * scale, od_rate * scale
    blocks = len(a) // block_periods
    cost = np.empty((top + 1, blocks))
    cold = np.empty((top + 1, blocks))
    step = max(1, _MAX_CELLS // ((top + 1) * block_periods))
    for b0 in range(0, blocks, step):
        nb = min(blocks, b0 + step) - b0
        sl = slice(b0 * block_periods, (b0 + nb) * block_periods)
        a_s, n_s, p_s = a[sl][None, :], n[sl][None, :], pool[sl][None, :]
        served = np.minimum(levels, a_s)
        cold_m = np.maximum(0.0, n_s - np.maximum(p_s, levels))
        cost_m = alloc * levels + pc_rate * served + od_rate * (a_s - served) + init_cost * cold_m
        cost[:, b0 : b0 + nb] = cost_m.reshape(top + 1, nb, block_periods).sum(axis=2)
        cold[:, b0 : b0 + nb] = cold_m.reshape(top + 1, nb, block_periods).sum(axis=2)
    return LevelTables(cost=cost, cold=cold)
