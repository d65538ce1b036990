"""Approval tokens: signed, bound to one recommendation and action, expiring."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import timedelta
from itertools import count
from urllib.parse import parse_qs, urlparse

import pytest
from approval_support import NOW, make_rec

from lambda_tuner.core.tokens import (
    ExpiredTokenError,
    ForgedTokenError,
    MalformedTokenError,
    TokenClaims,
    approval_links,
    sign,
    verify,
)

KEY = b"k" * 64
CLAIMS = TokenClaims(
    jti="t1", rec="rec-1", act="approve", rev="rev-1", exp=int((NOW + timedelta(hours=72)).timestamp())
)


def _reencode(token: str, **changes: object) -> str:
    """The same signature over a payload with some claims changed: what a tamperer can produce."""
    payload, signature = token.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body.update(changes)
    raw = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode() + "." + signature


def test_a_signed_token_verifies_to_the_same_claims() -> None:
    assert verify(KEY, sign(KEY, CLAIMS), NOW) == CLAIMS


def test_the_token_is_url_safe_and_compact() -> None:
    token = sign(KEY, CLAIMS)
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    assert len(token) < 250


def test_a_token_signed_with_another_key_is_forged() -> None:
    with pytest.raises(ForgedTokenError):
        verify(KEY, sign(b"x" * 64, CLAIMS), NOW)


@pytest.mark.parametrize(
    "change", [{"rec": "rec-2"}, {"act": "reject"}, {"exp": CLAIMS.exp + 86_400}, {"rev": None}]
)
def test_changing_any_claim_breaks_the_signature(change: dict[str, object]) -> None:
    with pytest.raises(ForgedTokenError):
        verify(KEY, _reencode(sign(KEY, CLAIMS), **change), NOW)


def test_a_token_is_refused_from_its_expiry_second_on() -> None:
    token = sign(KEY, CLAIMS)
    assert verify(KEY, token, NOW + timedelta(hours=72) - timedelta(seconds=1)).jti == "t1"
    with pytest.raises(ExpiredTokenError) as caught:
        verify(KEY, token, NOW + timedelta(hours=72))
    assert caught.value.claims.rec == "rec-1"  # so the refusal can be audited against the recommendation


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "!!!.???", "a" * 3000 + ".b", "é.x"])
def test_garbage_is_malformed_not_a_crash(token: str) -> None:
    with pytest.raises((MalformedTokenError, ForgedTokenError)):
        verify(KEY, token, NOW)


def _lenient(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _other_spelling(signature: str) -> str:
    """The same 32 bytes written differently: the last character's two spare bits set (43 characters carry
    258 bits)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(signature[-1])
    return signature[:-1] + alphabet[last ^ 1]


@pytest.mark.parametrize("damage", [lambda s: s + "!!", lambda s: s[:10] + "****" + s[10:], _other_spelling])
def test_only_the_signature_as_issued_is_accepted(damage: object) -> None:
    token = sign(KEY, CLAIMS)
    payload, signature = token.split(".")
    altered = damage(signature)  # type: ignore[operator]
    assert altered != signature
    # the lenient decoder reads each as the genuine signature: the check must not rely on it
    assert _lenient(altered) == _lenient(signature)
    with pytest.raises(MalformedTokenError):
        verify(KEY, f"{payload}.{altered}", NOW)


def test_a_correctly_signed_payload_that_is_not_claims_is_malformed() -> None:
    payload = base64.urlsafe_b64encode(b'{"hello":1}').rstrip(b"=").decode()
    mac = (
        base64.urlsafe_b64encode(hmac.new(KEY, payload.encode(), hashlib.sha256).digest())
        .rstrip(b"=")
        .decode()
    )
    with pytest.raises(MalformedTokenError):
        verify(KEY, f"{payload}.{mac}", NOW)


def test_a_short_secret_is_refused_when_signing() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        sign(b"short", CLAIMS)


def test_approval_links_carry_one_token_each_bound_to_the_recommendation_and_revision() -> None:
    ids = (f"jti-{n}" for n in count())
    links = approval_links(
        "https://x.lambda-url.us-east-1.on.aws/", KEY, make_rec(), NOW, 72, lambda: next(ids)
    )
    claims = {act: verify(KEY, parse_qs(urlparse(url).query)["token"][0], NOW) for act, url in links.items()}
    assert {c.act for c in claims.values()} == {"approve", "reject"}
    assert claims["approve"].jti != claims["reject"].jti
    assert all(c.rec == "rec-1" and c.rev == "rev-1" for c in claims.values())
    assert claims["approve"].exp == int((NOW + timedelta(hours=72)).timestamp())
    assert links["approve"].startswith("https://x.lambda-url.us-east-1.on.aws/?token=")
