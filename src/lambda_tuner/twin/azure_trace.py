"""Reader for the Azure Functions 2019 trace as prepared by vHive InVitro (`N_inv/N_run/N_mem.csv`).

Row i of the three files is the same function. Any N works; the folder must hold exactly one triple
(or the caller names N).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class TraceFunction:
    key: str  # HashFunction (short)
    per_minute: np.ndarray  # invocations in each minute of the day (length 1440)
    mean_ms: float
    p99_ms: float
    memory_mb_p50: float


@dataclass(frozen=True)
class Trace:
    functions: tuple[TraceFunction, ...]

    @property
    def minutes(self) -> int:
        return len(self.functions[0].per_minute) if self.functions else 0


def find_triple(folder: str | Path) -> tuple[Path, Path, Path]:
    root = Path(folder)
    prefixes = sorted(
        m.group(1) for p in root.glob("*_inv.csv") if (m := re.fullmatch(r"(.+)_inv\.csv", p.name))
    )
    for prefix in prefixes:
        run, mem = root / f"{prefix}_run.csv", root / f"{prefix}_mem.csv"
        if run.exists() and mem.exists():
            return root / f"{prefix}_inv.csv", run, mem
    raise FileNotFoundError(f"{root}: no N_inv.csv / N_run.csv / N_mem.csv triple")


def load_trace(folder: str | Path, limit: int | None = None) -> Trace:
    inv_path, run_path, mem_path = find_triple(folder)
    with inv_path.open(newline="") as f_inv, run_path.open(newline="") as f_run, mem_path.open(
        newline=""
    ) as f_mem:
        inv_rows, run_rows, mem_rows = csv.reader(f_inv), csv.DictReader(f_run), csv.DictReader(f_mem)
        header = next(inv_rows)
        first_minute = 3 if header[:3] == ["HashFunction", "HashOwner", "HashApp"] else 1
        functions: list[TraceFunction] = []
        for i, (inv, run, mem) in enumerate(zip(inv_rows, run_rows, mem_rows, strict=True)):
            if limit is not None and i >= limit:
                break
            counts = np.asarray([float(x or 0) for x in inv[first_minute:]], dtype=float)
            functions.append(
                TraceFunction(
                    key=inv[0][:12],
                    per_minute=counts,
                    mean_ms=max(float(run["Average"] or 0), 1.0),
                    p99_ms=max(float(run.get("percentile_Average_99") or run["Average"] or 0), 1.0),
                    memory_mb_p50=float(mem.get("AverageAllocatedMb_pct50") or mem["AverageAllocatedMb"]),
                )
            )
    return Trace(functions=tuple(functions))
