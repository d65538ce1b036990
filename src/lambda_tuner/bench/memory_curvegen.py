"""Curve files the memory benchmark has never seen: physically different shapes, in the curve format.

Shapes (duration in ms at memory m, vCPU share s = m / 1769):
- `cpu`: single-threaded CPU work plus a little fixed time, F + C / min(s, 1) ** a, a in [0.9, 1.3];
- `multi`: multi-threaded, F + C / min(s, 6);
- `io`: waiting on I/O, F plus a small CPU part;
- `mixed`: F + S / min(s, 1) + P / min(s, 6);
- `lowmem`: CPU-bound with extra slowdown below 512 MB (memory pressure, GC).
Cells get several noisy samples (lognormal, sigma 0.05–0.3) or one mean; `max_memory_used_mb` and
`init_duration_ms` columns are optional. Used by tests and to report figures on unseen curves.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

SHAPES = ("cpu", "multi", "io", "mixed", "lowmem")
GRID = (128, 192, 256, 384, 512, 768, 1024, 1536, 1769, 2048, 3008, 4096, 6144, 8192, 10240)


def _duration(shape: str, m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    s = m / 1769.0
    fixed = float(rng.uniform(5, 200))
    work = float(rng.uniform(200, 20_000))
    if shape == "cpu":
        return fixed * 0.2 + work / np.minimum(s, 1.0) ** rng.uniform(0.9, 1.3) / 10
    if shape == "multi":
        return fixed * 0.2 + work / np.minimum(s, 6.0) / 10
    if shape == "io":
        return fixed * 5 + work / 200 / np.minimum(s, 1.0)
    if shape == "mixed":
        share = rng.uniform(0.2, 0.8)
        return fixed + work / 10 * ((1 - share) / np.minimum(s, 1.0) + share / np.minimum(s, 6.0))
    pressure = 1 + rng.uniform(0.2, 1.0) * np.clip((512 - m) / 384, 0, None)
    return (fixed * 0.2 + work / np.minimum(s, 1.0) / 10) * pressure


def generate_curves(
    path: Path | str,
    *,
    n_curves: int = 10,
    seed: int = 0,
    samples: int | None = None,
    memory_columns: bool = True,
) -> Path:
    """Write `n_curves` curves cycling through the shapes; `samples` per cell (None: varies by curve)."""
    rng = np.random.default_rng(seed)
    columns = ["function_id", "arch", "memory_mb", "duration_ms"]
    columns += ["max_memory_used_mb", "init_duration_ms"] if memory_columns else []
    rows: list[list[object]] = []
    for i in range(n_curves):
        shape = SHAPES[i % len(SHAPES)]
        lo = int(rng.choice([0, 0, 2, 4]))
        hi = int(rng.integers(lo + 4, len(GRID) + 1))
        sizes = np.array(GRID[lo:hi], dtype=float)
        mean = _duration(shape, sizes, rng)
        n = samples if samples is not None else int(rng.choice([1, 5]))
        sigma = float(rng.uniform(0.05, 0.3))
        used = float(rng.uniform(0.3, 0.9) * sizes[0]) if rng.random() < 0.7 else float(sizes[0] * 1.5)
        arch = "arm64" if rng.random() < 0.3 else "x86_64"
        for size, mu in zip(sizes, mean, strict=True):
            values = [mu] if n == 1 else mu * np.exp(sigma * rng.standard_normal(n) - sigma**2 / 2)
            for value in values:
                row: list[object] = [f"gen_{shape}_{i}", arch, int(size), round(float(value), 3)]
                if memory_columns:
                    row += [round(min(used, float(size)), 1), round(float(rng.uniform(150, 900)), 1)]
                rows.append(row)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([*columns, "source"])
        writer.writerows([[*row, "generated"] for row in rows])
    return path
