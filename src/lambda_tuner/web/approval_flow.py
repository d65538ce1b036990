"""What an approval link does: show the change (GET), then approve or reject it (POST from that page).

Every refusal — malformed, forged, expired, unknown, already decided, drifted, tampered — gets a page
that says so with a matching HTTP status and changes nothing. A refusal of a genuine link (its
signature verified) leaves an audit record; a malformed or forged one is only logged: anyone can send
those, and the audit is append-only. A GET never changes a recommendation (mail scanners prefetch
links). When AWS cannot be reached, the page says to try again and nothing is left half decided: a
decision whose audit record cannot be written is taken back.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from lambda_tuner.adapters.secrets import SecretError
from lambda_tuner.adapters.store import Store, StoreError
from lambda_tuner.core.models import Recommendation
from lambda_tuner.core.tokens import (
    ExpiredTokenError,
    ForgedTokenError,
    MalformedTokenError,
    TokenClaims,
    verify,
)
from lambda_tuner.web.pages import Tone, confirm_page, message_page

LOG = logging.getLogger(__name__)
UNREACHABLE = (ClientError, BotoCoreError, StoreError)  # AWS refused, did not answer, or a write lost
DELETED = "deleted"  # `_revision` of a function that no longer exists


@dataclass(frozen=True)
class Page:
    status: int
    html: str


@dataclass(frozen=True)
class Visitor:
    ip: str
    user_agent: str
    method: str


class Refused(Exception):
    """A refusal and everything its page and audit record need."""

    def __init__(  # noqa: PLR0917 - raised in one line at each check; keywords would add only noise
        self,
        status: int,
        title: str,
        message: str,
        claims: TokenClaims | None = None,
        rec: Recommendation | None = None,
        expire: bool = False,
    ) -> None:
        super().__init__(message)
        self.status, self.title, self.message = status, title, message
        self.claims, self.rec, self.expire = claims, rec, expire


class ApprovalFlow:
    def __init__(
        self,
        store: Store,
        secret: Callable[[], bytes],
        lambda_client: Any,
        apply_function: str,
        invoke_client: Any = None,
    ) -> None:
        """`invoke_client` starts the apply function (default: `lambda_client`): an asynchronous Invoke
        answers at once on AWS, but the twin runs the handler before answering."""
        self.store, self.secret, self.lam, self.apply_function = store, secret, lambda_client, apply_function
        self.invoker = invoke_client or lambda_client

    def show(self, token: str, now: datetime, visitor: Visitor) -> Page:
        try:
            return self._show(token, now, visitor)
        except UNREACHABLE as exc:
            return self._unavailable(exc)

    def decide(self, token: str, decision: str, now: datetime, visitor: Visitor) -> Page:
        try:
            return self._decide(token, decision, now, visitor)
        except UNREACHABLE as exc:
            return self._unavailable(exc)

    def _show(self, token: str, now: datetime, visitor: Visitor) -> Page:
        try:
            claims, rec = self._check(token, now)
        except Refused as refusal:
            return self._refuse(refusal, now, visitor, act=False)
        return Page(200, confirm_page(rec, claims, token))

    def _decide(self, token: str, decision: str, now: datetime, visitor: Visitor) -> Page:
        try:
            claims, rec = self._check(token, now)
            if decision != claims.act:
                raise Refused(
                    400,
                    "Link altered",
                    "This link was issued to "
                    f"{claims.act}, not to {decision or 'do nothing'}. Nothing was changed.",
                    claims,
                    rec,
                )
        except Refused as refusal:
            return self._refuse(refusal, now, visitor, act=True)
        return (
            self._approve(claims, rec, now, visitor)
            if claims.act == "approve"
            else self._reject(claims, rec, now, visitor)
        )

    # ---------------------------------------------------------------- checks

    def _check(self, token: str, now: datetime) -> tuple[TokenClaims, Recommendation]:
        try:
            key = self.secret()
        except SecretError as exc:
            raise Refused(
                503,
                "Temporarily unavailable",
                "The link cannot be checked right now. Nothing was "
                "changed; please try again in a few minutes.",
            ) from exc
        try:
            claims = verify(key, token, now)
        except MalformedTokenError as exc:
            raise Refused(400, "Not a valid link", f"{exc}. Nothing was changed.") from exc
        except ForgedTokenError as exc:
            raise Refused(403, "Link not genuine", f"{exc}. Nothing was changed.") from exc
        except ExpiredTokenError as exc:
            rec = self.store.get_recommendation(exc.claims.rec)
            raise Refused(
                410,
                "Link expired",
                "This approval link has expired. Nothing was changed; the "
                "next cycle proposes again if the change still makes sense.",
                exc.claims,
                rec,
                expire=True,
            ) from exc
        rec = self.store.get_recommendation(claims.rec)
        if rec is None:
            raise Refused(404, "Unknown change", "No such recommendation. Nothing was changed.", claims)
        if rec.status == "EXPIRED" and self._revision(rec.function) == DELETED:
            raise _deleted(claims, rec)  # withdrawn by the cycle for that reason: say so, not "decided"
        if rec.status != "PENDING":
            raise Refused(
                409,
                "Already decided",
                f"This change is already {rec.status.lower().replace('_', ' ')}."
                " Each link works once. Nothing was changed.",
                claims,
                rec,
            )
        current = self._revision(rec.function)
        if current == DELETED:  # whatever the link's revision: there is nothing left to change
            raise _deleted(claims, rec)
        if claims.rev and current != claims.rev:
            raise Refused(
                409,
                "Function changed since the proposal",
                f"{rec.function} was deployed or "
                "reconfigured after this change was proposed, so the proposal no longer applies. "
                "Nothing was changed.",
                claims,
                rec,
                expire=True,
            )
        return claims, rec

    def _revision(self, function: str) -> str | None:
        try:
            got = self.lam.get_function_configuration(FunctionName=function)
        except (ClientError, BotoCoreError) as exc:
            if _code(exc) == "ResourceNotFoundException":
                return DELETED
            raise Refused(
                503,
                "Temporarily unavailable",
                f"{function} cannot be checked right now. Nothing "
                "was changed; please try again in a few minutes.",
            ) from exc
        rev = got.get("RevisionId")
        return str(rev) if rev else None

    def _refuse(self, refusal: Refused, now: datetime, visitor: Visitor, *, act: bool) -> Page:
        claims, rec = refusal.claims, refusal.rec
        if claims is None:  # malformed or forged: not ours to record for ever
            LOG.warning(
                "approval link refused: %s (%s %s from %s)",
                refusal.title,
                visitor.method,
                refusal.status,
                visitor.ip,
            )
            return Page(refusal.status, message_page(refusal.title, refusal.message, tone="bad"))
        self.store.append_audit(
            "refusal",
            now,
            function=rec.function if rec else None,
            recommendation_id=claims.rec if claims else None,
            actor="approval-link",
            data={
                "reason": refusal.title,
                "status": refusal.status,
                "detail": refusal.message,
                "token_id": claims.jti if claims else None,
                "action": claims.act if claims else None,
                "source_ip": visitor.ip,
                "user_agent": visitor.user_agent,
                "method": visitor.method,
            },
        )
        # Only once its refusal is on record: a proposal never ends EXPIRED with no record of why.
        if act and refusal.expire and rec is not None and rec.status == "PENDING":
            self.store.transition(rec.id, "PENDING", "EXPIRED", now, expired_because=refusal.title)
        return Page(refusal.status, message_page(refusal.title, refusal.message, tone="bad"))

    # ---------------------------------------------------------------- decisions

    def _decided(
        self,
        kind: Literal["approval", "rejection"],
        claims: TokenClaims,
        rec: Recommendation,
        now: datetime,
        visitor: Visitor,
    ) -> bool:
        """Move the recommendation out of PENDING and audit the decision; False when another decision won.
        A decision whose record cannot be written is taken back (PENDING again, so the link still works)
        before the error goes on: no decision stands unrecorded."""
        who = {"token_id": claims.jti, "source_ip": visitor.ip, "user_agent": visitor.user_agent}
        to_status = "APPROVED" if kind == "approval" else "REJECTED"
        decision_id = uuid.uuid4().hex  # which request's write the item holds: see _won
        if not self.store.transition(
            rec.id, "PENDING", to_status, now, decided_by=who, decision_id=decision_id
        ) and not self._won(rec.id, to_status, decision_id):
            return False
        try:
            self.store.append_audit(
                kind, now, function=rec.function, recommendation_id=rec.id, actor="approval-link", data=who
            )
        except UNREACHABLE:
            self.store.transition(rec.id, to_status, "PENDING", now, decided_by=None, decision_id=None)
            raise
        return True

    def _won(self, rec_id: str, to_status: str, decision_id: str) -> bool:
        """Whether a write refused as no longer PENDING was this request's own: the SDK sends a write again
        when its answer is lost (a timeout), and the second sending finds the first one's work done."""
        item = self.store.get_recommendation_item(rec_id) or {}
        mine = item.get("attrs", {}).get("decision_id") == decision_id
        return bool(mine and item.get("status", {}).get("S") == to_status)

    def _approve(self, claims: TokenClaims, rec: Recommendation, now: datetime, visitor: Visitor) -> Page:
        if not self._decided("approval", claims, rec, now, visitor):
            return self._lost_race(claims, rec, now, visitor)
        payload = {
            "action": "apply",
            "recommendation_id": rec.id,
            "requested_by": "approval",
            "time": now.isoformat(),
        }
        try:
            # Asynchronous: applying waits for Lambda (and PC READY) for up to minutes; this page must
            # answer now. The apply function claims each recommendation once, so a retried event is harmless.
            self.invoker.invoke(
                FunctionName=self.apply_function, InvocationType="Event", Payload=json.dumps(payload).encode()
            )
        except (ClientError, BotoCoreError) as exc:
            return self._page(
                502,
                "Approved, not yet applied",
                f"Your approval is recorded, but starting the change failed ({_code(exc)}). The next agent "
                "cycle retries approved changes.",
                "bad",
            )
        return self._page(
            200,
            "Approved",
            f"The change to {rec.function} is being applied now. You will get "
            "an email when it is done; it is rolled back automatically if errors, throttles "
            "or latency rise.",
            "ok",
        )

    def _reject(self, claims: TokenClaims, rec: Recommendation, now: datetime, visitor: Visitor) -> Page:
        if not self._decided("rejection", claims, rec, now, visitor):
            return self._lost_race(claims, rec, now, visitor)
        return self._page(200, "Rejected", f"Nothing will change on {rec.function}.", "ok")

    def _lost_race(self, claims: TokenClaims, rec: Recommendation, now: datetime, visitor: Visitor) -> Page:
        refusal = Refused(
            409,
            "Already decided",
            "Someone decided this change a moment ago. Each link works once. Nothing more was changed.",
            claims,
            rec,
        )
        return self._refuse(refusal, now, visitor, act=False)

    @staticmethod
    def _page(status: int, title: str, message: str, tone: Tone) -> Page:
        return Page(status, message_page(title, message, tone=tone))

    def _unavailable(self, exc: Exception) -> Page:
        LOG.warning("approval page could not reach AWS: %s", exc)
        message = "AWS could not be reached just now. Nothing was changed; please try again in a few minutes."
        return self._page(503, "Temporarily unavailable", message, "bad")


def _deleted(claims: TokenClaims, rec: Recommendation) -> Refused:
    """The refusal of a link whose function was deleted since the proposal (expired if still open)."""
    message = f"{rec.function} no longer exists: it was deleted after this change was proposed."
    return Refused(410, "Function deleted", f"{message} Nothing was changed.", claims, rec, expire=True)


def _code(exc: ClientError | BotoCoreError) -> str:
    """AWS's error code, or the kind of failure when AWS did not answer."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code"))
    return type(exc).__name__
