"""Ground-truth duration-vs-memory curves in the shared curve format.

Format (see shared/data/README.md): `function_id,arch,memory_mb,duration_ms[,max_memory_used_mb,
init_duration_ms],source`, one row per sample or published mean; several rows with the same function and
memory are samples of one cell. Any file of that shape loads unchanged.

Between measured sizes the curve is a power law (straight in log-log space): duration d = a * m ** -b
from one measured size to the next, the local form of a CPU share proportional to memory. The duration
part of the cost (m * d) is then monotone between two measured sizes: the interpolation invents no dip
between them that the file does not show. Beyond the largest measured size the curve stays at its last
value, below the smallest it stays at its first.

`interpolation="pchip"` keeps the earlier choice, PCHIP in log-log space (shape-preserving: no overshoot
between points, monotone where the data are). Judged against the laws behind three generated
one-sample files (30 curves, `bench.memory_curvegen.generator_shapes`), both stray between sizes (PCHIP
by up to 4.6 %, the power law by up to 2.0 %), but PCHIP's bows put the cheapest size where the law is up
to 1.6 % dearer than at its own cheapest (6 curves of 30 over 0.1 %); the power law's cheapest size was
within 0.02 % on every curve. The memory benchmark takes either (`--interpolation`), so earlier figures
can be reproduced.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from scipy.interpolate import PchipInterpolator

Interpolation = Literal["power", "pchip"]
INTERPOLATIONS: tuple[Interpolation, ...] = ("power", "pchip")


@dataclass(frozen=True)
class Curve:
    function_id: str
    arch: str
    sizes: tuple[int, ...]  # measured memory sizes, ascending
    means: tuple[float, ...]  # mean duration (ms) at each size
    samples: dict[int, tuple[float, ...]] = field(default_factory=dict)  # per-size samples (>= 1)
    max_memory_used_mb: float | None = None
    init_duration_ms: float | None = None
    interpolation: Interpolation = "power"

    @property
    def bounds(self) -> tuple[int, int]:
        return self.sizes[0], self.sizes[-1]

    def duration(self, memory_mb: float | np.ndarray) -> np.ndarray:
        """Mean duration (ms) at any memory size; clamped outside the measured range."""
        m = np.clip(np.asarray(memory_mb, dtype=float), self.sizes[0], self.sizes[-1])
        if len(self.sizes) == 1:
            return np.full_like(m, self.means[0], dtype=float)
        if self.interpolation == "power":
            log_m, log_d = np.log(np.asarray(self.sizes, float)), np.log(np.asarray(self.means, float))
            return np.asarray(np.exp(np.interp(np.log(m), log_m, log_d)), dtype=float)
        interp = _interpolator(self.sizes, self.means)
        return np.asarray(np.exp(interp(np.log(m))), dtype=float)

    def relative_noise(self) -> np.ndarray:
        """Per-sample relative deviations from the cell mean, pooled over sizes with several samples.

        Empty when the file has one value per size: callers then use a documented noise model.
        """
        devs: list[float] = []
        for size, values in self.samples.items():
            if len(values) > 1:
                mean = float(np.mean(values))
                devs.extend(v / mean for v in values)
                del size
        return np.asarray(devs, dtype=float)


_CACHE: dict[tuple[tuple[int, ...], tuple[float, ...]], PchipInterpolator] = {}


def _interpolator(sizes: tuple[int, ...], means: tuple[float, ...]) -> PchipInterpolator:
    key = (sizes, means)
    if key not in _CACHE:
        _CACHE[key] = PchipInterpolator(np.log(np.asarray(sizes, float)), np.log(np.asarray(means, float)))
    return _CACHE[key]


def load_curves(path: str | Path, *, interpolation: Interpolation = "power") -> list[Curve]:
    """Read every curve in a file of the curve format; raise ValueError with the line on bad input."""
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}")
    cells: dict[tuple[str, str], dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    max_mem: dict[tuple[str, str], list[float]] = defaultdict(list)
    init: dict[tuple[str, str], list[float]] = defaultdict(list)
    with Path(path).open(newline="") as fh:
        reader = csv.DictReader(fh)
        required = {"function_id", "arch", "memory_mb", "duration_ms"}
        if not reader.fieldnames or not required <= set(reader.fieldnames):
            raise ValueError(f"{path}: curve file needs columns {sorted(required)}, got {reader.fieldnames}")
        for line, row in enumerate(reader, start=2):
            try:
                key = (row["function_id"].strip(), row["arch"].strip() or "x86_64")
                memory = int(float(row["memory_mb"]))
                duration = float(row["duration_ms"])
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{path}:{line}: {exc}") from exc
            if memory <= 0 or not math.isfinite(duration) or duration <= 0:
                raise ValueError(f"{path}:{line}: memory and duration must be positive")
            cells[key][memory].append(duration)
            if row.get("max_memory_used_mb"):
                max_mem[key].append(float(row["max_memory_used_mb"]))
            if row.get("init_duration_ms"):
                init[key].append(float(row["init_duration_ms"]))
    curves = []
    for (fid, arch), by_size in cells.items():
        sizes = tuple(sorted(by_size))
        curves.append(
            Curve(
                function_id=fid,
                arch=arch,
                sizes=sizes,
                means=tuple(float(np.mean(by_size[s])) for s in sizes),
                samples={s: tuple(by_size[s]) for s in sizes},
                max_memory_used_mb=max(max_mem[(fid, arch)]) if max_mem[(fid, arch)] else None,
                init_duration_ms=float(np.mean(init[(fid, arch)])) if init[(fid, arch)] else None,
                interpolation=interpolation,
            )
        )
    return curves
