"""The approval function end to end: digest from SNS → link → page → POST → apply function → memory."""

from __future__ import annotations

import base64
import urllib.error
import urllib.request
from datetime import timedelta
from urllib.parse import urlencode

from approval_support import (
    APPROVAL_FN,
    NOW,
    Deployed,
    FakeContext,
    FunctionUrl,
    link_in,
    route_invokes,
    url_event,
)

from lambda_tuner.adapters import aws
from lambda_tuner.core.tokens import TokenClaims, sign
from lambda_tuner.handlers import apply, approval

FN = APPROVAL_FN
SAFE_HEADERS = {
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def test_a_person_approves_from_the_email_and_the_memory_changes(deployed: Deployed) -> None:
    server = FunctionUrl(approval.handler, lambda: deployed.now)
    try:
        body = deployed.propose(server.url)
        link = link_in(body, "approve")
        with route_invokes(aws.client("lambda"), {"lt-apply": apply.handler}) as invoked:
            page = urllib.request.urlopen(link)
            html = page.read().decode()
            assert page.status == 200 and "Approve and apply" in html and "<svg" in html
            assert all(page.headers[k] == v for k, v in SAFE_HEADERS.items())
            assert "default-src 'none'" in page.headers["Content-Security-Policy"]
            assert invoked == [] and deployed.account.memory(FN) == 1024  # opening the link did nothing
            token = link.split("token=", 1)[1]
            form = urlencode({"token": token, "decision": "approve"}).encode()
            done = urllib.request.urlopen(urllib.request.Request(server.url, data=form, method="POST"))
            assert done.status == 200 and "Approved" in done.read().decode()
        assert invoked == ["lt-apply"]
        assert deployed.account.memory(FN) == 512
        assert [r.type for r in deployed.store.list_audit()] == ["approval", "change"]
    finally:
        server.close()


def test_every_page_carries_the_safe_headers_even_a_refusal(deployed: Deployed) -> None:
    forged = sign(
        b"not-our-key-0123456789", TokenClaims(jti="j", rec="rec-1", act="approve", rev=None, exp=2**40)
    )
    result = approval.handler(url_event("GET", token=forged), FakeContext())
    assert result["statusCode"] == 403
    assert all(result["headers"][k] == v for k, v in SAFE_HEADERS.items())


def test_a_form_post_arriving_base64_encoded_is_understood(deployed: Deployed) -> None:
    body = deployed.propose("https://u.example/")
    token = link_in(body, "reject").split("token=", 1)[1]
    form = urlencode({"token": token, "decision": "reject"})
    result = approval.handler(url_event("POST", body=form, base64_body=True), FakeContext())
    assert result["statusCode"] == 200
    assert deployed.store.get_recommendation("rec-1").status == "REJECTED"  # type: ignore[union-attr]


def test_a_binary_post_body_is_a_clear_refusal_not_a_crash(deployed: Deployed) -> None:
    deployed.propose("https://u.example/")
    event = url_event("POST", at=deployed.now)
    # what a Function URL delivers for a body that is not text: its bytes, base64-encoded
    event["body"], event["isBase64Encoded"] = (
        base64.b64encode(b"token=\xff\xfe&decision=approve").decode(),
        True,
    )
    result = approval.handler(event, FakeContext())
    assert result["statusCode"] == 400 and "Not a valid link" in result["body"]
    assert deployed.store.get_recommendation("rec-1").status == "PENDING"  # type: ignore[union-attr]


def test_expiry_is_judged_by_the_request_time_not_the_wall_clock(deployed: Deployed) -> None:
    body = deployed.propose("https://u.example/")
    token = link_in(body, "approve").split("token=", 1)[1]
    late = approval.handler(url_event("GET", token=token, at=NOW + timedelta(hours=80)), FakeContext())
    on_time = approval.handler(url_event("GET", token=token, at=NOW + timedelta(hours=70)), FakeContext())
    assert (late["statusCode"], on_time["statusCode"]) == (410, 200)


def test_other_methods_and_paths_change_nothing(deployed: Deployed) -> None:
    deployed.propose("https://u.example/")
    event = url_event("DELETE")
    result = approval.handler(event, FakeContext())
    assert result["statusCode"] == 404 and result["headers"]["X-Frame-Options"] == "DENY"
    assert deployed.store.get_recommendation("rec-1").status == "PENDING"  # type: ignore[union-attr]


_ = urllib.error  # urlopen raises HTTPError for refusals; imported for readers adding such cases
