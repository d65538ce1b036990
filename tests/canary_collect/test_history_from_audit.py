"""The agent's own records read back for collection: memory changes as before, canaries as windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from lambda_tuner.collect import CanaryWindow, history_from_audit
from lambda_tuner.core.epochs import SizeBefore
from lambda_tuner.core.models import AuditRecord, AuditType

T0 = datetime(2026, 11, 10, 6, tzinfo=UTC)
DAY = timedelta(days=1)


def _record(seq: int, kind: AuditType, at: datetime, data: dict[str, Any], function: str = "checkout",
            ) -> AuditRecord:
    return AuditRecord(id=f"a{seq}", seq=seq, type=kind, at=at, function=function, data=data,
                       prev_hash="x", hash="y")


# What the apply function records for a canary (adapters/applier.py `apply_canary`)
CANARY_CHANGE = {
    "ok": True,
    "before": {"kind": "memory", "function": "checkout", "memory_mb": 1024, "alias": "live",
               "alias_version": "3", "alias_routing": {}},
    "after": {"kind": "memory", "function": "checkout", "memory_mb": 512, "canary_weight": 0.1,
              "alias": "live", "alias_version": "3", "alias_routing": {"4": 0.1}, "published_version": "4"},
}
CONCLUSION = {"ok": True, "concluded": True, "alias": "live", "canary_version": "4"}


def test_a_concluded_canary_is_a_window_from_its_change_to_its_conclusion_and_no_memory_change():
    history = history_from_audit([_record(1, "change", T0, CANARY_CHANGE),
                                  _record(2, "verification", T0 + DAY, CONCLUSION)])
    assert history == {"checkout": [CanaryWindow("live", "3", 1024, "4", 512, start=T0, end=T0 + DAY)]}


def test_a_canary_not_concluded_yet_is_open_ended():
    (canary,) = history_from_audit([_record(1, "change", T0, CANARY_CHANGE)])["checkout"]
    assert isinstance(canary, CanaryWindow) and (canary.start, canary.end) == (T0, None)


def test_a_rolled_back_canary_ends_at_its_rollback_which_restores_the_main_size():
    rollback = {"ok": True, "alarm": "p99", "restored": CANARY_CHANGE["before"]}
    history = history_from_audit([_record(2, "rollback", T0 + timedelta(hours=5), rollback),
                                  _record(1, "change", T0, CANARY_CHANGE)])  # any order in, time order used
    assert history["checkout"] == [CanaryWindow("live", "3", 1024, "4", 512, start=T0,
                                                end=T0 + timedelta(hours=5)),
                                   (T0 + timedelta(hours=5), 1024)]


def test_ordinary_memory_changes_and_whole_alias_moves_are_memory_changes_as_before():
    whole_move = {"ok": True, "before": {"memory_mb": 1024, "alias": "live", "alias_version": "3"},
                  "after": {"memory_mb": 768, "alias": "live", "alias_version": "5", "alias_routing": {},
                            "published_version": "5"}}
    history = history_from_audit([
        _record(1, "change", T0, {"ok": True, "after": {"memory_mb": 2048}}, function="cruncher"),
        _record(2, "change", T0 + DAY, {"ok": False, "after": {"memory_mb": 4096}}, function="cruncher"),
        _record(3, "change", T0, whole_move),
    ])
    # (the whole move's record says what it found: 1024 MB; the cruncher's says nothing)
    assert history == {"cruncher": [(T0, 2048)], "checkout": [(T0, 768), SizeBefore(T0, 1024)]}


def test_a_failed_conclusion_leaves_the_canary_open():
    failed = {**CONCLUSION, "ok": False}
    (canary,) = history_from_audit([_record(1, "change", T0, CANARY_CHANGE),
                                    _record(2, "verification", T0 + DAY, failed)])["checkout"]
    assert isinstance(canary, CanaryWindow) and canary.end is None
