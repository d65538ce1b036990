"""An apply that stopped mid-change (timed out or crashed after its claim) is not left APPROVED for good:
the cycle's resume takes over its stale claim, records the change as interrupted with what the function
looks like now, and asks a person to check, rather than applying it a second time (moto over HTTP)."""

from __future__ import annotations

from datetime import timedelta

from approval_support import AUDIT, NOW, STATE, Account, make_rec

from lambda_tuner.adapters import aws
from lambda_tuner.adapters.applier import Applier
from lambda_tuner.adapters.apply_flow import CLAIM_STALE_AFTER, ApplyFlow
from lambda_tuner.adapters.notifier import Notifier
from lambda_tuner.adapters.store import Store
from lambda_tuner.core.guardrails import RESUME

FN = "orders-api"
STALE = NOW + CLAIM_STALE_AFTER + timedelta(minutes=1)


def crashed_apply(account: Account, *, stamped: bool = True) -> tuple[Store, ApplyFlow]:
    """A person approved 1,024 → 512 MB; an apply claimed it at NOW, set 768 MB (someone's half-way state)
    and died before recording anything."""
    account.create_function(FN, memory_mb=1024)
    store = Store(STATE, AUDIT)
    store.put_recommendation(make_rec(revision_id=None))
    assert store.transition("rec-1", "PENDING", "APPROVED", NOW, decided_by={"token_id": "t-1"})
    assert store.claim("rec-1", "apply", "the-dead-one", NOW if stamped else None)
    aws.client("lambda").update_function_configuration(FunctionName=FN, MemorySize=768)
    return store, ApplyFlow(store, Applier(sleep=lambda _: None), Notifier(account.topic_arn))


def status(store: Store) -> str:
    rec = store.get_recommendation("rec-1")
    assert rec is not None
    return rec.status


def test_a_stale_claim_is_taken_over_by_the_resume_and_recorded_as_interrupted(account: Account) -> None:
    store, flow = crashed_apply(account)
    account.messages()  # the approval's own notices, if any
    result = flow.apply("rec-1", RESUME, STALE)
    # Not applied a second time: the half-way state stays for a person to judge
    assert not result.ok and "MANUAL CHECK NEEDED" in result.message
    assert account.memory(FN) == 768 and status(store) == "FAILED"
    [record] = store.list_audit()
    assert (record.type, record.actor, record.recommendation_id) == ("change", RESUME, "rec-1")
    assert record.data["ok"] is False and record.data["interrupted"] is True
    assert record.data["found"]["memory_mb"] == 768
    [notice] = account.messages()
    assert "interrupted" in notice["Subject"] and "768" in notice["Message"]


def test_a_recent_claim_is_left_to_its_owner(account: Account) -> None:
    # The claim's owner may still be running (its event can start up to an hour late, then run 15 min)
    store, flow = crashed_apply(account)
    result = flow.apply("rec-1", RESUME, NOW + CLAIM_STALE_AFTER - timedelta(minutes=1))
    assert not result.ok and status(store) == "APPROVED" and store.list_audit() == []
    assert account.memory(FN) == 768


def test_only_the_resume_takes_over_and_only_once(account: Account) -> None:
    store, flow = crashed_apply(account)
    assert not flow.apply("rec-1", "approval", STALE).ok  # a late duplicate delivery does not
    assert status(store) == "APPROVED" and store.list_audit() == []
    flow.apply("rec-1", RESUME, STALE)
    flow.apply("rec-1", RESUME, STALE + timedelta(days=1))  # the next cycle's resume finds it FAILED
    assert [r.type for r in store.list_audit()] == ["change"]


def test_a_claim_stored_without_a_time_counts_as_stale(account: Account) -> None:
    # Claims written before they were stamped: their age is unknown, and they are at least that old
    store, flow = crashed_apply(account, stamped=False)
    flow.apply("rec-1", RESUME, STALE)
    assert status(store) == "FAILED"


def test_claims_are_stamped_and_taken_once_when_stale(account: Account) -> None:
    store, _ = crashed_apply(account)
    cut = NOW + timedelta(seconds=1)
    assert not store.claim("rec-1", "apply", "b", NOW + timedelta(hours=2))  # taken: no stale_before
    assert not store.claim("rec-1", "apply", "b", NOW, stale_before=NOW)  # stamped at NOW: not before it
    assert store.claim("rec-1", "apply", "b", cut, stale_before=cut)
    assert not store.claim("rec-1", "apply", "c", cut, stale_before=cut)  # b's stamp is `cut` now
