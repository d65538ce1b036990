"""Ground-truth duration-vs-memory curves in the shared curve format.

Format (see shared/data/README.md): `function_id,arch,memory_mb,duration_ms[,max_memory_used_mb,
init_duration_ms],source`, one row per sample or published mean; several rows with the same function and
memory are samples of one cell. Any file of that shape loads unchanged.

Between measured sizes the curve is interpolated with PCHIP in log-log space (shape-preserving: no
overshoot between points, monotone where the data are); beyond the largest measured size it stays at its
last value, below the smallest it stays at its first.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.interpolate import PchipInterpolator


@dataclass(frozen=True)
class Curve:
    function_id: str
    arch: str
    sizes: tuple[int, ...]  # measured memory sizes, ascending
    means: tuple[float, ...]  # mean duration (ms) at each size
    samples: dict[int, tuple[float, ...]] = field(default_factory=dict)  # per-size samples (>= 1)
    max_memory_used_mb: float | None = None
    init_duration_ms: float | None = None

    @property
    def bounds(self) -> tuple[int, int]:
        return self.sizes[0], self.sizes[-1]

    def duration(self, memory_mb: float | np.ndarray) -> np.ndarray:
        """Mean duration (ms) at any memory size; clamped outside the measured range."""
        m = np.clip(np.asarray(memory_mb, dtype=float), self.sizes[0], self.sizes[-1])
        if len(self.sizes) == 1:
            return np.full_like(m, self.means[0], dtype=float)
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


def load_curves(path: str | Path) -> list[Curve]:
    """Read every curve in a file of the curve format; raise ValueError with the line on bad input."""
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
            )
        )
    return curves
