"""The collector's state as one small shared part and one part per function, for stores with per-item
size limits."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


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
