"""Built-in duration-vs-memory shapes, physically motivated.

Lambda gives CPU in proportion to memory: 1,769 MB is one full vCPU and 10,240 MB is six. A function's
duration is its fixed wait (I/O, downstream calls) plus its CPU work spread over the vCPUs it can use:

    duration(m) = fixed_ms + cpu_ms / min(vcpus(m), threads),   vcpus(m) = m / 1769

where `cpu_ms` is the CPU time at one full vCPU. A single-threaded function (threads = 1) stops
speeding up at 1,769 MB; a multi-threaded one keeps gaining up to its thread count (at most 6 vCPUs).
Code that allocates a lot also pays for garbage collection when memory is tight: its CPU part is
multiplied by (1 + (gc_mb / m)²), which makes a starved function both slower and dearer than it needs
to be — raising its memory is then faster *and* cheaper. Every shape has `.duration(memory_mb)` and
`.bounds` like `twin.curves.Curve`, so the world treats both alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

VCPU_MB = 1769.0
MIN_MB = 128
MAX_MB = 10_240


class DurationCurve(Protocol):
    """Anything that gives a mean duration at a memory size: a built-in shape or a measured curve."""

    @property
    def bounds(self) -> tuple[int, int]: ...

    def duration(self, memory_mb: float | np.ndarray) -> np.ndarray: ...


def vcpus(memory_mb: float | np.ndarray) -> np.ndarray:
    """vCPU share at a memory size (fractional below 1,769 MB)."""
    return np.asarray(memory_mb, dtype=float) / VCPU_MB


@dataclass(frozen=True)
class Shape:
    name: str
    fixed_ms: float  # time not spent on CPU: waiting on I/O and downstream services
    cpu_ms: float  # CPU work, in ms of one full vCPU
    threads: float = 1.0  # how many vCPUs the code can keep busy
    oom_floor_mb: int | None = None  # below this the function runs out of memory and fails
    gc_mb: float = 0.0  # memory pressure scale: collection overhead (gc_mb / m)² when memory is tight

    def __post_init__(self) -> None:
        if self.fixed_ms < 0 or self.cpu_ms < 0 or self.fixed_ms + self.cpu_ms <= 0:
            raise ValueError(f"shape {self.name}: fixed_ms and cpu_ms must be >= 0 and not both 0")
        if not 1.0 <= self.threads <= 6.0:
            raise ValueError(f"shape {self.name}: threads must be between 1 and 6, got {self.threads}")

    @property
    def bounds(self) -> tuple[int, int]:
        return MIN_MB, MAX_MB

    def duration(self, memory_mb: float | np.ndarray) -> np.ndarray:
        """Mean duration (ms) at a memory size; clamped to Lambda's 128–10,240 MB."""
        m = np.clip(np.asarray(memory_mb, dtype=float), MIN_MB, MAX_MB)
        pressure = 1 + (self.gc_mb / m) ** 2
        return np.asarray(self.fixed_ms + pressure * self.cpu_ms / np.minimum(vcpus(m), self.threads),
                          dtype=float)

    def cpu_fraction(self, memory_mb: float) -> float:
        """Share of the duration that is CPU time at a memory size (what Lambda Insights would show)."""
        total = float(self.duration(memory_mb))
        cpu = total - self.fixed_ms  # collection is CPU work too
        return cpu / total


def cpu_bound(cpu_ms: float, fixed_ms: float = 2.0, gc_mb: float = 0.0, name: str = "cpu-bound") -> Shape:
    """Single-threaded compute: speeds up in proportion to memory up to 1,769 MB, then flat."""
    return Shape(name=name, fixed_ms=fixed_ms, cpu_ms=cpu_ms, threads=1.0, gc_mb=gc_mb)


def multi_threaded(cpu_ms: float, threads: float = 6.0, fixed_ms: float = 5.0,
                   name: str = "multi-threaded") -> Shape:
    """Parallel compute: keeps gaining up to `threads` vCPUs (6 at 10,240 MB)."""
    return Shape(name=name, fixed_ms=fixed_ms, cpu_ms=cpu_ms, threads=threads)


def io_bound(fixed_ms: float, cpu_ms: float = 3.0, name: str = "io-bound") -> Shape:
    """Mostly waiting: a flat fixed time plus a small CPU part, so extra memory buys almost nothing."""
    return Shape(name=name, fixed_ms=fixed_ms, cpu_ms=cpu_ms, threads=1.0)


def mixed(fixed_ms: float, cpu_ms: float, threads: float = 1.0, name: str = "mixed") -> Shape:
    """Some waiting, some compute: gains with memory, with diminishing returns."""
    return Shape(name=name, fixed_ms=fixed_ms, cpu_ms=cpu_ms, threads=threads)


def memory_hungry(cpu_ms: float, oom_floor_mb: int, fixed_ms: float = 20.0,
                  name: str = "memory-hungry") -> Shape:
    """Needs a working set of `oom_floor_mb`: below it every invocation fails out of memory."""
    if not MIN_MB <= oom_floor_mb <= MAX_MB:
        raise ValueError(f"oom_floor_mb must be within {MIN_MB}–{MAX_MB}, got {oom_floor_mb}")
    return Shape(name=name, fixed_ms=fixed_ms, cpu_ms=cpu_ms, threads=1.0, oom_floor_mb=oom_floor_mb)


@dataclass(frozen=True, eq=False)
class Extrapolated:
    """A measured curve (e.g. `twin.curves.Curve`) extended over all of Lambda's memory range.

    Inside the measured sizes it is the curve itself; outside, duration scales with the single-thread
    CPU share, min(m, 1769) / 1769 — the shape the shared CPU-bound measurements follow — instead of
    staying flat at the last measured value.
    """

    curve: DurationCurve

    @property
    def bounds(self) -> tuple[int, int]:
        return MIN_MB, MAX_MB

    @property
    def inner_bounds(self) -> tuple[int, int]:
        lo, hi = self.curve.bounds
        return int(lo), int(hi)

    def duration(self, memory_mb: float | np.ndarray) -> np.ndarray:
        lo, hi = self.inner_bounds
        m = np.clip(np.asarray(memory_mb, dtype=float), MIN_MB, MAX_MB)
        inside = np.asarray(self.curve.duration(np.clip(m, lo, hi)), dtype=float)
        share = np.minimum(np.clip(m, lo, hi), VCPU_MB) / np.minimum(m, VCPU_MB)
        return np.asarray(inside * share, dtype=float)

    def relative_noise(self) -> np.ndarray:
        relative = getattr(self.curve, "relative_noise", None)
        return np.asarray(relative(), dtype=float) if relative else np.empty(0)
