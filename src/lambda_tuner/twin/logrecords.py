"""What a log group holds in a window, as record populations (never as individual records).

A population is a set of records that share every constant field: the REPORT records of one function
at one memory size, its START or END records, or its own application lines. Per-record numbers
(duration, init, max memory used, billed duration) are mixtures over the configuration levels in force,
kept as (calls, mean, noise) components for `insights` to aggregate analytically. Billed duration is
approximated as duration + 0.5 ms (1 ms rounding) + INIT on cold starts (billed since August 2025).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np

from lambda_tuner.twin.metricdata import INIT_NOISE, MEM_NOISE
from lambda_tuner.twin.reportlines import record_bytes
from lambda_tuner.twin.sampling import Noise
from lambda_tuner.twin.simulate import Level

if TYPE_CHECKING:
    from lambda_tuner.twin.world import World

# Fields Insights discovers in REPORT records -> (base quantity, scale). Text REPORT sizes come in bytes
# (MB × 1e6, which is why AWS's examples divide @maxMemoryUsed by 1000000); JSON records carry MB.
TEXT_FIELDS = {"@duration": ("duration", 1.0), "@billedDuration": ("billed", 1.0),
               "@maxMemoryUsed": ("max_mem", 1e6), "@initDuration": ("init", 1.0)}
JSON_FIELDS = {"record.metrics.durationMs": ("duration", 1.0),
               "record.metrics.billedDurationMs": ("billed", 1.0),
               "record.metrics.maxMemoryUsedMB": ("max_mem", 1.0),
               "record.metrics.initDurationMs": ("init", 1.0)}
APP_LINE_BYTES = 120.0  # average size of one of the function's own log lines


@dataclass
class Lin:
    """scale × (a per-record base quantity), null where the base is (e.g. init on warm starts)."""

    base: str
    scale: float


@dataclass
class Population:
    log: str
    count: float
    consts: dict[str, object]
    # base quantity -> mixture components (calls, mean, noise)
    comps: dict[str, list[tuple[float, float, Noise]]] = field(default_factory=dict)
    cap_ms: float = math.inf  # the function's timeout: no duration is longer

    def value(self, name: str) -> object:
        if name in self.consts:
            return self.consts[name]
        if self.consts.get("@type") == "REPORT":
            fields = TEXT_FIELDS
        elif self.consts.get("type") == "platform.report":
            fields = JSON_FIELDS
        else:
            return None
        if name not in fields:
            return None
        base, scale = fields[name]
        return Lin(base, scale)


def populations(world: World, log_groups: list[str], start: datetime,
                end: datetime) -> tuple[list[Population], float, float]:
    """All record populations in the groups within [start, end), plus records and bytes scanned."""
    a = math.ceil(start.timestamp() / 60)
    b = max(a, math.ceil(end.timestamp() / 60))
    names = [n for g in dict.fromkeys(log_groups) for n in world.functions_in_group(g)] if b > a else []
    pops: list[Population] = []
    records = nbytes = 0.0
    for name in names:
        spec = world.specs[name]
        m = world.minutes(name, a, b - a)
        valid = world.valid_minutes(a, b - a)
        log = f"{world.account}:{spec.log_group_name}"
        k = len(m.levels)
        inv, cold = np.zeros(k), np.zeros(k)
        for s in m.streams:
            ok = valid & (s.level >= 0)
            inv += np.bincount(s.level[ok], weights=s.inv[ok], minlength=k)
            cold += np.bincount(s.level[ok], weights=s.cold[ok], minlength=k)
        total, n_cold = float(inv.sum()), float(cold.sum())
        app_lines = total * spec.app_log_bytes / APP_LINE_BYTES
        per_call, per_cold = record_bytes(spec)
        nbytes += total * (per_call + spec.app_log_bytes) + n_cold * per_cold
        platform = 3 * total if spec.emits_reports else 0.0
        records += app_lines + platform
        pops.append(Population(log, app_lines, {"@log": log}))
        if spec.emits_reports and total > 0:
            pops += _platform_pops(world, name, log, m.levels, inv=inv, cold=cold)
    return pops, records, nbytes


def _platform_pops(world: World, name: str, log: str, levels: list[Level], *, inv: np.ndarray,
                   cold: np.ndarray) -> list[Population]:
    spec = world.specs[name]
    text = spec.log_format == "Text"
    kinds = ("START", "END") if text else ("platform.start", "platform.runtimeDone")
    type_field = "@type" if text else "type"
    pops = [Population(log, float(inv.sum()), {"@log": log, type_field: k}) for k in kinds]
    by_memory: dict[int, list[int]] = defaultdict(list)
    for i, lv in enumerate(levels):
        if inv[i] > 0:
            by_memory[lv.memory_mb].append(i)
    noise = world.noise(name)
    for memory, idx in sorted(by_memory.items()):
        consts: dict[str, object] = {"@log": log, type_field: "REPORT" if text else "platform.report"}
        consts["@memorySize" if text else "record.metrics.memorySizeMB"] = memory * (1e6 if text else 1)
        n = float(inv[idx].sum())
        comps: dict[str, list[tuple[float, float, Noise]]] = {
            "duration": [(inv[i], levels[i].mean_ms, noise) for i in idx],
            "billed": [(inv[i], levels[i].mean_ms + 0.5 + levels[i].init_ms * cold[i] / inv[i], noise)
                       for i in idx],
            "max_mem": [(inv[i], levels[i].mem_used_mb, MEM_NOISE) for i in idx],
            "init": [] if spec.snapstart else [(cold[i], levels[i].init_ms, INIT_NOISE) for i in idx],
        }
        pops.append(Population(log, n, consts, comps, cap_ms=spec.timeout_s * 1000.0))
    return pops
