"""Curve files the memory benchmark has never seen: physically different shapes, in the curve format.

Shapes (duration in ms at memory m, vCPU share s = m / 1769):
- `cpu`: single-threaded CPU work plus a little fixed time, F + C / min(s, 1) ** a, a in [0.9, 1.3];
- `multi`: multi-threaded, F + C / min(s, 6);
- `io`: waiting on I/O, F plus a small CPU part;
- `mixed`: F + S / min(s, 1) + P / min(s, 6);
- `lowmem`: CPU-bound with extra slowdown below 512 MB (memory pressure, GC).
Cells get several noisy samples (lognormal, sigma 0.05–0.3) or one mean; `max_memory_used_mb` and
`init_duration_ms` columns are optional. Used by tests and to report figures on unseen curves
(`lambda-tuner bench curves`).

The benchmark's truth is a file's cell means. With several samples a cell's mean strays from the law by
its sampling error (up to about 13 % at sigma 0.3 with 5 samples), and the truth then has bumps no
function has: a size that is cheaper than its neighbours by chance, which only a measurement of that
very size finds. `centred=True` scales each cell's samples so their mean is the law itself: the same
spread, drawn from the same stream, around a truth that is the shape. Both are useful: bumps are what a
file measured with few samples looks like; centred files say how the agent does on the shapes alone.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SHAPES = ("cpu", "multi", "io", "mixed", "lowmem")
GRID = (128, 192, 256, 384, 512, 768, 1024, 1536, 1769, 2048, 3008, 4096, 6144, 8192, 10240)


@dataclass(frozen=True)
class Shape:
    """One generated curve's exact duration law, before any sampling: `duration(m)` at any size."""

    shape: str
    fixed: float
    work: float
    extra: float  # cpu: the exponent; mixed: the multi-threaded share; lowmem: the pressure; else 0

    def duration(self, memory_mb: np.ndarray) -> np.ndarray:
        m = np.asarray(memory_mb, dtype=float)
        s = m / 1769.0
        fixed, work = self.fixed, self.work
        if self.shape == "cpu":
            return np.asarray(fixed * 0.2 + work / np.minimum(s, 1.0) ** self.extra / 10, dtype=float)
        if self.shape == "multi":
            return np.asarray(fixed * 0.2 + work / np.minimum(s, 6.0) / 10, dtype=float)
        if self.shape == "io":
            return np.asarray(fixed * 5 + work / 200 / np.minimum(s, 1.0), dtype=float)
        if self.shape == "mixed":
            share = self.extra
            cpu = (1 - share) / np.minimum(s, 1.0) + share / np.minimum(s, 6.0)
            return np.asarray(fixed + work / 10 * cpu, dtype=float)
        pressure = 1 + self.extra * np.clip((512 - m) / 384, 0, None)
        return np.asarray((fixed * 0.2 + work / np.minimum(s, 1.0) / 10) * pressure, dtype=float)


def _shape(shape: str, rng: np.random.Generator) -> Shape:
    fixed = float(rng.uniform(5, 200))
    work = float(rng.uniform(200, 20_000))
    extra = {"cpu": (0.9, 1.3), "mixed": (0.2, 0.8), "lowmem": (0.2, 1.0)}.get(shape)
    return Shape(shape, fixed, work, float(rng.uniform(*extra)) if extra else 0.0)


def generate_curves(
    path: Path | str,
    *,
    n_curves: int = 10,
    seed: int = 0,
    samples: int | None = None,
    memory_columns: bool = True,
    centred: bool = False,
) -> Path:
    """Write `n_curves` curves cycling through the shapes; `samples` per cell (None: varies by curve);
    `centred`: each cell's samples average to the law exactly (the same file otherwise)."""
    columns = ["function_id", "arch", "memory_mb", "duration_ms"]
    columns += ["max_memory_used_mb", "init_duration_ms"] if memory_columns else []
    rows, _ = _draw(n_curves, seed, samples, memory_columns, centred)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([*columns, "source"])
        writer.writerows([[*row, "generated"] for row in rows])
    return path


def generator_shapes(
    *, n_curves: int = 10, seed: int = 0, samples: int | None = None, memory_columns: bool = True
) -> dict[str, Shape]:
    """The exact law behind each curve `generate_curves` writes with the same arguments, by function id:
    what a file's interpolated truth can be checked against."""
    return _draw(n_curves, seed, samples, memory_columns, centred=False)[1]


def _draw(
    n_curves: int, seed: int, samples: int | None, memory_columns: bool, centred: bool
) -> tuple[list[list[object]], dict[str, Shape]]:
    rng = np.random.default_rng(seed)
    rows: list[list[object]] = []
    shapes: dict[str, Shape] = {}
    for i in range(n_curves):
        name = SHAPES[i % len(SHAPES)]
        lo = int(rng.choice([0, 0, 2, 4]))
        hi = int(rng.integers(lo + 4, len(GRID) + 1))
        sizes = np.array(GRID[lo:hi], dtype=float)
        shape = shapes[f"gen_{name}_{i}"] = _shape(name, rng)
        mean = shape.duration(sizes)
        n = samples if samples is not None else int(rng.choice([1, 5]))
        sigma = float(rng.uniform(0.05, 0.3))
        used = float(rng.uniform(0.3, 0.9) * sizes[0]) if rng.random() < 0.7 else float(sizes[0] * 1.5)
        arch = "arm64" if rng.random() < 0.3 else "x86_64"
        for size, mu in zip(sizes, mean, strict=True):
            values = [mu] if n == 1 else mu * np.exp(sigma * rng.standard_normal(n) - sigma**2 / 2)
            if centred:
                values = np.asarray(values, dtype=float) * mu / float(np.mean(values))
            for value in values:
                row: list[object] = [f"gen_{name}_{i}", arch, int(size), round(float(value), 3)]
                if memory_columns:
                    row += [round(min(used, float(size)), 1), round(float(rng.uniform(150, 900)), 1)]
                rows.append(row)
    return rows, shapes
