"""What the collector carries between cycles: its state (as one small shared part and one part per function,
for stores with per-item size limits), and the agent's own changes read back from its audit."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from lambda_tuner.core.epochs import CanaryWindow, HistoryItem
from lambda_tuner.core.models import AuditRecord

# A later record of one of these types for the function ends a canary (a rollback, a revert, or any other
# change: one change at a time per function), and so does its conclusion (a record with `concluded`).
_ENDS_CANARY = ("change", "rollback", "revert")


def split_state(state: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The state as a small shared part and one part per function, for stores with per-item size limits
    (DynamoDB: 400 KB an item; a 10,000-function fleet needs megabytes). `join_state` reverses it."""
    shared = {k: v for k, v in state.items() if k not in ("functions", "reports", "logs")}
    logs = dict(state.get("logs") or {})
    per_function: dict[str, dict[str, Any]] = {}
    for name, entry in (state.get("functions") or {}).items():
        part = per_function.setdefault(name, {"f": entry})
        if (mark := logs.pop(f"/aws/lambda/{name}", None)) is not None:
            part["w"] = mark  # a default log group belongs to exactly one function
    for name, windows in (state.get("reports") or {}).items():
        per_function.setdefault(name, {})["r"] = windows
    shared["logs"] = logs  # custom (possibly shared) log groups only
    return shared, per_function


def join_state(shared: Mapping[str, Any], per_function: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    state = dict(shared)
    logs = dict(state.get("logs") or {})
    functions, reports_state = {}, {}
    for name, part in per_function.items():
        if "f" in part:
            functions[name] = part["f"]
        if "r" in part:
            reports_state[name] = part["r"]
        if "w" in part:
            logs[f"/aws/lambda/{name}"] = part["w"]
    return {**state, "functions": functions, "reports": reports_state, "logs": logs}


def history_from_audit(records: Iterable[AuditRecord]) -> dict[str, list[HistoryItem]]:
    """Per function: (t, memory_mb) for every memory change the agent made or restored, and
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
    for name, canary in open_canaries.items():
        history[name].append(canary)  # still routing as far as the audit knows
    return history


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
