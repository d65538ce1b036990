"""Canary experiments behind a weighted alias: which recommendations are canaries, how their rollback
alarms are aimed, and concluding one when its time is over.

A canary (an `experiment` whose `proposed` carries `canary_weight`, on an alias) runs a newly published
version at the trial memory size next to the version the alias serves. It ends in one of two ways: a
rollback alarm on the canary version fires (`on_alarm` takes the trial version out of the alias's
routing, nothing else), or the cycle hands over a `conclude` request once its `max_days` are over.
Concluding takes the canary version out
of the alias's routing ($LATEST never left the main size), drops the alarms, audits a `verification`
record and closes the recommendation VERIFIED; the next decision then sees both sizes.

However it ends (concluded, rolled back, undone after a failed apply), the version published for it is
deleted once the alias no longer routes to it, so canaries every few days leave no versions behind
(each counts against the account's code-storage quota). Deleting is best effort; the record of the
conclusion or rollback says whether it was deleted or why not (`trial_version`). A version left behind
(its deletion throttled, say) goes when a later canary of the function is concluded: trial versions are
published with a description that marks them (`earlier_trials` in that record).

Any other change is concluded by the same request once the cycle has verified it: its rollback alarms
are removed, nothing else. So is a canary that ended FAILED with its trial still routed (its undo failed
too, `undo_left` on its item): the request takes the trial out of the alias, while the alias still routes
as the canary set it (`_retry_undo`).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any, Literal

from botocore.exceptions import BotoCoreError
from pydantic import BaseModel, ConfigDict

from lambda_tuner.adapters import alarms
from lambda_tuner.adapters.applier import (
    ApplyError,
    ConflictError,
    GoneError,
    RevisionMismatchError,
)
from lambda_tuner.adapters.rollback_flow import RollbackFlow, scalar_values
from lambda_tuner.adapters.store import RecordedAlready, Store, StoreError
from lambda_tuner.core.canary import canary_days, canary_of
from lambda_tuner.core.models import ChangeResult, Recommendation

CONCLUDE_STEP = "conclude"  # the store's claim: one conclusion per recommendation, however often sent
# A stuck canary's undo is asked for by this many cycles; when all failed, a person is told and no cycle
# asks again (the cycle stops asking after a month anyway, and no one would hear of it)
UNDO_TRIES = 3


class ConcludeEvent(BaseModel):
    """The apply function's `conclude` request (from the cycle, once a canary's time is over or another
    change was verified)."""

    model_config = ConfigDict(extra="forbid")
    action: Literal["conclude"]
    recommendation_id: str
    time: datetime
    requested_by: Literal["agent"] = "agent"


def canary_guard(rec: Recommendation, after: dict[str, Any], errors_per_min: float | None) -> dict[str, Any]:
    """The alarm arguments that aim a canary's guard at its own version: the version published for it
    (ExecutedVersion), the function's usual error rate scaled to the share of calls it gets, and its
    p99 and cost stops as ratios to the live version (the one the alias points at) when the proposal
    has them."""
    canary = canary_of(rec)
    guard: dict[str, Any] = dict.fromkeys(("executed_version", "ratio", "mean_ratio", "live"))
    guard["errors_per_min"] = errors_per_min
    if canary is None:
        return guard
    guard["executed_version"] = str(after.get("published_version") or "")
    guard["errors_per_min"] = errors_per_min * canary[1] if errors_per_min is not None else None
    live = str(after.get("alias_version") or "")
    if live not in ("", "$LATEST"):  # else no published live version to compare with: the fixed stops
        ratio = _positive(rec, "stop_if_p99_ratio_above")
        guard |= {"ratio": ratio, "mean_ratio": _positive(rec, "stop_if_mean_ratio_above")}
        guard["live"] = live if ratio is not None else None
    return guard


def _positive(rec: Recommendation, key: str) -> float | None:
    value = rec.proposed.get(key)
    return float(value) if isinstance(value, int | float) and value > 0 else None


class CanaryFlow(RollbackFlow):
    def conclude(self, rec_id: str, now: datetime, actor: str = "agent") -> ChangeResult:
        """End one canary whose time is over, or the guard of any other change once it is verified.
        Idempotent: a second delivery changes and audits nothing.

        A throttled call or a refused alias update leaves the recommendation APPLIED, guarded by its
        alarms, so the next cycle sends the conclusion again; a function deleted meanwhile has no
        routing left, and its recommendation ends FAILED. Either way the audit and the topic say so."""
        item = self.store.get_recommendation_item(rec_id)
        if item is None:
            return self._refuse(rec_id, "", actor, now, "unknown recommendation")
        rec = Store._rec_from(item)
        attrs, canary = item["attrs"], canary_of(rec)
        version = str(attrs.get("after", {}).get("published_version") or "")
        if rec.status == "FAILED" and attrs.get("undo_left"):
            return self._retry_undo(rec, attrs, actor, now)
        if "claim_conclude" in item or rec.status in ("ROLLED_BACK", "FAILED"):  # ended already
            return self._end_left_guard(rec, attrs, now)
        if canary is None:
            return self._end_guard(rec, attrs, actor, now)
        if not version or rec.status not in ("APPLIED", "VERIFIED"):
            reason = f"not an applied canary experiment (kind {rec.kind}, status {rec.status})"
            return self._refuse(rec.id, rec.function, actor, now, reason)
        return self._end(rec, attrs, canary[0], version, actor=actor, now=now)

    def _end_guard(
        self, rec: Recommendation, attrs: dict[str, Any], actor: str, now: datetime
    ) -> ChangeResult:
        """A change verified is settled: its rollback alarms go (how long a guard lasts: alarms.py). One
        not verified keeps them: the agent, which asks for this, may not take a change's guard away.

        Once they are gone its item lists none (`alarms`): a change still listing them is asked again by
        a later cycle (`Store.guards_left`), whether this request was lost on its way or the removal
        failed here (then nothing is cleared). A second delivery finds none to remove."""
        if rec.status != "VERIFIED":
            reason = f"not verified (kind {rec.kind}, status {rec.status}): its rollback alarms stay"
            return self._refuse(rec.id, rec.function, actor, now, reason)
        names = [str(name) for name in attrs.get("alarms", [])]
        if not names:
            return _outcome(rec.id, rec.function, True, "verified: its rollback alarms were removed already")
        done = "verified: its rollback alarms were removed"
        return self._clear_alarms(rec, names, now, "verified", done, guard_ended_at=now.isoformat())

    def _end_left_guard(self, rec: Recommendation, attrs: dict[str, Any], now: datetime) -> ChangeResult:
        """A change that ended (rolled back, failed, or a canary concluded) whose item still lists alarms:
        their removal failed when it ended (a throttled DeleteAlarms, the links' write refused), or its
        guard was half made and could not be taken back. Left, the alarms cost $0.10 a month each for
        good and the links name alarms that no longer exist; both go now, and the list is cleared. A
        rollback not recorded yet keeps its alarms: their events are what record it (`on_alarm`)."""
        names = [str(name) for name in attrs.get("alarms", [])]
        if not names:
            return _outcome(rec.id, rec.function, True, f"already ended ({rec.status})")
        if rec.status == "ROLLED_BACK" and not (attrs.get("rollback_recorded") or attrs.get("reverted_by")):
            return _outcome(rec.id, rec.function, False, "its rollback is not recorded yet: its alarms stay")
        done = f"ended ({rec.status}): its leftover alarms were removed"
        return self._clear_alarms(rec, names, now, "ended", done)

    def _retry_undo(
        self, rec: Recommendation, attrs: dict[str, Any], actor: str, now: datetime
    ) -> ChangeResult:
        """A canary that ended FAILED whose undo failed too (`undo_left`: its alias, trial version and
        weight) still sends that share of the alias's traffic to the trial, with no alarm, and every later
        change to the function is refused while the alias splits its traffic. Take the trial out now,
        only while the alias routes exactly as the canary set it; routing someone changed since is
        theirs, left as it is. Either way the outcome is recorded (once, `once_on`) before the item
        stops asking (`undo_left` cleared), and told once. A failed attempt is recorded too (the write
        may have landed) and asked again by the next cycle, UNDO_TRIES in all: the last one's failure is
        the outcome, told to a person (MANUAL CHECK NEEDED), and nothing is asked again."""
        left = attrs["undo_left"]
        function, alias, version = str(left["function"]), str(left["alias"]), str(left["version"])
        weight = float(left["weight"])
        base = {"undo_retried": True, "alias": alias, "trial": version, "weight": weight}
        try:
            done = self.applier.undo_trial(function, alias, version, weight)
        except GoneError as exc:  # the alias or the function was deleted: nothing routes to the trial
            data = {"ok": True, **base, "gone": str(exc)}
            text = f"alias {alias} no longer exists ({exc}): nothing routes to trial version {version}"
            return self._undo_retried(rec, attrs, actor, now, data, text)
        except ApplyError as exc:
            tries = int(attrs.get("undo_tries") or 0) + 1
            if tries >= UNDO_TRIES:
                data = {"ok": False, **base, "error": str(exc), "gave_up_after": tries}
                text = (
                    f"canary trial version {version} could not be taken out of alias {alias} in {tries} "
                    f"tries (the last: {exc}): it still takes {weight:.0%} of the alias's traffic, with no "
                    "alarm, and no cycle asks again — MANUAL CHECK NEEDED"
                )
                return self._undo_retried(rec, attrs, actor, now, data, text)
            message = (
                f"canary trial {version} could not be taken out of alias {alias} ({exc}): "
                "the next cycle asks again"
            )
            self._audit_undo(rec, attrs, actor, now, {"ok": False, **base, "error": str(exc)}, once=False)
            self.store.transition(rec.id, "FAILED", "FAILED", now, undo_tries=tries)
            return _outcome(rec.id, function, False, message)
        if done.after.get("not_trial"):  # the function was created again: its version of that number
            data = {"ok": True, **base, "left_alone": True, "not_trial": True}
            text = (
                f"version {version} that alias {alias} routes to is not the canary's trial: the function was "
                "deleted and created again since, and the routing is its team's, so it is left as it is"
            )
            return self._undo_retried(rec, attrs, actor, now, data, text)
        if done.after.get("left_alone"):
            routing = done.before["alias_routing"]
            data = {"ok": False, **base, "left_alone": True, "alias_routing": routing}
            text = (
                f"alias {alias} now routes {routing}, not the canary's {{{version}: {weight}}}: someone "
                f"changed it since, so it is left as it is (trial version {version} too) — "
                "MANUAL CHECK NEEDED"
            )
            return self._undo_retried(rec, attrs, actor, now, data, text)
        cleanup = self.discard_trial(
            {"function": function, "published_version": version, "canary_weight": weight},
            done.after,
            restored=True,
        )
        removed = done.after != done.before
        data = {"ok": True, **base, "alias_before": done.before, "trial_version": cleanup}
        if removed:
            data["removed_from_routing"] = {"alias": alias, "version": version, "weight": weight}
            text = f"trial version {version} was taken out of alias {alias}'s routing"
        else:
            data["already_gone"] = True
            text = f"alias {alias} no longer routed to trial version {version}"
        text += f"; all its traffic goes to version {done.before['alias_version']}; {cleanup['detail']}"
        return self._undo_retried(rec, attrs, actor, now, data, text)

    def _undo_retried(  # noqa: PLR0917 - the change, its outcome and its words, each needed
        self,
        rec: Recommendation,
        attrs: dict[str, Any],
        actor: str,
        now: datetime,
        data: dict[str, Any],
        text: str,
    ) -> ChangeResult:
        """Record a retried undo's outcome, then stop asking for it, then tell the topic once."""
        try:
            self._audit_undo(rec, attrs, actor, now, data, once=True)
        except RecordedAlready:  # another delivery of this request recorded it: the rest is its to do
            return _outcome(rec.id, rec.function, True, "its undo was recorded already")
        self.store.transition(rec.id, "FAILED", "FAILED", now, undo_left=None, undo_ended_at=now.isoformat())
        restored = bool(data["ok"])
        subject = "Canary traffic restored" if restored else "Canary routing left as it is"
        self._notify(
            f"{subject}: {rec.function}",
            f"{rec.function}: {text}.\n",
            rec.function,
            "info" if restored else "warning",
        )
        if attrs.get("alarms"):  # a guard half made and left too: its alarms go with the same request
            self._end_left_guard(rec, attrs, now)
        return _outcome(rec.id, rec.function, restored, text)

    def _audit_undo(
        self,
        rec: Recommendation,
        attrs: dict[str, Any],
        actor: str,
        now: datetime,
        data: dict[str, Any],
        *,
        once: bool,
    ) -> None:
        self.store.append_audit(
            "rollback",
            now,
            function=rec.function,
            recommendation_id=rec.id,
            caused_by=attrs.get("change_id"),
            actor=actor,
            data=data,
            once_on=rec.id if once else None,
        )

    def _clear_alarms(
        self, rec: Recommendation, names: list[str], now: datetime, ended: str, done: str, **extra: Any
    ) -> ChangeResult:
        """Remove a change's alarms and their links, then clear its list (and set `extra`), answering
        `done`; on a failure the list stays, and the next cycle asks again."""
        try:
            self._remove_alarms(names)
        except (alarms.AlarmError, StoreError, BotoCoreError) as exc:
            why = f"{ended}, but its rollback alarms could not be removed ({exc}): the next cycle asks again"
            return _outcome(rec.id, rec.function, False, why)
        self.store.transition(rec.id, rec.status, rec.status, now, alarms=[], **extra)
        return _outcome(rec.id, rec.function, True, done)

    def end_running_canaries(self, others: list[Recommendation], now: datetime, actor: str) -> None:
        """One change at a time per function: a change about to be made to a function whose canary still
        routes part of its alias concludes that canary first (`others`: the function's other
        recommendations). The cycle hands a conclusion and the next change over in one run, and
        asynchronous deliveries may arrive in either order."""
        for earlier in others:
            if earlier.status in ("APPLIED", "VERIFIED") and canary_of(earlier):
                self.conclude(earlier.id, now, actor)

    def _undo_change(
        self,
        before: dict[str, Any],
        after: dict[str, Any],
        left: list[str] | None = None,
        kept: dict[str, Any] | None = None,
    ) -> tuple[bool, str | None]:
        """A canary is undone by taking its trial version out of the alias's routing, nothing more: $LATEST
        never left the main size, and the version the alias serves may be a deploy's since (putting the
        whole recorded `before` back would revert that deploy)."""
        version = trial_of(after)
        if not version:
            return super()._undo_change(before, after, left, kept)
        try:
            self.applier.remove_trial(str(after["function"]), str(after.get("alias")), version)
        except ApplyError as exc:
            return False, str(exc)
        return True, None

    def _undone(self, before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], str]:
        if not trial_of(after):
            return super()._undone(before, after)
        return {"removed_from_routing": after}, "the canary's routing was removed"

    def _after_rollback(
        self,
        after: dict[str, Any],
        before: dict[str, Any],
        *,
        restored: bool,
        undoing: Collection[str] = (),
        since: datetime | None = None,
    ) -> tuple[dict[str, Any], str]:
        """A canary undone (rolled back, reverted, or undone right after it was applied) has its alias
        back as it was: delete the version published for it, and say in the record and the notice
        whether it was deleted or why not."""
        if not trial_of(after):
            return super()._after_rollback(after, before, restored=restored, undoing=undoing, since=since)
        trial = self.discard_trial(after, before, restored=restored)
        return {"trial_version": trial}, f"; {trial['detail']}"

    def discard_trial(
        self, after: dict[str, Any], alias_now: dict[str, Any], *, restored: bool
    ) -> dict[str, Any]:
        """Delete the version a canary published (`after`: its change), once the change is undone
        (`restored`) and `alias_now` (the alias's state) no longer routes to it. Best effort: see
        `Applier.discard_undone`; returns what happened, for the audit."""
        return self.applier.discard_undone(
            str(after["function"]), trial_of(after), alias_now, restored=restored
        )

    def _end(
        self,
        rec: Recommendation,
        attrs: dict[str, Any],
        alias: str,
        version: str,
        *,
        actor: str,
        now: datetime,
    ) -> ChangeResult:
        try:
            ended = self.applier.end_canary(rec.function, alias, version)
        except GoneError as exc:
            return self._gone(rec, attrs, actor, now, exc)
        except ApplyError as exc:
            return self._not_concluded(rec, attrs, actor, now, exc)
        cleanup = ended.after.get("trial_version", {})
        detail = _detail(rec, attrs, now, removed=version in ended.before.get("alias_routing", {}))
        detail += f"; {cleanup.get('detail', 'trial version not deleted')}"
        detail += "".join(f"; earlier {t['detail']}" for t in ended.after.get("earlier_trials", []))
        # The record comes first: if writing it fails, nothing is claimed or closed, the canary stays
        # APPLIED and the next cycle's request records it (the routing is already gone then, and the
        # record says so). Two deliveries at once may both record; neither can leave it unrecorded.
        self.store.append_audit(
            "verification",
            now,
            function=rec.function,
            recommendation_id=rec.id,
            caused_by=attrs.get("change_id"),
            actor=actor,
            data={
                "ok": True,
                "concluded": True,
                "detail": detail,
                "alias": alias,
                "canary_version": version,
                "canary_memory_mb": rec.proposed.get("memory_mb"),
                "before": ended.before,
                "after": ended.after,
                "request_ids": list(ended.request_ids),
                "alarms_removed": list(attrs.get("alarms", [])),
                "trial_version": cleanup,
            },
        )
        if not self.store.claim(rec.id, CONCLUDE_STEP, uuid.uuid4().hex):
            return _outcome(rec.id, rec.function, True, "already concluded")  # a concurrent delivery won
        self.store.transition(
            rec.id, rec.status, "VERIFIED", now, concluded_at=now.isoformat(), concluded=detail
        )
        if self._drop_alarms(list(attrs.get("alarms", []))):
            self._guard_cleared(rec.id, "VERIFIED", now)
        return _outcome(
            rec.id, rec.function, True, detail, before=ended.before, after=ended.after, ids=ended.request_ids
        )

    def _refuse(self, rec_id: str, function: str, actor: str, now: datetime, reason: str) -> ChangeResult:
        self.store.append_audit(
            "refusal",
            now,
            function=function or None,
            recommendation_id=rec_id,
            actor=actor,
            data={"reason": reason},
        )
        return _outcome(rec_id, function, False, reason)

    def _gone(
        self, rec: Recommendation, attrs: dict[str, Any], actor: str, now: datetime, exc: ApplyError
    ) -> ChangeResult:
        """The function or alias was deleted: no routing is left, so the experiment ends FAILED."""
        if not self.store.claim(rec.id, CONCLUDE_STEP, uuid.uuid4().hex):
            return _outcome(rec.id, rec.function, True, "already concluded")
        message = f"experiment could not be concluded: {exc}; nothing is left to change"
        self.store.transition(rec.id, rec.status, "FAILED", now, reason=message, concluded_at=now.isoformat())
        self._audit_failure(rec, attrs, actor, now, message, kind="change")
        if self._drop_alarms(list(attrs.get("alarms", []))):
            self._guard_cleared(rec.id, "FAILED", now)
        self._notify(f"Experiment ended: {rec.function}", message + "\n", rec.function, "warning")
        return _outcome(rec.id, rec.function, False, message)

    def _not_concluded(
        self, rec: Recommendation, attrs: dict[str, Any], actor: str, now: datetime, exc: ApplyError
    ) -> ChangeResult:
        """A throttled or refused call: the canary keeps running, guarded, and the next cycle retries."""
        message = (
            f"experiment could not be concluded: {exc}; the canary routing stays, guarded by its alarms, "
            "and the next cycle sends the conclusion again"
        )
        conflict = isinstance(exc, RevisionMismatchError | ConflictError)
        kind: Literal["change", "conflict"] = "conflict" if conflict else "change"
        self._audit_failure(rec, attrs, actor, now, message, kind=kind)
        self._notify(f"Experiment not concluded: {rec.function}", message + "\n", rec.function, "warning")
        return _outcome(rec.id, rec.function, False, message)

    def _audit_failure(
        self,
        rec: Recommendation,
        attrs: dict[str, Any],
        actor: str,
        now: datetime,
        message: str,
        *,
        kind: Literal["change", "conflict"],
    ) -> None:
        self.store.append_audit(
            kind,
            now,
            function=rec.function,
            recommendation_id=rec.id,
            caused_by=attrs.get("change_id"),
            actor=actor,
            data={"ok": False, "action": CONCLUDE_STEP, "error": message, "status": rec.status},
        )


