"""Signed, expiring, single-purpose approval tokens (HMAC-SHA256), pure.

A token is `base64url(canonical JSON claims) "." base64url(HMAC-SHA256(secret, first part))`: compact,
URL-safe and readable by nobody who lacks the secret to forge. The claims bind the token to one
recommendation, one action and the function's RevisionId at proposal time; single use is enforced by
the state machine (a recommendation leaves PENDING once), not by the token itself.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Literal
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, ValidationError

from lambda_tuner.core.models import Recommendation

MAX_TOKEN_CHARS = 2048  # a link body far beyond any real token is refused before any work is done


class TokenError(Exception):
    """The token cannot authorise anything."""


class MalformedTokenError(TokenError):
    pass


class ForgedTokenError(TokenError):
    pass


class ExpiredTokenError(TokenError):
    def __init__(self, message: str, claims: TokenClaims) -> None:
        super().__init__(message)
        self.claims = claims


class TokenClaims(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    jti: str
    rec: str
    act: Literal["approve", "reject"]
    rev: str | None
    exp: int  # epoch seconds


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, payload: str) -> bytes:
    return hmac.new(secret, payload.encode("ascii"), hashlib.sha256).digest()


def sign(secret: bytes, claims: TokenClaims) -> str:
    if len(secret) < 16:
        raise ValueError("the signing secret must be at least 16 bytes")
    body = json.dumps(claims.model_dump(), sort_keys=True, separators=(",", ":"))
    payload = _b64(body.encode("utf-8"))
    return f"{payload}.{_b64(_mac(secret, payload))}"


def verify(secret: bytes, token: str, now: datetime) -> TokenClaims:
    """The claims of a genuine, unexpired token; the signature is checked before anything is parsed."""
    if not token or len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
        raise MalformedTokenError("the link is not a lambda-tuner approval link")
    payload, signature = token.split(".")
    try:
        given = _unb64(signature)
        payload.encode("ascii")
    except (binascii.Error, ValueError, UnicodeEncodeError) as exc:
        raise MalformedTokenError("the link is damaged (bad encoding)") from exc
    # The decoder skips characters outside the alphabet and ignores a last character's spare bits: only
    # the one encoding `sign` writes is accepted, so no two links carry the same signature.
    if _b64(given) != signature:
        raise MalformedTokenError("the link is damaged (bad encoding)")
    if not hmac.compare_digest(given, _mac(secret, payload)):
        raise ForgedTokenError("the link's signature does not match: it was altered or not issued by us")
    try:
        claims = TokenClaims.model_validate_json(_unb64(payload))
    except (binascii.Error, ValueError, ValidationError) as exc:
        raise MalformedTokenError("the link's content is not valid") from exc
    if now.timestamp() >= claims.exp:
        raise ExpiredTokenError("the link has expired", claims)
    return claims


def approval_links(  # noqa: PLR0917 - the signature is the contract the agent calls
    base_url: str,
    secret: bytes,
    rec: Recommendation,
    now: datetime,
    ttl_hours: int,
    new_id: Callable[[], str],
) -> dict[str, str]:
    """One approve and one reject link, each with its own token id, expiring after `ttl_hours`."""
    if ttl_hours <= 0:
        raise ValueError("ttl_hours must be positive")
    exp = int((now + timedelta(hours=ttl_hours)).timestamp())
    links: dict[str, str] = {}
    act: Literal["approve", "reject"]
    for act in ("approve", "reject"):
        claims = TokenClaims(jti=new_id(), rec=rec.id, act=act, rev=rec.revision_id, exp=exp)
        links[act] = f"{base_url.rstrip('/')}/?{urlencode({'token': sign(secret, claims)})}"
    return links
