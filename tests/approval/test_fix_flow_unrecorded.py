"""A change whose record cannot be written is undone and ends FAILED, never stuck APPROVED; never FAILED
without a record of it either (moto)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from approval_support import AUDIT, NOW, STATE, Account, make_rec

from lambda_tuner.adapters.applier import Applier
from lambda_tuner.adapters.apply_flow import CLAIM_STALE_AFTER, ApplyFlow, UnrecordedChangeError
from lambda_tuner.adapters.notifier import Notifier
from lambda_tuner.adapters.store import Store, StoreError
from lambda_tuner.core.guardrails import RESUME
from lambda_tuner.core.models import AuditRecord, AuditType

FN = "orders-api"
ACTION = "arn:aws:lambda:us-east-1:123456789012:function:lt-apply"


class FlakyAuditStore(Store):
    """An audit table that refuses the next `failures` records of one type (change records unless said),
    then works again."""

    def __init__(self, refused: AuditType = "change", *, failures: int) -> None:
        super().__init__(STATE, AUDIT)
        self.refused, self.failures = refused, failures

    def append_audit(self, type: AuditType, at: datetime, **fields: Any) -> AuditRecord:
        if type == self.refused and self.failures > 0:
            self.failures -= 1
            raise StoreError("audit table unavailable")
        return super().append_audit(type, at, **fields)


def flow_with(account: Account, store: Store) -> ApplyFlow:
    account.create_function(FN, memory_mb=1024)
    store.put_recommendation(make_rec(revision_id=None, status="APPROVED"))
    return ApplyFlow(
        store, Applier(sleep=lambda _: None), Notifier(account.topic_arn), alarm_action_arn=ACTION
    )


def status(store: Store) -> str:
    rec = store.get_recommendation("rec-1")
    assert rec is not None
    return rec.status


def test_an_unrecordable_change_is_undone_failed_audited_and_announced(account: Account) -> None:
    # Given an audit table that refuses the change record once (and takes the next write)
    store = FlakyAuditStore(failures=1)
    flow = flow_with(account, store)
    # When the approved change is applied, then a clear error says it was made, not recorded, and undone
    with pytest.raises(UnrecordedChangeError, match=r"could not be recorded.*it was undone"):
        flow.apply("rec-1", "approval", NOW)
    # And nothing stays changed, the recommendation is FAILED with the reason, and the audit says so
    assert account.memory(FN) == 1024
    assert status(store) == "FAILED"
    item = store.get_recommendation_item("rec-1")
    assert item is not None and "audit table unavailable" in item["attrs"]["reason"]
    [record] = store.list_audit()
    assert (record.type, record.data["ok"], record.data["restored"]) == ("change", False, True)
    [msg] = account.messages()
    assert msg["Subject"] == "lambda-tuner: Change failed: orders-api"
    assert msg["MessageAttributes"]["severity"]["Value"] == "warning"


def test_a_later_delivery_of_an_unrecorded_change_does_nothing(account: Account) -> None:
    # Given a change that could not be recorded (its apply claimed, now FAILED)
    store = FlakyAuditStore(failures=1)
    flow = flow_with(account, store)
    with pytest.raises(UnrecordedChangeError):
        flow.apply("rec-1", "approval", NOW)
    # When Lambda retries the event, or the cycle hands it over again
    again = flow.apply("rec-1", "approval", NOW + timedelta(minutes=1))
    # Then it answers FAILED (not a stuck "APPROVED, not APPROVED") and makes no second change or record
    assert not again.ok and "FAILED" in again.message
    assert account.memory(FN) == 1024
    assert [r.type for r in store.list_audit()] == ["change"]


def test_when_the_audit_stays_down_the_error_and_notice_say_the_failure_is_unaudited(
    account: Account,
) -> None:
    # Given an audit table that refuses every change record
    store = FlakyAuditStore(failures=2)
    flow = flow_with(account, store)
    # When the change is applied, then the error names the audit table as what could not record it
    with pytest.raises(UnrecordedChangeError, match="audit table could not record this failure either"):
        flow.apply("rec-1", "approval", NOW)
    # And the change is still undone, with a critical notice; the recommendation is not closed FAILED
    # with no record of the change made and undone: it stays claimed for the cycle's resume
    assert account.memory(FN) == 1024 and status(store) == "APPROVED" and store.list_audit() == []
    [msg] = account.messages()
    assert "audit table could not record" in msg["Message"]
    assert msg["MessageAttributes"]["severity"]["Value"] == "critical"
    # which, once the claim is stale (a later cycle), records it and ends it FAILED
    flow.apply("rec-1", RESUME, NOW + CLAIM_STALE_AFTER + timedelta(minutes=1))
    assert status(store) == "FAILED"
    [record] = store.list_audit()
    assert (record.type, record.data["ok"], record.data["interrupted"]) == ("change", False, True)
    assert record.data["found"]["memory_mb"] == 1024
