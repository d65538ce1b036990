"""Approval links under attack and misuse: each refused (or handled), nothing applied, each audited."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from approval_support import AUDIT, NOW, SECRET, STATE, Account, FakeLambda, make_rec
from botocore.exceptions import ClientError, ReadTimeoutError

from lambda_tuner.adapters.secrets import SecretError
from lambda_tuner.adapters.store import Store, StoreError
from lambda_tuner.core.models import Reason
from lambda_tuner.core.tokens import TokenClaims, approval_links, sign
from lambda_tuner.web.approval_flow import ApprovalFlow, Visitor

KEY = SECRET.encode()
VISITOR = Visitor(ip="198.51.100.7", user_agent="Mozilla/5.0 test", method="POST")
GET = Visitor(ip="198.51.100.7", user_agent="Mozilla/5.0 test", method="GET")


class World:
    """One pending recommendation, its links, and the approval logic wired to moto and a fake Lambda."""

    def __init__(self) -> None:
        self.store = Store(STATE, AUDIT)
        self.lam = FakeLambda()
        self.flow = ApprovalFlow(self.store, lambda: KEY, self.lam, "lt-apply")
        self.rec = make_rec()
        self.store.put_recommendation(self.rec)
        ids = iter(["jti-approve", "jti-reject", "jti-3", "jti-4"])
        links = approval_links("https://u.example/", KEY, self.rec, NOW, 72, lambda: next(ids))
        self.token = {act: parse_qs(urlparse(url).query)["token"][0] for act, url in links.items()}

    def status(self, rec_id: str = "rec-1") -> str:
        rec = self.store.get_recommendation(rec_id)
        assert rec is not None
        return rec.status

    def audit(self) -> list[tuple[str, str]]:
        return [(r.type, str(r.data.get("reason", ""))) for r in self.store.list_audit()]


@pytest.fixture
def world(account: Account) -> World:
    return World()


def _tamper(token: str, **changes: object) -> str:
    payload, signature = token.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body.update(changes)
    raw = base64.urlsafe_b64encode(json.dumps(body, sort_keys=True, separators=(",", ":")).encode())
    return raw.rstrip(b"=").decode() + "." + signature


def _assert_untouched(world: World, refusal: str | None) -> None:
    """Nothing changed; the refusal of a genuine link is audited, a malformed or forged one (None) only
    logged: anyone can send those, and the audit is append-only."""
    assert world.status() == "PENDING"
    assert world.lam.invocations == []
    assert world.audit() == ([("refusal", refusal)] if refusal else [])


def test_a_valid_approval_moves_to_approved_audits_who_and_starts_the_apply_once(world: World) -> None:
    page = world.flow.decide(world.token["approve"], "approve", NOW + timedelta(hours=1), VISITOR)
    assert page.status == 200 and "being applied" in page.html
    assert world.status() == "APPROVED"
    [approval] = world.store.list_audit()
    assert approval.type == "approval" and approval.recommendation_id == "rec-1"
    assert approval.data == {
        "token_id": "jti-approve",
        "source_ip": "198.51.100.7",
        "user_agent": "Mozilla/5.0 test",
    }
    assert world.lam.invocations == [
        {
            "function": "lt-apply",
            "type": "Event",
            "action": "apply",
            "recommendation_id": "rec-1",
            "requested_by": "approval",
            "time": (NOW + timedelta(hours=1)).isoformat(),
        }
    ]


def test_a_rejection_moves_to_rejected_and_applies_nothing(world: World) -> None:
    page = world.flow.decide(world.token["reject"], "reject", NOW, VISITOR)
    assert page.status == 200 and "Nothing will change" in page.html
    assert world.status() == "REJECTED"
    assert world.audit() == [("rejection", "")]
    assert world.lam.invocations == []


def test_opening_a_link_shows_the_change_but_changes_nothing(world: World) -> None:
    # Given a mail scanner that prefetches the approve link
    page = world.flow.show(world.token["approve"], NOW, GET)
    # Then it sees the confirmation form, and nothing is approved, applied or audited
    assert page.status == 200 and 'method="post"' in page.html and "Approve and apply" in page.html
    assert world.status() == "PENDING" and world.lam.invocations == [] and world.audit() == []


def test_a_forged_signature_is_refused(world: World) -> None:
    forged = sign(
        b"attacker-key-0123456789",
        TokenClaims(
            jti="x", rec="rec-1", act="approve", rev="rev-1", exp=int((NOW + timedelta(days=1)).timestamp())
        ),
    )
    page = world.flow.decide(forged, "approve", NOW, VISITOR)
    assert page.status == 403 and "not genuine" in page.html
    _assert_untouched(world, None)


@pytest.mark.parametrize("change", [{"rec": "rec-2"}, {"act": "approve"}, {"exp": 9_999_999_999}])
def test_a_tampered_token_is_refused(world: World, change: dict[str, object]) -> None:
    # Given the reject link, edited to name another recommendation, approve instead, or live longer
    page = world.flow.decide(_tamper(world.token["reject"], **change), "approve", NOW, VISITOR)
    assert page.status == 403
    _assert_untouched(world, None)


def test_a_form_whose_decision_differs_from_the_token_is_refused(world: World) -> None:
    page = world.flow.decide(world.token["reject"], "approve", NOW, VISITOR)
    assert page.status == 400 and "Link altered" in page.html
    _assert_untouched(world, "Link altered")


def test_an_expired_link_is_refused_and_the_recommendation_expires(world: World) -> None:
    page = world.flow.decide(world.token["approve"], "approve", NOW + timedelta(hours=72), VISITOR)
    assert page.status == 410 and "expired" in page.html
    assert world.status() == "EXPIRED"
    assert world.lam.invocations == [] and world.audit() == [("refusal", "Link expired")]


def test_opening_an_expired_link_refuses_without_changing_state(world: World) -> None:
    page = world.flow.show(world.token["approve"], NOW + timedelta(hours=73), GET)
    assert page.status == 410
    _assert_untouched(world, "Link expired")


def test_a_replayed_link_is_refused_the_second_time(world: World) -> None:
    assert world.flow.decide(world.token["approve"], "approve", NOW, VISITOR).status == 200
    again = world.flow.decide(world.token["approve"], "approve", NOW + timedelta(minutes=1), VISITOR)
    assert again.status == 409 and "Already decided" in again.html
    assert len(world.lam.invocations) == 1
    assert [t for t, _ in world.audit()] == ["approval", "refusal"]


def test_the_other_link_is_dead_once_one_was_used(world: World) -> None:
    world.flow.decide(world.token["reject"], "reject", NOW, VISITOR)
    assert world.flow.decide(world.token["approve"], "approve", NOW, VISITOR).status == 409
    assert world.status() == "REJECTED" and world.lam.invocations == []


def test_a_token_for_another_recommendation_decides_only_that_one(world: World) -> None:
    other = make_rec(rec_id="rec-2")
    world.store.put_recommendation(other)
    token = parse_qs(
        urlparse(approval_links("https://u/", KEY, other, NOW, 72, lambda: "j2")["approve"]).query
    )
    world.flow.decide(token["token"][0], "approve", NOW, VISITOR)
    assert world.status("rec-2") == "APPROVED" and world.status("rec-1") == "PENDING"
    assert [i["recommendation_id"] for i in world.lam.invocations] == ["rec-2"]


def test_an_unknown_recommendation_is_refused(world: World) -> None:
    ghost = make_rec(rec_id="ghost")
    token = parse_qs(
        urlparse(approval_links("https://u/", KEY, ghost, NOW, 72, lambda: "j")["approve"]).query
    )
    page = world.flow.decide(token["token"][0], "approve", NOW, VISITOR)
    assert page.status == 404
    _assert_untouched(world, "Unknown change")


def test_a_function_deployed_since_the_proposal_is_refused_and_the_proposal_expires(world: World) -> None:
    world.lam.revisions["orders-api"] = "rev-2"  # a deploy happened after the proposal
    shown = world.flow.show(world.token["approve"], NOW, GET)
    assert shown.status == 409 and "changed since the proposal" in shown.html
    assert world.status() == "PENDING"  # a GET never changes state…
    posted = world.flow.decide(world.token["approve"], "approve", NOW, VISITOR)
    assert posted.status == 409 and world.status() == "EXPIRED"  # …the POST retires the stale proposal
    assert world.lam.invocations == []
    assert [t for t, _ in world.audit()] == ["refusal", "refusal"]


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "x" * 5000])
def test_malformed_links_are_refused(world: World, token: str) -> None:
    page = world.flow.decide(token, "approve", NOW, VISITOR)
    assert page.status in (400, 403)
    _assert_untouched(world, None)


def test_page_text_from_the_recommendation_is_escaped(world: World) -> None:
    evil = make_rec(
        rec_id="rec-x",
        reason=Reason(summary="<script>alert(1)</script>", observed="<img src=x>", model="m", decided_by="d"),
    )
    world.store.put_recommendation(evil)
    token = parse_qs(urlparse(approval_links("https://u/", KEY, evil, NOW, 72, lambda: "j")["approve"]).query)
    html = world.flow.show(token["token"][0], NOW, GET).html
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img" not in html


def test_when_the_secret_cannot_be_read_the_link_is_refused_for_now(world: World) -> None:
    def no_secret() -> bytes:
        raise SecretError("denied")

    flow = ApprovalFlow(world.store, no_secret, world.lam, "lt-apply")
    page = flow.decide(world.token["approve"], "approve", NOW, VISITOR)
    assert page.status == 503 and "try again" in page.html
    _assert_untouched(world, None)  # logged: AWS unreachable is no decision


def test_when_the_function_cannot_be_read_the_link_is_refused_for_now(world: World) -> None:
    class DeniedLambda(FakeLambda):
        def get_function_configuration(self, FunctionName: str) -> dict[str, object]:
            raise ClientError(
                {"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "GetFunctionConfiguration"
            )

    flow = ApprovalFlow(world.store, lambda: KEY, DeniedLambda(), "lt-apply")
    assert flow.decide(world.token["approve"], "approve", NOW, VISITOR).status == 503
    _assert_untouched(world, None)


def test_no_answer_from_aws_gives_a_try_again_page_not_a_crash(world: World) -> None:
    class Silent(FakeLambda):
        def get_function_configuration(self, FunctionName: str) -> dict[str, object]:
            raise ReadTimeoutError(endpoint_url="https://lambda.us-east-1.amazonaws.com")

    flow = ApprovalFlow(world.store, lambda: KEY, Silent(), "lt-apply")
    for page in (
        flow.show(world.token["approve"], NOW, GET),
        flow.decide(world.token["approve"], "approve", NOW, VISITOR),
    ):
        assert page.status == 503 and "try again" in page.html
    _assert_untouched(world, None)


@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_a_decision_whose_audit_record_cannot_be_written_is_taken_back(
    world: World, decision: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the audit table refusing the write (throttled, or a lost append race)
    def refuse(*_: object, **__: object) -> None:
        raise StoreError("ProvisionedThroughputExceededException")

    monkeypatch.setattr(world.store, "append_audit", refuse)
    # When the person decides, then the page says to try again, and the change is still waiting on them
    page = world.flow.decide(world.token[decision], decision, NOW, VISITOR)
    assert page.status == 503 and "try again" in page.html
    assert world.status() == "PENDING" and world.lam.invocations == []
    # And once the audit table answers again, the same link works
    monkeypatch.undo()
    assert world.flow.decide(world.token[decision], decision, NOW, VISITOR).status == 200
    assert [t for t, _ in world.audit()] == ["approval" if decision == "approve" else "rejection"]
