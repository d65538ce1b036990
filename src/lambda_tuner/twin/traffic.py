"""Invocation traffic: how many requests arrive in each minute, lazily and repeatably.

Minute indices count whole minutes since 1970-01-01T00:00Z (the twin's clock origin), so a pattern knows
the UTC hour and weekday of every minute without being told the world's epoch. Any window is computed on
its own: the randomness of minute m is a hash of (seed, m), never a running generator, so
`counts(a, n)` over overlapping windows always agrees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy.special import ndtri

from lambda_tuner.twin.azure_trace import TraceFunction
from lambda_tuner.twin.sampling import hash_uniform, poisson_from_uniform, random_round, stable_key

DAY = 1440


class Traffic(Protocol):
    def counts(self, start_minute: int, n: int) -> np.ndarray:
        """Requests in each of the n minutes from `start_minute` (int64 array)."""
        ...

    @property
    def mean_rpm(self) -> float: ...


def _minutes(start_minute: int, n: int) -> np.ndarray:
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    return np.arange(start_minute, start_minute + n, dtype=np.int64)


@dataclass(frozen=True)
class _Poisson:
    """Poisson arrivals around a deterministic per-minute rate (subclasses give the rate)."""

    seed: int

    def rate(self, minutes: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def counts(self, start_minute: int, n: int) -> np.ndarray:
        m = _minutes(start_minute, n)
        return poisson_from_uniform(self.rate(m), hash_uniform(stable_key("traffic", self.seed), m))


@dataclass(frozen=True)
class Steady(_Poisson):
    rpm: float

    def rate(self, minutes: np.ndarray) -> np.ndarray:
        return np.full(minutes.shape, self.rpm)

    @property
    def mean_rpm(self) -> float:
        return self.rpm


@dataclass(frozen=True)
class Diurnal(_Poisson):
    """A daily cosine wave: `peak_ratio` = peak rate / trough rate; weekends scaled by `weekend_factor`."""

    mean: float
    peak_ratio: float
    peak_hour_utc: float
    weekend_factor: float

    def rate(self, minutes: np.ndarray) -> np.ndarray:
        amp = (self.peak_ratio - 1) / (self.peak_ratio + 1)
        hour = (minutes % DAY) / 60.0
        wave = 1 + amp * np.cos(2 * math.pi * (hour - self.peak_hour_utc) / 24)
        weekday = (minutes // DAY + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
        return self.mean * wave * np.where(weekday >= 5, self.weekend_factor, 1.0)

    @property
    def mean_rpm(self) -> float:
        return self.mean * (5 + 2 * self.weekend_factor) / 7


@dataclass(frozen=True)
class Spiky(_Poisson):
    """A low base rate plus `spikes_per_day` bursts of `spike_rpm` for `spike_minutes`, at hashed times."""

    base_rpm: float
    spike_rpm: float
    spikes_per_day: int
    spike_minutes: int

    def rate(self, minutes: np.ndarray) -> np.ndarray:
        day = minutes // DAY
        in_day = minutes % DAY
        spiking = np.zeros(minutes.shape, dtype=bool)
        for j in range(self.spikes_per_day):
            start = np.floor(hash_uniform(stable_key("spike", self.seed, j), day) * DAY)
            spiking |= (in_day >= start) & (in_day < start + self.spike_minutes)
        return self.base_rpm + np.where(spiking, self.spike_rpm, 0.0)

    @property
    def mean_rpm(self) -> float:
        return self.base_rpm + self.spike_rpm * self.spikes_per_day * self.spike_minutes / DAY


@dataclass(frozen=True)
class Hourly(_Poisson):
    """A cron job's burst: `burst_calls` calls in minute `at_minute` of every hour, `base_rpm` otherwise."""

    base_rpm: float
    burst_calls: float
    at_minute: int

    def rate(self, minutes: np.ndarray) -> np.ndarray:
        return self.base_rpm + np.where(minutes % 60 == self.at_minute, self.burst_calls, 0.0)

    @property
    def mean_rpm(self) -> float:
        return self.base_rpm + self.burst_calls / 60


@dataclass(frozen=True)
class Rare(_Poisson):
    per_day: float

    def rate(self, minutes: np.ndarray) -> np.ndarray:
        return np.full(minutes.shape, self.per_day / DAY)

    @property
    def mean_rpm(self) -> float:
        return self.per_day / DAY


@dataclass(frozen=True, eq=False)
class TraceDay:
    """One measured day repeated, each day scaled by a seeded factor (lognormal, spread `jitter`).

    Counts are rounded randomly rather than re-drawn, so the trace's own shape (a call exactly every
    third minute, silent hours) survives.
    """

    per_minute: np.ndarray
    seed: int
    jitter: float = 0.1

    def counts(self, start_minute: int, n: int) -> np.ndarray:
        m = _minutes(start_minute, n)
        day_u = hash_uniform(stable_key("trace-day", self.seed), m // DAY)
        s = self.jitter
        factor = np.exp(s * ndtri(day_u) - s * s / 2)
        base = self.per_minute[(m % self.per_minute.size).astype(np.int64)]
        return random_round(base * factor, hash_uniform(stable_key("trace", self.seed), m))

    @property
    def mean_rpm(self) -> float:
        return float(np.mean(self.per_minute))


def steady(rpm: float, seed: int = 0) -> Steady:
    _check_rate(rpm)
    return Steady(seed=seed, rpm=rpm)


def diurnal(mean_rpm: float, peak_ratio: float = 4.0, peak_hour_utc: float = 15.0,
            weekend_factor: float = 0.6, seed: int = 0) -> Diurnal:
    _check_rate(mean_rpm)
    if peak_ratio < 1 or weekend_factor < 0:
        raise ValueError("peak_ratio must be >= 1 and weekend_factor >= 0")
    return Diurnal(seed=seed, mean=mean_rpm, peak_ratio=peak_ratio, peak_hour_utc=peak_hour_utc,
                   weekend_factor=weekend_factor)


def spiky(base_rpm: float, spike_rpm: float, spikes_per_day: int = 3, spike_minutes: int = 10,
          seed: int = 0) -> Spiky:
    _check_rate(base_rpm)
    _check_rate(spike_rpm)
    return Spiky(seed=seed, base_rpm=base_rpm, spike_rpm=spike_rpm, spikes_per_day=spikes_per_day,
                 spike_minutes=spike_minutes)


def hourly(base_rpm: float, burst_calls: float, at_minute: int = 0, seed: int = 0) -> Hourly:
    _check_rate(base_rpm)
    _check_rate(burst_calls)
    if not 0 <= at_minute < 60:
        raise ValueError(f"at_minute must be within 0..59, got {at_minute}")
    return Hourly(seed=seed, base_rpm=base_rpm, burst_calls=burst_calls, at_minute=at_minute)


def rare(per_day: float, seed: int = 0) -> Rare:
    _check_rate(per_day)
    return Rare(seed=seed, per_day=per_day)


def from_trace(function: TraceFunction, seed: int = 0, jitter: float = 0.1) -> TraceDay:
    if function.per_minute.size == 0:
        raise ValueError(f"trace function {function.key} has no minutes")
    return TraceDay(per_minute=np.asarray(function.per_minute, dtype=float), seed=seed, jitter=jitter)


def _check_rate(rate: float) -> None:
    if not math.isfinite(rate) or rate < 0:
        raise ValueError(f"rates must be finite and >= 0, got {rate}")
