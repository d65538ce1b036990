"""Approval links when AWS answers badly: a decision whose write landed but whose answer was lost."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from approval_support import AUDIT, NOW, SECRET, STATE, Account, FakeLambda, answer_lost, make_rec

from lambda_tuner.adapters.store import Store, StoreError
from lambda_tuner.core.tokens import approval_links
from lambda_tuner.web.approval_flow import ApprovalFlow, Visitor

KEY = SECRET.encode()
VISITOR = Visitor(ip="198.51.100.7", user_agent="Mozilla/5.0 test", method="POST")


@pytest.fixture
def pending(account: Account) -> tuple[Store, FakeLambda, ApprovalFlow, dict[str, str]]:
    store, lam = Store(STATE, AUDIT), FakeLambda()
    rec = make_rec()
    store.put_recommendation(rec)
    ids = iter(["jti-approve", "jti-reject"])
    links = approval_links("https://u.example/", KEY, rec, NOW, 72, lambda: next(ids))
    tokens = {act: parse_qs(urlparse(url).query)["token"][0] for act, url in links.items()}
    return store, lam, ApprovalFlow(store, lambda: KEY, lam, "lt-apply"), tokens


@pytest.mark.parametrize(
    ("decision", "status", "record"),
    [("approve", "APPROVED", "approval"), ("reject", "REJECTED", "rejection")],
)
def test_a_decision_whose_answer_was_lost_and_resent_is_still_one_recorded_decision(
    pending: tuple[Store, FakeLambda, ApprovalFlow, dict[str, str]], decision: str, status: str, record: str
) -> None:
    store, lam, flow, tokens = pending
    # Given DynamoDB carries out the decision's write but its answer is lost, so the SDK sends it again
    # (and the second time the condition PENDING no longer holds)
    with answer_lost(store.client, "UpdateItem") as sent:
        page = flow.decide(tokens[decision], decision, NOW + timedelta(hours=1), VISITOR)
    assert sent == ["UpdateItem", "UpdateItem"]
    # Then the person's decision is the one taken, recorded once, and (for an approval) its apply started
    # (it used to say "someone decided a moment ago", leave the change APPROVED with no approval record
    # and start nothing, until a cycle resumed the unrecorded approval)
    assert page.status == 200, page.html
    assert store.get_recommendation("rec-1").status == status  # type: ignore[union-attr]
    assert [r.type for r in store.list_audit()] == [record]
    assert len(lam.invocations) == (1 if decision == "approve" else 0)


@pytest.mark.parametrize("why", ["expired", "deployed since"])
def test_a_refusal_that_cannot_be_recorded_leaves_the_proposal_as_it_was(
    pending: tuple[Store, FakeLambda, ApprovalFlow, dict[str, str]], why: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, lam, flow, tokens = pending
    # Given an approve link pressed after it expired, or after the function was deployed again, while the
    # audit table refuses writes
    at = NOW + timedelta(hours=73) if why == "expired" else NOW
    if why == "deployed since":
        lam.revisions["orders-api"] = "rev-2"

    def refuse(*_: object, **__: object) -> None:
        raise StoreError("ProvisionedThroughputExceededException")

    with monkeypatch.context() as patched:
        patched.setattr(store, "append_audit", refuse)
        page = flow.decide(tokens["approve"], "approve", at, VISITOR)
    # Then the page says nothing was changed, and nothing was (the proposal used to end EXPIRED with no
    # record of why, and the retry then said only "already expired")
    assert page.status == 503 and "Nothing was changed" in page.html
    assert store.get_recommendation("rec-1").status == "PENDING"  # type: ignore[union-attr]
    # And once the audit answers again, the same press expires it with its reason on record
    assert flow.decide(tokens["approve"], "approve", at, VISITOR).status in (409, 410)
    assert store.get_recommendation("rec-1").status == "EXPIRED"  # type: ignore[union-attr]
    status = 410 if why == "expired" else 409
    assert [(r.type, r.data["status"]) for r in store.list_audit()] == [("refusal", status)]
