"""A status move whose write DynamoDB carried out but whose answer was lost: the SDK sends it again, and the
second sending finds the item moved already, by the first. That is this writer's own move, not another
writer's: the caller must not read it as lost."""

from __future__ import annotations

from datetime import timedelta

from approval_support import AUDIT, NOW, STATE, Account, answer_lost, make_rec

from lambda_tuner.adapters.store import Store
from lambda_tuner.core.models import Epoch, Observations
from lambda_tuner.verification import verify_applied

FN = "orders-api"


def _a_day_at_512() -> Observations:
    """A week at 1024 MB before the change, and a day and more at 512 MB after it, as projected."""
    old = Epoch(
        memory_mb=1024,
        arch="x86_64",
        start=NOW - timedelta(days=7),
        end=NOW,
        invocations=70_000,
        duration_avg_ms=120.0,
    )
    new = Epoch(
        memory_mb=512,
        arch="x86_64",
        start=NOW,
        end=NOW + timedelta(days=2),
        invocations=5_000,
        duration_avg_ms=130.0,
    )
    return Observations(function=FN, window_start=old.start, window_end=new.end, epochs=(old, new))


def test_a_change_verified_whose_answer_was_lost_has_its_verification_recorded(account: Account) -> None:
    # Given an applied memory change that ran as projected for a day, and DynamoDB carrying out the move to
    # VERIFIED but losing its answer, so the SDK sends it again (and finds it VERIFIED: by itself)
    store = Store(STATE, AUDIT)
    store.put_recommendation(make_rec(status="APPLIED"))
    store.append_audit("change", NOW, function=FN, recommendation_id="rec-1", data={"ok": True})
    with answer_lost(store.client, "UpdateItem") as sent:
        done = verify_applied({FN: _a_day_at_512()}, store, NOW + timedelta(days=1, hours=1))
    assert sent[:2] == ["UpdateItem", "UpdateItem"]
    # Then the change is verified and its measured effect is in the audit
    # (it used to stay VERIFIED with no verification record, for good: no later cycle judges it again)
    rec = store.get_recommendation("rec-1")
    assert rec is not None and rec.status == "VERIFIED"
    assert [r.type for r in store.list_audit()] == ["change", "verification"]
    assert done == ["rec-1"]


def test_a_request_withdrawn_whose_answer_was_lost_is_reported_withdrawn(account: Account) -> None:
    # Given a request a stopped cycle stored and never sent, and DynamoDB carrying out its withdrawal but
    # losing the answer
    store = Store(STATE, AUDIT)
    store.put_recommendations([make_rec(rec_id="stranded")], unsent=["stranded"])
    with answer_lost(store.client, "UpdateItem") as sent:
        withdrawn = store.withdraw_unsent(NOW + timedelta(days=1), "not sent")
    assert sent[:2] == ["UpdateItem", "UpdateItem"]
    # Then it is withdrawn and said so (it used to be withdrawn and left out of the cycle's summary)
    rec = store.get_recommendation("stranded")
    assert rec is not None and rec.status == "EXPIRED"
    assert withdrawn == ["stranded"]
