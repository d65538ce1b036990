"""The apply function's edge: an event it cannot carry out to the end (its audit record included) is
refused before anything is read or changed, with an error that says what is wrong.

The audit refuses a time without a zone and DynamoDB an item over 400 KB, but only when the record is
written: after the change it records. So such events are refused at the handler."""

from __future__ import annotations

from typing import Any

import pytest
from approval_support import Deployed, FakeContext

from lambda_tuner.adapters import aws
from lambda_tuner.handlers import apply

APPLY_ARN = "arn:aws:lambda:us-east-1:123456789012:function:lt-apply"
# What changes something: Lambda, alarms, the tables, the topic (reads are Get/List/Describe/Query/Scan).
WRITES = ("Put", "Update", "Delete", "Publish", "Create", "Transact", "BatchWrite", "Invoke")


@pytest.fixture
def approved(deployed: Deployed, monkeypatch: pytest.MonkeyPatch) -> Deployed:
    """rec-1 (orders-api 1024 → 512 MB) approved; the apply function guards changes with alarms."""
    monkeypatch.setenv("LT_ALARM_ACTION_ARN", APPLY_ARN)
    apply._flow.cache_clear()
    deployed.propose("https://u.example/")
    assert deployed.store.transition("rec-1", "PENDING", "APPROVED", deployed.now)
    return deployed


def _apply(time: str = "2026-11-26T10:00:00Z") -> dict[str, Any]:
    return {"action": "apply", "recommendation_id": "rec-1", "requested_by": "approval", "time": time}


def _alarms() -> list[str]:
    return [a["AlarmName"] for a in aws.client("cloudwatch").describe_alarms()["MetricAlarms"]]


def _refused(event: Any, match: str) -> dict[str, int]:
    """Hand `event` to the apply function; it must raise, having changed nothing: the calls it made."""
    aws.COUNTER.reset()
    with pytest.raises(ValueError, match=match):
        apply.handler(event, FakeContext())
    calls = aws.COUNTER.snapshot()
    assert [op for op in calls if op.split(".")[1].startswith(WRITES)] == []
    return calls


def test_an_apply_whose_time_has_no_zone_is_refused_before_anything_changes(approved: Deployed) -> None:
    # When an apply request comes with a local time (a hand-written test event, say)
    _refused(_apply(time="2026-11-26T10:00:00"), match="time must carry its time zone")
    # Then the function, the recommendation and its claim, the audit and the alarms are as they were
    # (it used to change the memory, claim the change and create its alarms, then fail to audit it)
    assert approved.account.memory("orders-api") == 1024
    item = approved.store.get_recommendation_item("rec-1") or {}
    assert item["status"]["S"] == "APPROVED" and "claim_apply" not in item
    assert approved.store.list_audit() == [] and _alarms() == []
    # and the same request with its zone is applied and audited
    assert apply.handler(_apply(), FakeContext())["ok"]
    assert approved.account.memory("orders-api") == 512
    assert [r.type for r in approved.store.list_audit()] == ["change"]


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"time": "2026-11-26T11:00:00"}, "time must carry its time zone"),
        ({"since": "2026-11-26T00:00:00"}, "since must carry its time zone"),
        ({"requested_by": "x" * 500_000}, "requested_by is 500000 characters long"),
        ({"function": "f" * 300}, "function is 300 characters long"),
    ],
)
def test_a_revert_that_could_not_be_audited_restores_nothing(
    approved: Deployed, fields: dict[str, str], match: str
) -> None:
    # Given an applied change
    assert apply.handler(_apply(), FakeContext())["ok"] and approved.account.memory("orders-api") == 512
    audit = approved.store.list_audit()
    # When a revert names no time zone, or an actor too long for its audit record
    revert = {"action": "revert", "since": "2026-11-26T00:00:00Z", "time": "2026-11-26T11:00:00Z"}
    _refused(revert | fields, match=match)
    # Then nothing was restored (it used to restore, then fail to write the record: an unaudited revert)
    assert approved.account.memory("orders-api") == 512
    assert approved.store.get_recommendation("rec-1").status == "APPLIED"  # type: ignore[union-attr]
    assert approved.store.list_audit() == audit


def test_a_conclude_whose_time_has_no_zone_is_refused(approved: Deployed) -> None:
    event = {"action": "conclude", "recommendation_id": "rec-1", "time": "2026-11-27T10:00:00"}
    _refused(event, match="time must carry its time zone")


def _alarm_event(name: str, **replace: Any) -> dict[str, Any]:
    """A rollback alarm's action as CloudWatch sends it (the fields the apply function reads)."""
    alarm = {"alarmName": name, "state": {"value": "ALARM"}}
    return {"source": "aws.cloudwatch", "time": "2026-11-26T10:30:00.000+0000", "alarmData": alarm} | replace


MALFORMED_ALARMS: dict[str, tuple[Any, str]] = {
    "naive-time": (lambda name: _alarm_event(name, time="2026-11-26T10:30:00"), "timezone"),
    "no-time": (lambda name: {k: v for k, v in _alarm_event(name).items() if k != "time"}, "time"),
    "alarm-data-not-an-object": (lambda name: _alarm_event(name, alarmData=name), "alarmData"),
    "no-alarm-name": (lambda name: _alarm_event(name, alarmData={"state": {"value": "ALARM"}}), "alarmName"),
    "no-state": (lambda name: _alarm_event(name, alarmData={"alarmName": name}), "state"),
    "a-list": (lambda name: [_alarm_event(name)], "a JSON object, not list"),
    "a-string": (lambda name: name, "a JSON object, not str"),
}


@pytest.mark.parametrize("case", MALFORMED_ALARMS)
def test_a_malformed_alarm_or_non_object_event_is_a_clear_error_that_changes_nothing(
    approved: Deployed, case: str
) -> None:
    # Given an applied change and its alarms
    assert apply.handler(_apply(), FakeContext())["ok"]
    alarms, audit = _alarms(), approved.store.list_audit()
    [errors] = [name for name in alarms if name.endswith("-errors")]
    # When its errors alarm's action arrives malformed (or something that is not an object at all)
    make, match = MALFORMED_ALARMS[case]
    _refused(make(errors), match=match)
    # Then the change stands, guarded and recorded as before (a local time used to roll it back, then
    # fail to write the rollback's record)
    assert approved.account.memory("orders-api") == 512
    assert _alarms() == alarms and approved.store.list_audit() == audit


def test_an_alarm_action_in_cloudwatchs_own_format_still_rolls_back(approved: Deployed) -> None:
    assert apply.handler(_apply(), FakeContext())["ok"]
    [errors] = [name for name in _alarms() if name.endswith("-errors")]
    assert apply.handler(_alarm_event(errors), FakeContext())["ok"]
    assert approved.account.memory("orders-api") == 1024
    assert [r.type for r in approved.store.list_audit()] == ["change", "rollback"]
    ok_again = _alarm_event(errors, alarmData={"alarmName": errors, "state": {"value": "OK"}})
    assert apply.handler(ok_again, FakeContext())["message"].startswith("alarm not in ALARM state")


def test_a_time_in_another_zone_is_a_zoned_time(approved: Deployed) -> None:
    # the check is about the zone being there, not about it being UTC
    assert apply.handler(_apply(time="2026-11-26T12:00:00+02:00"), FakeContext())["ok"]
    assert [r.at.isoformat() for r in approved.store.list_audit()] == ["2026-11-26T10:00:00+00:00"]