def routing_left(after: dict[str, Any], *, restored: bool) -> dict[str, Any] | None:
    """What a later cycle needs to take a canary's trial out of its alias when undoing the canary
    (`after`: its change) failed (`restored` False): None for any other change, or one undone."""
    version = trial_of(after)
    if restored or not version:
        return None
    keys = ("function", "alias")
    return {**{k: after.get(k) for k in keys}, "version": version, "weight": after["canary_weight"]}


def trial_of(after: dict[str, Any]) -> str:
    """The version a canary change published (`after`: its change record), or "" for any other change."""
    return str(after.get("published_version") or "") if after.get("canary_weight") else ""


def _detail(rec: Recommendation, attrs: dict[str, Any], now: datetime, *, removed: bool) -> str:
    applied = attrs.get("applied_at")
    days = (
        (now - datetime.fromisoformat(applied)).total_seconds() / 86400 if applied else canary_days(rec) or 1
    )
    span = f"{days:.0f} day" + ("" if round(days) == 1 else "s")
    what = "canary routing removed" if removed else "canary routing was already gone"
    return f"experiment concluded after {span}: {what}"


def _outcome(
    rec_id: str,
    function: str,
    ok: bool,
    message: str,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    ids: tuple[str, ...] = (),
) -> ChangeResult:
    return ChangeResult(
        recommendation_id=rec_id,
        function=function,
        ok=ok,
        before=scalar_values(before or {}),
        after=scalar_values(after or {}),
        request_ids=ids,
        message=message,
    )
