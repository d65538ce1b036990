"""The apply function's edge, continued: a request whose time is far from the wall clock.

Every record an apply request writes is dated with its `time`, and the look-back read of the audit (each
cycle's memory history, `revert --since`) goes newest first and stops a day before its start: one record
dated 1970 on top of the audit stops it there. The agent refuses such ticks (core.events.untimely); the
apply function is sent hand-made events the same way (the console's test event)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from approval_support import AUDIT, NOW, STATE, Deployed, FakeContext

from lambda_tuner.adapters.store import Store
from lambda_tuner.handlers import apply


@pytest.fixture
def applied(deployed: Deployed) -> Deployed:
    """rec-1 (orders-api 1024 → 512 MB) approved and applied at the fixture's fixed time."""
    deployed.propose("https://u.example/")
    assert deployed.store.transition("rec-1", "PENDING", "APPROVED", deployed.now)
    event = {"action": "apply", "recommendation_id": "rec-1", "requested_by": "approval"}
    assert apply.handler(event | {"time": "2026-11-26T10:00:00Z"}, FakeContext())["ok"]
    return deployed


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


STALE = "1970-01-01T00:00:00Z"  # what a hand-made test event tends to carry
AHEAD = _stamp(datetime.now(UTC) + timedelta(days=400))
REQUESTS: dict[str, dict[str, Any]] = {  # the apply as events/apply.json has it: its id a placeholder
    "apply": {"action": "apply", "recommendation_id": "REC_ID", "requested_by": "approval"},
    "revert": {"action": "revert", "since": "2026-11-26T00:00:00Z"},
    "conclude": {"action": "conclude", "recommendation_id": "rec-1"},
    "alarm": {"source": "aws.cloudwatch", "alarmData": {"alarmName": "x", "state": {"value": "ALARM"}}},
}


@pytest.mark.parametrize("kind", REQUESTS)
@pytest.mark.parametrize(
    ("time", "match"), [(STALE, "stale or hand-made"), (AHEAD, "ahead of now")], ids=["1970", "ahead"]
)
def test_a_request_dated_far_from_the_clock_is_refused_and_files_nothing(
    applied: Deployed, monkeypatch: pytest.MonkeyPatch, kind: str, time: str, match: str
) -> None:
    # Given the apply function as the template deploys it (the fixtures turn the bound off: their days
    # are fixed), and an applied change in the audit
    monkeypatch.delenv("LT_MAX_EVENT_AGE_S", raising=False)
    apply._flow.cache_clear()
    audit = applied.store.list_audit()
    # When a request comes dated 1970, or a year ahead
    with pytest.raises(ValueError, match=f"{match}.*nothing was read or changed"):
        apply.handler(REQUESTS[kind] | {"time": time}, FakeContext())
    # Then the change stands, the audit is as it was, and a read back from the change still finds it (a
    # record dated 1970 on top used to stop the newest-first read before it)
    assert applied.account.memory("orders-api") == 512
    assert applied.store.list_audit() == audit
    paged = Store(STATE, AUDIT, audit_page_size=1)
    assert [r.type for r in paged.list_audit(since=NOW)] == ["change"]


def test_a_request_of_a_few_minutes_ago_is_carried_out(
    applied: Deployed, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LT_MAX_EVENT_AGE_S", raising=False)
    apply._flow.cache_clear()
    recent = _stamp(datetime.now(UTC) - timedelta(minutes=5))
    result = apply.handler(REQUESTS["revert"] | {"time": recent}, FakeContext())
    assert result["ok"] and applied.account.memory("orders-api") == 1024
