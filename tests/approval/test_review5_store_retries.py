"""The store when DynamoDB answers badly: a write that landed but whose answer was lost (the SDK sends it
again and the second sending finds the first one's work done), and an undo whose record failed."""

from __future__ import annotations

import json
from typing import Any

from approval_support import AUDIT, NOW, STATE, Account, answer_lost, make_rec

from lambda_tuner.adapters.applier import Applier
from lambda_tuner.adapters.apply_flow import ApplyFlow
from lambda_tuner.adapters.notifier import Notifier
from lambda_tuner.adapters.store import Store
from lambda_tuner.core.audit import verify_chain

FN = "orders-api"
ACTION = "arn:aws:lambda:us-east-1:123456789012:function:lt-apply"


def flow_with(account: Account, store: Store) -> ApplyFlow:
    account.create_function(FN, memory_mb=1024)
    store.put_recommendation(make_rec(revision_id=None, status="APPROVED"))
    return ApplyFlow(
        store, Applier(sleep=lambda _: None), Notifier(account.topic_arn), alarm_action_arn=ACTION
    )


def status(store: Store, rec_id: str = "rec-1") -> str:
    rec = store.get_recommendation(rec_id)
    assert rec is not None
    return rec.status


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
