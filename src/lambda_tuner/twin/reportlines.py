"""REPORT records exactly as Lambda writes them, for individual invocations (Text and JSON formats).

Text:  REPORT RequestId: <id>\\tDuration: 102.25 ms\\tBilled Duration: 103 ms\\tMemory Size: 128 MB\\t
       Max Memory Used: 71 MB\\tInit Duration: 180.12 ms\\t     (Init only on a cold start; SnapStart
       functions show Restore Duration / Billed Restore Duration instead)
JSON:  {"time": ..., "type": "platform.report", "record": {"requestId": ..., "metrics": {...},
       "status": "success"}}
Since August 2025 the INIT phase of on-demand functions is billed, so Billed Duration includes it.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

from lambda_tuner.twin.metricdata import INIT_NOISE, MEM_NOISE
from lambda_tuner.twin.sampling import hash_uniform, stable_key
from lambda_tuner.twin.spec import FunctionSpec

if TYPE_CHECKING:
    from lambda_tuner.twin.world import World

_TEXT_BYTES = (len("START RequestId: 00000000-0000-0000-0000-000000000000 Version: $LATEST\n")
               + len("END RequestId: 00000000-0000-0000-0000-000000000000\n"))
_JSON_BYTES = 2 * 190  # platform.start and platform.runtimeDone records
_CHUNK = 1440


def record_bytes(spec: FunctionSpec) -> tuple[float, float]:
    """(platform bytes per invocation, extra bytes per cold start) the function writes to its log group."""
    if not spec.emits_reports:
        return 0.0, 0.0
    sample = _line(spec, "00000000-0000-0000-0000-000000000000", datetime(2026, 1, 1, tzinfo=UTC),
                   duration=123.45, memory=1024, mem_used=128.0, init=None, failed=False)
    fixed = _TEXT_BYTES if spec.log_format == "Text" else _JSON_BYTES
    return float(len(sample) + 1 + fixed), 110.0  # INIT_START line and the Init Duration field


def lines(world: World, spec: FunctionSpec, start: datetime, end: datetime, limit: int = 50) -> list[str]:
    """The first `limit` REPORT records the function wrote in [start, end)."""
    if limit < 0:
        raise ValueError("limit must be >= 0")
    if not spec.emits_reports or limit == 0:
        return []
    key = world.key(spec.name)
    noise = world.noise(spec.name)
    a = math.ceil(start.timestamp() / 60)
    b = math.ceil(end.timestamp() / 60)
    out: list[str] = []
    for chunk in range(a, b, _CHUNK):
        n = min(_CHUNK, b - chunk)
        m = world.minutes(spec.name, chunk, n)
        valid = world.valid_minutes(chunk, n)
        for j in np.flatnonzero(valid & (sum(s.inv for s in m.streams) > 0)):
            minute = chunk + int(j)
            for si, s in enumerate(m.streams):
                calls, colds = int(s.inv[j]), int(s.cold[j])
                if calls == 0:
                    continue
                level = m.levels[int(s.level[j])]
                u = hash_uniform(stable_key(key, "line", si, minute), np.arange(3 * calls)).reshape(3, calls)
                duration = level.mean_ms * noise.ppf(u[0])
                mem = np.minimum(level.mem_used_mb * MEM_NOISE.ppf(u[1]), level.memory_mb)
                init = level.init_ms * INIT_NOISE.ppf(u[2])
                errors = int(s.errors[j])
                for i in range(calls):
                    at = datetime.fromtimestamp(minute * 60 + 60 * (i + 0.5) / calls, tz=UTC)
                    rid = _request_id(key, minute, si, i)
                    cold_init = float(init[i]) if i < colds else None
                    out.append(_line(spec, rid, at, duration=float(duration[i]), memory=level.memory_mb,
                                     mem_used=float(mem[i]), init=cold_init, failed=i >= calls - errors))
                    if len(out) >= limit:
                        return out
    return out


def _request_id(key: int, minute: int, stream: int, i: int) -> str:
    digest = hashlib.blake2b(f"{key}:{minute}:{stream}:{i}".encode(), digest_size=16).digest()
    return str(uuid.UUID(bytes=digest, version=4))


def _line(spec: FunctionSpec, rid: str, at: datetime, *, duration: float, memory: int, mem_used: float,
          init: float | None, failed: bool) -> str:
    snap = spec.snapstart and init is not None
    billed = math.ceil(duration + (init if init is not None and not snap else 0.0))
    used = max(1, round(mem_used))
    if spec.log_format == "Text":
        parts = [f"REPORT RequestId: {rid}", f"Duration: {duration:.2f} ms", f"Billed Duration: {billed} ms",
                 f"Memory Size: {memory} MB", f"Max Memory Used: {used} MB"]
        if init is not None:
            parts += ([f"Restore Duration: {init:.2f} ms", f"Billed Restore Duration: {math.ceil(init)} ms"]
                      if snap else [f"Init Duration: {init:.2f} ms"])
        return "\t".join(parts) + "\t"
    metrics: dict[str, float | int] = {"durationMs": round(duration, 3), "billedDurationMs": billed,
                                       "memorySizeMB": memory, "maxMemoryUsedMB": used}
    if init is not None:
        metrics["restoreDurationMs" if snap else "initDurationMs"] = round(init, 3)
    stamp = (at - timedelta(microseconds=at.microsecond % 1000)).isoformat(timespec="milliseconds")
    record = {"requestId": rid, "metrics": metrics, "status": "error" if failed else "success"}
    return json.dumps({"time": stamp.replace("+00:00", "Z"), "type": "platform.report", "record": record})
