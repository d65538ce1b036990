"""The store when DynamoDB answers badly: a write that landed but whose answer was lost (the SDK sends it
again and the second sending finds the first one's work done), and an undo whose record failed."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from approval_support import AUDIT, NOW, STATE, Account, answer_lost, make_rec
from botocore.config import Config
from test_fix_flow_unrecorded import FlakyAuditStore, flow_with

from lambda_tuner.adapters import aws
from lambda_tuner.adapters.store import Store, StoreError
from lambda_tuner.core.audit import verify_chain

FN = "orders-api"
ACTION = "arn:aws:lambda:us-east-1:123456789012:function:lt-apply"


def status(store: Store, rec_id: str = "rec-1") -> str:
    rec = store.get_recommendation(rec_id)
    assert rec is not None
    return rec.status


def alarm_names() -> list[str]:
    return [a["AlarmName"] for a in aws.client("cloudwatch").describe_alarms()["MetricAlarms"]]


def test_an_apply_whose_claim_landed_but_whose_answer_was_lost_still_applies(account: Account) -> None:
    # Given an approved change, and DynamoDB carrying out the apply's claim but losing its answer, so the
    # SDK sends it again (and the second time the claim is already taken: by this very request)
    store = Store(STATE, AUDIT)
    flow = flow_with(account, store)
    with answer_lost(store.client, "UpdateItem") as sent:
        result = flow.apply("rec-1", "approval", NOW)
    assert sent[:2] == ["UpdateItem", "UpdateItem"]
    # Then the request knows the claim for its own and applies the change, once, recorded
    # (it used to take the claim for someone else's, skip the change silently, and leave it APPROVED and
    # claimed until a cycle's resume marked it FAILED "MANUAL CHECK NEEDED" though nothing was changed)
    assert result.ok, result.message
    assert account.memory(FN) == 512 and status(store) == "APPLIED"
    assert [r.type for r in store.list_audit()] == ["change"]


def test_an_audit_record_whose_put_landed_but_whose_answer_was_lost_is_written_once(account: Account) -> None:
    # Given an audit with a record in it, and DynamoDB carrying out the next record's put but losing its
    # answer, so the SDK sends it again (and the second time the sequence number is taken: by that record)
    store = Store(STATE, AUDIT)
    first = store.append_audit("refusal", NOW, function=FN, data={"reason": "first"})
    with answer_lost(store.client, "PutItem") as sent:
        record = store.append_audit("change", NOW, function=FN, recommendation_id="rec-1", data={"ok": True})
    assert sent[:2] == ["PutItem", "PutItem"]
    # Then the audit holds the record once, and the chain and its head are whole
    # (it used to chain the record again after itself and write it a second time)
    assert [r.id for r in store.list_audit()] == [first.id, record.id]
    assert verify_chain(store.list_audit(), store.published_head()) == []


def test_a_run_of_audit_records_resent_after_a_lost_answer_carries_the_same_request_token(
    account: Account,
) -> None:
    # Given a run of records whose TransactWriteItems is carried out but whose answer is lost
    store = Store(STATE, AUDIT)
    tokens: list[str] = []

    def token(request: Any, **_: Any) -> None:
        tokens.append(json.loads(request.body)["ClientRequestToken"])

    store.client.meta.events.register("before-send.dynamodb.TransactWriteItems", token, unique_id="token")
    try:
        with answer_lost(store.client, "TransactWriteItems"):
            store.append_audit_many([("refusal", NOW, {"function": FN, "data": {"reason": "r"}})])
    finally:
        store.client.meta.events.unregister("before-send.dynamodb.TransactWriteItems", unique_id="token")
    # Then the SDK's resend carries the first sending's ClientRequestToken (botocore fills it in once per
    # call), so DynamoDB answers it as the same transaction and writes nothing twice. (moto ignores the
    # token, so the records themselves cannot show it here.)
    assert len(tokens) >= 2 and tokens[0] == tokens[1]


def test_a_rollback_whose_record_failed_is_recorded_when_the_alarm_event_comes_again(
    account: Account,
) -> None:
    # Given an applied change, and an audit table that refuses the rollback record once
    store = FlakyAuditStore("rollback", failures=1)
    flow = flow_with(account, store)
    assert flow.apply("rec-1", "approval", NOW).ok
    change = store.list_audit()[0]
    alarm = alarm_names()[0]
    # When its alarm fires, the change is undone but the rollback cannot be recorded: the error surfaces
    with pytest.raises(StoreError, match="audit table unavailable"):
        flow.on_alarm(alarm, NOW + timedelta(hours=1))
    assert account.memory(FN) == 1024
    [*_, notice] = account.messages()
    assert notice["Subject"] == "lambda-tuner: Rolled back, not recorded: orders-api"
    assert "retry of the alarm event records it" in notice["Message"]
    assert notice["MessageAttributes"]["severity"]["Value"] == "critical"
    # And when Lambda delivers the alarm's event again (the apply function retries failed events)
    result = flow.on_alarm(alarm, NOW + timedelta(hours=1, minutes=1))
    # Then the rollback is recorded, once, caused by the change, its alarms go and the topic is told
    # (the retry used to find the change ROLLED_BACK and do nothing: an undo the audit never saw)
    assert result is not None and result.ok
    assert [(r.type, r.caused_by) for r in store.list_audit()] == [("change", None), ("rollback", change.id)]
    assert status(store) == "ROLLED_BACK" and alarm_names() == []
    assert [m["Subject"] for m in account.messages()][-1] == "lambda-tuner: Rolled back: orders-api"
    # And a further delivery, or a sibling alarm, finds it recorded and does nothing
    assert flow.on_alarm(alarm, NOW + timedelta(hours=1, minutes=2)) is None
    assert [r.type for r in store.list_audit()] == ["change", "rollback"]


def test_a_revert_whose_record_failed_is_recorded_when_the_revert_is_asked_again(account: Account) -> None:
    # Given an applied change, and an audit table that refuses the revert record once
    store = FlakyAuditStore("revert", failures=1)
    flow = flow_with(account, store)
    assert flow.apply("rec-1", "approval", NOW).ok
    change = store.list_audit()[0]
    # When it is reverted, the function is put back but the revert cannot be recorded: its result says so
    [failed] = flow.revert(NOW - timedelta(hours=1), FN, NOW + timedelta(days=1))
    assert not failed.ok and "not recorded (audit table unavailable)" in failed.message, failed
    assert account.memory(FN) == 1024
    # And when the revert is asked again, it finds the change still unrecorded as undone and records it
    [result] = flow.revert(NOW - timedelta(hours=1), FN, NOW + timedelta(days=1, minutes=1))
    assert result.ok and account.memory(FN) == 1024
    [_, revert] = store.list_audit()
    assert revert.type == "revert" and revert.data["changes"] == [change.id]
    assert status(store) == "ROLLED_BACK" and alarm_names() == []


ONE_ATTEMPT = Config(retries={"mode": "standard", "total_max_attempts": 1})
APPENDS: dict[str, tuple[str, Any]] = {
    "a record": ("PutItem", lambda s: [s.append_audit("approval", NOW, function=FN, data={"n": 1})]),
    "a record marked on its recommendation": (
        "TransactWriteItems",
        lambda s: [s.append_audit("rollback", NOW, function=FN, recommendation_id="rec-1", once_on="rec-1")],
    ),
    "a run of records": (
        "TransactWriteItems",
        lambda s: s.append_audit_many([("approval", NOW, {"function": FN}), ("approval", NOW, {})]),
    ),
}


@pytest.mark.parametrize("what", list(APPENDS))
def test_an_audit_append_that_landed_but_got_no_answer_and_no_retry_is_returned_as_written(
    account: Account, what: str
) -> None:
    # Given a client with no retries left (the approval page's gives up after two tries of 4 s), and
    # DynamoDB carrying out the append but its answer lost
    operation, append = APPENDS[what]
    store = Store(STATE, AUDIT, client=aws.session().client("dynamodb", config=ONE_ATTEMPT))
    store.put_recommendation(make_rec(status="APPLIED"))
    first = store.append_audit("refusal", NOW, function=FN, data={"reason": "first"})
    with answer_lost(store.client, operation) as sent:
        written = append(store)
    assert sent[0] == operation  # then no retry: the next call is the head copy, if any
    # Then the append reads back that its records are in the audit and returns them: it used to raise
    # the store's error, and its caller took them for unwritten (the approval page put an approval it
    # had recorded back to PENDING and asked for another click, which recorded it again; an apply undid
    # a change it had recorded and recorded a failure beside it)
    assert [r.id for r in store.list_audit()] == [first.id, *(r.id for r in written)]
    assert verify_chain(store.list_audit(), None) == []
