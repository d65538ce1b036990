"""The cycle's retry of an approved change keeps who approved it: a person's approval of a function
tagged mode=approve is applied, the agent's own approval is still refused (moto over HTTP)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from approval_support import AUDIT, NOW, STATE, Account, agent_settings, make_rec

from lambda_tuner.adapters.applier import Applier
from lambda_tuner.adapters.apply_flow import ApplyEvent, ApplyFlow
from lambda_tuner.adapters.notifier import Notifier
from lambda_tuner.adapters.store import Store
from lambda_tuner.collect import CollectResult, CollectStats
from lambda_tuner.core.guardrails import RESUME, apply_refusal
from lambda_tuner.core.models import Inventory
from lambda_tuner.cycle import RESUME_AFTER, CycleDeps, run_cycle

FN = "orders-api"
APPROVE_TAG = {"lambda-tuner:mode": "approve"}
LATER = NOW + RESUME_AFTER + timedelta(minutes=5)  # the next cycle, once the approval counts as stuck


@pytest.mark.parametrize(
    ("mode", "actor", "approver", "refused"),
    [
        ("approve", RESUME, "approval", False),  # a person approved it: the retry carries that approval
        ("approve", RESUME, "agent", True),  # auto mode approved it: a person must decide now
        ("approve", RESUME, None, True),  # nobody known approved it: not the agent's to apply
        ("approve", "agent", None, True),
        ("approve", "approval", None, False),
        ("auto", RESUME, "agent", False),
        (None, RESUME, "agent", False),  # no tag: the account mode the change was proposed under stands
        ("recommend", RESUME, "approval", True),  # mode=recommend refuses even a person's approval
    ],
)
def test_mode_approve_judges_a_resumed_change_by_who_approved_it(
    mode: Any, actor: str, approver: str | None, refused: bool
) -> None:
    assert (apply_refusal(mode, actor, approver) is not None) is refused


def person_approved(store: Store) -> None:
    """What the approval page leaves: PENDING → APPROVED with `decided_by` (its invoke then failed)."""
    store.put_recommendation(make_rec(revision_id=None))
    assert store.transition("rec-1", "PENDING", "APPROVED", NOW, decided_by={"token_id": "t-1"})


def agent_approved(store: Store) -> None:
    """What the cycle leaves in auto mode: the change stored APPROVED directly (its invoke then failed)."""
    store.put_recommendation(make_rec(revision_id=None, status="APPROVED"))


def flow_for(account: Account) -> tuple[Store, ApplyFlow]:
    account.create_function(FN, memory_mb=1024, tags=APPROVE_TAG)
    store = Store(STATE, AUDIT)
    return store, ApplyFlow(store, Applier(sleep=lambda _: None), Notifier(account.topic_arn))


def status(store: Store) -> str:
    rec = store.get_recommendation("rec-1")
    assert rec is not None
    return rec.status


def test_a_resumed_person_approval_is_applied_under_mode_approve(account: Account) -> None:
    # Given a person's approval of a mode=approve function whose apply never started
    store, flow = flow_for(account)
    person_approved(store)
    # When the cycle hands it over again
    result = flow.apply("rec-1", RESUME, LATER)
    # Then it is applied, as the approval page promised, and audited as the resume it was
    assert result.ok and account.memory(FN) == 512 and status(store) == "APPLIED"
    [change] = store.list_audit()
    assert (change.type, change.actor) == ("change", RESUME)


@pytest.mark.parametrize("approve", [agent_approved, "auto-approved-pending"])
def test_a_resumed_agent_approval_is_still_refused_under_mode_approve(account: Account, approve: Any) -> None:
    # Given the agent's own approval (stored APPROVED by the cycle, or PENDING approved by the apply
    # function itself, which records approved_by=agent), and a function tagged mode=approve since
    store, flow = flow_for(account)
    if approve == "auto-approved-pending":
        store.put_recommendation(make_rec(revision_id=None))
        assert store.transition("rec-1", "PENDING", "APPROVED", NOW, approved_by="agent")
    else:
        approve(store)
    # When the cycle hands it over again, then a person has to decide: nothing changes
    result = flow.apply("rec-1", RESUME, LATER)
    assert not result.ok and "mode=approve" in result.message
    assert account.memory(FN) == 1024 and status(store) == "FAILED"
    assert [r.type for r in store.list_audit()] == ["refusal"]


def empty_collector(*_: Any, **__: Any) -> CollectResult:
    return CollectResult(inventory=Inventory(functions=()), observations={}, stats=CollectStats(), state={})


@pytest.mark.parametrize(("approve", "applied"), [(person_approved, True), (agent_approved, False)])
def test_the_next_cycle_resumes_a_stuck_approval_as_its_approver(
    account: Account, approve: Any, applied: bool
) -> None:
    # Given an approved change on a mode=approve function whose apply never started
    store, flow = flow_for(account)
    approve(store)
    sent: list[dict[str, Any]] = []

    def invoke_apply(payload: dict[str, Any]) -> None:  # the apply function's own event validation
        sent.append(payload)
        event = ApplyEvent.model_validate(payload)
        flow.apply(event.recommendation_id, event.requested_by, event.time)

    deps = CycleDeps(
        store=store,
        notifier=None,
        secret=lambda: b"s" * 32,
        invoke_apply=invoke_apply,
        collector=empty_collector,
    )
    # When the next cycle runs
    run_cycle(agent_settings(), LATER, deps)
    # Then it re-sends it as a resume, and only a person's approval is applied
    assert [(p["recommendation_id"], p["requested_by"]) for p in sent] == [("rec-1", RESUME)]
    assert account.memory(FN) == (512 if applied else 1024)
    assert status(store) == ("APPLIED" if applied else "FAILED")
