"""A small generated trace triple in the Azure 2019 / InVitro format, for PC benchmark tests."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

MINUTES = 1440


def generated_counts(seed: int = 11) -> tuple[np.ndarray, list[float]]:
    """Six functions with different shapes: steady, sparse, bursty, idle, diurnal, periodic."""
    rng = np.random.default_rng(seed)
    minutes = np.arange(MINUTES)
    steady = rng.poisson(3000, MINUTES)
    sparse = (minutes % 37 == 0).astype(int)
    bursty = np.zeros(MINUTES, dtype=int)
    bursty[rng.choice(MINUTES, 12, replace=False)] = 200
    idle = np.zeros(MINUTES, dtype=int)
    diurnal = rng.poisson(40 * (1 + np.sin(2 * np.pi * minutes / MINUTES)))
    periodic = np.where(minutes % 15 == 0, 5, 0)
    counts = np.stack([steady, sparse, bursty, idle, diurnal, periodic])
    return counts, [200.0, 500.0, 20_000.0, 100.0, 3_000.0, 2_000.0]


def write_triple(folder: Path, n_label: str = "6") -> Path:
    counts, mean_ms = generated_counts()
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / f"{n_label}_inv.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["HashFunction", "HashOwner", "HashApp", *range(1, MINUTES + 1)])
        for i, row in enumerate(counts):
            w.writerow([f"fn{i:02d}", "owner", "app", *row.tolist()])
    pct = ["0", "1", "25", "50", "75", "99", "100"]
    with (folder / f"{n_label}_run.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["HashOwner", "HashApp", "HashFunction", "Average", "Count", "Minimum", "Maximum",
                    *[f"percentile_Average_{p}" for p in pct]])
        for i, ms in enumerate(mean_ms):
            w.writerow(["owner", "app", f"fn{i:02d}", ms, int(counts[i].sum()), ms, ms, *[ms] * len(pct)])
    mem_pct = ["1", "5", "25", "50", "75", "95", "99", "100"]
    with (folder / f"{n_label}_mem.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["HashOwner", "HashApp", "SampleCount", "AverageAllocatedMb",
                    *[f"AverageAllocatedMb_pct{p}" for p in mem_pct]])
        for _ in mean_ms:
            w.writerow(["owner", "app", 10, 128, *[128] * len(mem_pct)])
    return folder
