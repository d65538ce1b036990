"""REPORT-line aggregates per memory size, kept per scan window between cycles, and merged for a look-back.

Which memory sizes a window saw (`ReportWindow`) also tells epoch building when someone else changed the
memory (core/epochs.py).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from lambda_tuner.core.models import ReportStats


@dataclass(frozen=True)
class ReportWindow:
    start: datetime
    end: datetime
    sizes: frozenset[int]


def weighted(values: Sequence[float | None], weights: Sequence[float]) -> float | None:
    pairs = [(v, w) for v, w in zip(values, weights, strict=True) if v is not None and w > 0]
    total = sum(w for _, w in pairs)
    return sum(v * w for v, w in pairs) / total if total > 0 else None


def weighted_mean_se(values: Sequence[float], weights: Sequence[float]) -> float | None:
    """Standard error of the calls-weighted mean of per-period averages, from their spread.

    Each period's average counts by its calls (w = calls / total): var = H/(H-1) * sum(w^2 (x - mean)^2),
    the cluster-robust form. It holds both sampling noise (a quiet hour's average, from few calls, strays
    far but weighs little) and hour-to-hour drift. The unweighted spread over sqrt(H) overstates the first
    several-fold when traffic is uneven over the day, and understates the second. None below 2 periods.
    """
    mean = weighted(values, weights)
    pairs = [(v, w) for v, w in zip(values, weights, strict=True) if w > 0]
    if len(pairs) < 2 or mean is None:
        return None
    total = sum(w for _, w in pairs)
    var = sum((w / total) ** 2 * (v - mean) ** 2 for v, w in pairs) * len(pairs) / (len(pairs) - 1)
    return math.sqrt(var)


# ---------------------------------------------------------------- REPORT aggregates across scan windows
#
# Each cycle scans only the log bytes written since the last scan (a watermark per log group), and keeps
# that window's per-memory aggregates in state as one compact list:
#   [invocations, cold_starts, init_ms_avg, billed_ms_avg, duration_ms_avg, max_mem_p99, max_mem_max, partial]
# Merging windows: counts add; averages are weighted (init by cold starts, the others by invocations);
# maxima take the max; the max-memory p99 takes the largest window p99 — an upper bound of the pooled p99
# that is never below it by much, and the safe side for sizing memory. Windows ending before the look-back
# are dropped whole; one straddling its start is kept whole (at most one window too much).


Cell = Sequence[float | None]  # one memory size's aggregates in one window, in the order above


def window_entry(start: datetime, end: datetime, cells: Mapping[int, Cell]) -> dict[str, object]:
    """Compact on purpose (state is stored between cycles): hours since 1970 and values to 0.1."""
    return {"s": _hour(start), "e": _hour(end),
            "m": {str(mb): [None if v is None else round(float(v), 1) for v in c] for mb, c in cells.items()}}


def _hour(t: datetime) -> int:
    return int(t.timestamp() // 3600)


def _time(hour: object) -> datetime:
    return datetime.fromtimestamp(int(str(hour)) * 3600, UTC)


def prune_windows(
    entries: Sequence[Mapping[str, object]], lookback_start: datetime
) -> list[Mapping[str, object]]:
    return [e for e in entries if _time(e["e"]) > lookback_start]


def report_windows(entries: Sequence[Mapping[str, object]]) -> list[ReportWindow]:
    return [ReportWindow(_time(e["s"]), _time(e["e"]), frozenset(int(mb) for mb in _sizes(e)))
            for e in entries if _sizes(e)]


def _sizes(entry: Mapping[str, object]) -> dict[str, Cell]:
    sizes = entry.get("m")
    return sizes if isinstance(sizes, dict) else {}


def merge_windows(entries: Sequence[Mapping[str, object]]) -> dict[int, ReportStats]:
    cells: dict[int, list[Cell]] = {}
    for entry in entries:
        for mb, values in _sizes(entry).items():
            cells.setdefault(int(mb), []).append(values)
    return {mb: _merge(rows) for mb, rows in sorted(cells.items())}


def _merge(rows: list[Cell]) -> ReportStats:
    inv = [float(r[0] or 0) for r in rows]
    cold = [float(r[1] or 0) for r in rows]

    def mx(i: int) -> float | None:
        return max((float(v) for r in rows if (v := r[i]) is not None), default=None)

    return ReportStats(
        invocations=round(sum(inv)), cold_starts=round(sum(cold)),
        init_ms_avg=weighted([r[2] for r in rows], cold), billed_ms_avg=weighted([r[3] for r in rows], inv),
        max_memory_used_mb_p99=mx(5), max_memory_used_mb_max=mx(6), partial=any(bool(r[7]) for r in rows),
    )
