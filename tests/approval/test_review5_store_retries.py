"""The store when DynamoDB answers badly: a write that landed but whose answer was lost (the SDK sends it
again and the second sending finds the first one's work done), and an undo whose record failed."""

from __future__ import annotations

from approval_support import AUDIT, NOW, STATE, Account, answer_lost, make_rec

from lambda_tuner.adapters.applier import Applier
from lambda_tuner.adapters.apply_flow import ApplyFlow
from lambda_tuner.adapters.notifier import Notifier
from lambda_tuner.adapters.store import Store

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
