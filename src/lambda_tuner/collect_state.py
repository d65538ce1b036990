"""What the collector carries between cycles: its state (as one small shared part and one part per function,
for stores with per-item size limits), and the agent's own changes read back from its audit."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from lambda_tuner.core.epochs import CanaryWindow, HistoryItem, SizeBefore
from lambda_tuner.core.models import AuditRecord

# A later record of one of these types for the function ends a canary (a rollback, a revert, or any other
# change: one change at a time per function), and so does its conclusion (a record with `concluded`).
_ENDS_CANARY = ("change", "rollback", "revert")
LOG_PART_PREFIX = "#logs."
LOG_PART_BYTES = 200_000  # half of DynamoDB's 400 KB item limit


def split_state(state: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The state as a small shared part and one part per function, for stores with per-item size limits
    (DynamoDB: 400 KB an item; a 10,000-function fleet needs megabytes). `join_state` reverses it. The
    shared part holds the state's version and, for a version-heavy account, the day its listing last
    passed the versions' cap (`lm`); a function's part its entry, its known version sizes among them.

    Every log-group watermark lives in a function's part, next to the REPORT windows its scans produced (so
    one item's write keeps both in step): a default group in its function's (`w`), a custom group in the
    part of its first owner by name (`l`, the owner named by the entry's `g`). Watermarks no entry names
    (a state `next_state` did not build) go in `#logs.<n>` parts of at most `LOG_PART_BYTES` each: the
    shared part stays small however many log groups there are."""
    shared = {k: v for k, v in state.items() if k not in ("functions", "reports", "logs")}
    logs = dict(state.get("logs") or {})
    functions: Mapping[str, Any] = state.get("functions") or {}
    per_function: dict[str, dict[str, Any]] = {}
    for name, entry in functions.items():
        part = per_function.setdefault(name, {"f": entry})
        if (mark := logs.pop(f"/aws/lambda/{name}", None)) is not None:
            part["w"] = mark  # a default log group belongs to exactly one function
    for name in sorted(functions):
        group = functions[name].get("g") if isinstance(functions[name], Mapping) else None
        if group and (mark := logs.pop(group, None)) is not None:
            per_function[name].setdefault("l", {})[group] = mark
    for name, windows in (state.get("reports") or {}).items():
        per_function.setdefault(name, {})["r"] = windows
    per_function.update(_log_parts(logs))
    return shared, per_function


def _log_parts(logs: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """Watermarks without an owner, in parts of at most `LOG_PART_BYTES` of JSON (a function's name has no
    `#`: these names cannot clash with a function's part)."""
    parts: list[dict[str, str]] = []
    size = LOG_PART_BYTES
    for group, mark in sorted(logs.items()):
        entry = len(json.dumps({group: mark}))
        if size + entry > LOG_PART_BYTES:
            parts.append({})
            size = 0
        parts[-1][group] = mark
        size += entry
    return {f"{LOG_PART_PREFIX}{i}": {"l": chunk} for i, chunk in enumerate(parts)}


def join_state(shared: Mapping[str, Any], per_function: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    state = dict(shared)
    logs = dict(state.get("logs") or {})  # where states saved before custom groups moved to parts keep them
    functions, reports_state = {}, {}
    for name, part in per_function.items():
        if "f" in part:
            functions[name] = part["f"]
        if "r" in part:
            reports_state[name] = part["r"]
        if "w" in part:
            logs[f"/aws/lambda/{name}"] = part["w"]
        logs.update(part.get("l") or {})
    return {**state, "functions": functions, "reports": reports_state, "logs": logs}


def history_from_audit(records: Iterable[AuditRecord]) -> dict[str, list[HistoryItem]]:
    """Per function: (t, memory_mb) for every memory change the agent made or restored, with a
    `SizeBefore` for the size each change or undo found in force (a change's `before`, an undo's
    `memory_found`: the audit is read for the look-back only, and an undo's change may be older), and
    a `CanaryWindow` for every canary it applied (a change whose `after` routes a share of an alias to a
    newly published version): the main traffic kept its size then, so that change is not a memory change."""
    history: dict[str, list[HistoryItem]] = {}
    open_canaries: dict[str, CanaryWindow] = {}
    for record in sorted(records, key=lambda r: (r.at, r.seq)):
        name, data = record.function, record.data
        if not name or not data.get("ok", True):
            continue
        if name in open_canaries and (record.type in _ENDS_CANARY or data.get("concluded")):
            history[name].append(replace(open_canaries.pop(name), end=record.at))
        config = data.get("after") if record.type == "change" else data.get("restored")
        canary = _canary(record, data) if record.type == "change" else None
        if canary is not None:
            open_canaries[name] = canary
            history.setdefault(name, [])
        elif isinstance(config, Mapping) and config.get("memory_mb"):
            history.setdefault(name, []).append((record.at, int(config["memory_mb"])))
            found = _found(record.type, data)
            if found:
                history[name].append(SizeBefore(record.at, found))
    for name, canary in open_canaries.items():
        history[name].append(canary)  # still routing as far as the audit knows
    return history


def _found(kind: str, data: Mapping[str, Any]) -> int | None:
    """The memory size a record's change or undo found in force: a change's `before`; an undo's
    `memory_found` (recorded when it was the size the undone change set), None when not recorded."""
    if kind == "change":
        before = data.get("before")
        found = before.get("memory_mb") if isinstance(before, Mapping) else None
    else:
        found = data.get("memory_found")
    return int(found) if found else None


def _canary(record: AuditRecord, data: Mapping[str, Any]) -> CanaryWindow | None:
    after, before = data.get("after"), data.get("before")
    if not isinstance(after, Mapping) or not after.get("published_version") or not after.get("alias"):
        return None
    trial = str(after["published_version"])
    weight = after.get("canary_weight")
    if weight is None:
        weight = (after.get("alias_routing") or {}).get(trial)
    if not isinstance(weight, int | float) or not 0 < weight < 1:
        return None  # the alias moved to the new version whole: an ordinary memory change
    before = before if isinstance(before, Mapping) else {}
    main = after.get("alias_version") or before.get("alias_version")
    if not main or not after.get("memory_mb") or not before.get("memory_mb"):
        return None
    return CanaryWindow(str(after["alias"]), str(main), int(before["memory_mb"]), trial,
                        int(after["memory_mb"]), start=record.at)
