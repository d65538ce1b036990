"""Undoing changes: roll back the change a rollback alarm guards, revert the agent's changes since a time.

Restores the configuration recorded before each change, audits `rollback` (with `caused_by`, the change
record) or `revert`, moves the recommendations to ROLLED_BACK, removes their alarms and tells the topic.
A version a memory change behind an alias published is deleted once the change is undone (`published`
in the record), unless a change still in force was made from it.
The apply function's `ApplyFlow` builds on this; rollbacks and reverts run even with the kill switch on.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any, cast

from botocore.exceptions import BotoCoreError, ClientError

from lambda_tuner.adapters import alarms
from lambda_tuner.adapters.applier import Applier, ApplyError, trial_outcome
from lambda_tuner.adapters.notifier import Notifier, NotifyError
from lambda_tuner.adapters.store import RecordedAlready, Store, StoreError
from lambda_tuner.core.models import AuditRecord, ChangeResult

LOG = logging.getLogger(__name__)
# A claim (an apply's, a rollback's) is stamped with its event's time; an attempt can start until the event
# is an hour old (the apply function's MaximumEventAgeInSeconds) and then run up to its 15-minute timeout.
# A claim older than this belongs to an attempt that stopped without finishing.
CLAIM_STALE_AFTER = timedelta(minutes=90)


def scalar_values(values: dict[str, Any]) -> dict[str, int | float | str | None]:
    """ChangeResult holds scalars; nested values (alias routing, schedules) travel as compact JSON."""
    return {
        k: v if v is None or isinstance(v, int | float | str) else json.dumps(v, sort_keys=True)
        for k, v in values.items()
    }


def _left_to(before: dict[str, Any]) -> dict[str, Any]:
    """What an undo put back where someone else's scaling came onto the PC since: none of the agent's."""
    return {**{k: before.get(k) for k in ("kind", "function", "qualifier")}, "actions": []}


def _undo_kind(before: dict[str, Any]) -> str:
    """A static PC level and a PC schedule on one alias are one state to revert: the first change's
    `before` puts back both (two groups would each restore half, and the later one undo the earlier)."""
    return "pc" if before["kind"] == "pc_schedule" else str(before["kind"])


def revert_groups(store: Store, since: datetime, function: str | None) -> list[list[AuditRecord]]:
    """The agent's changes since `since` still in force, per function, kind and qualifier, oldest first:
    what a revert puts back (each group to the `before` of its first change), and what a dry run shows."""
    history = store.list_audit(since=since, function=function)
    # Only an undo that worked undoes: a change whose rollback or revert failed is still in force
    done = [r for r in history if r.type in ("rollback", "revert") and r.data.get("ok")]
    undone = {r.caused_by for r in done}
    for r in done:
        undone |= set(cast(list[str], r.data.get("changes", [])))
    groups: dict[tuple[str, str, str], list[AuditRecord]] = {}
    for r in history:
        if r.type == "change" and r.data.get("ok") and r.id not in undone:
            before = cast(dict[str, Any], r.data["before"])
            key = (before["function"], _undo_kind(before), str(before.get("qualifier")))
            groups.setdefault(key, []).append(r)
    return list(groups.values())


class RollbackFlow:
    def __init__(self, store: Store, applier: Applier, notifier: Notifier, *, cloudwatch: Any = None) -> None:
        self.store, self.applier, self.notifier = store, applier, notifier
        self.cloudwatch = cloudwatch if cloudwatch is not None else applier.cw

    def on_alarm(self, alarm_name: str, now: datetime) -> ChangeResult | None:
        """Roll back the change `alarm_name` guards (once, however many of its alarms fire), while it is
        APPLIED. A verified change is settled: its guard ended (alarms.py), and an alarm of its still
        in place (the cycle's request to remove them was lost) is removed now and rolls nothing back.

        The claim (the move to ROLLED_BACK) carries `rollback_claim`: the alarm, its event's time and the
        attempt. An attempt that stops after it (the apply function timed out or crashed while undoing, or
        before the record) leaves the change claimed but not recorded, perhaps not undone: Lambda's retry
        of that event, or any alarm event once the claim is stale, takes the claim over and finishes it:
        the undo again (putting `before` back twice puts it back once) and the record. A duplicate of the
        event (Lambda's event queue delivers at least once) can do so while the first is still at work:
        both undo, and the record, written with a mark on the recommendation (`Store.append_audit`'s
        `once_on`), goes in once; the other delivery answers None."""
        link = self.store.alarm_link(alarm_name)
        item = self.store.get_recommendation_item(link["recommendation_id"]) if link else None
        if link is None or item is None:
            return None
        status, attrs = item["status"]["S"], item["attrs"]
        if status == "ROLLED_BACK" and attrs.get("rollback_unrecorded"):  # an earlier delivery's undo
            return self._finish_rollback(link, attrs, attrs["rollback_unrecorded"], again=True)
        if status == "VERIFIED":
            self._drop_alarms(list(attrs.get("alarms", [])))
            return None
        claim = {"alarm": alarm_name, "at": now.isoformat(), "owner": uuid.uuid4().hex}
        stopped = self._stopped_claim(link, item, claim) if status == "ROLLED_BACK" else None
        if stopped is not None:
            if not self._claim(link["recommendation_id"], status, claim, now, held=stopped):
                return None
        elif status != "APPLIED" or not self._claim(link["recommendation_id"], status, claim, now):
            return None
        outcome = self._roll_back(alarm_name, attrs, now)
        if stopped is not None:
            outcome["data"]["resumed"] = {k: attrs["rollback_claim"].get(k) for k in ("alarm", "at")}
            outcome["body"] += (
                "An earlier attempt stopped before recording this rollback (the apply function timed out "
                "or crashed); this one undid the change again and recorded it.\n"
            )
        return self._finish_rollback(link, attrs, outcome)

    def _claim(
        self, rec_id: str, status: str, claim: dict[str, str], now: datetime, *, held: str | None = None
    ) -> bool:
        """Move the recommendation to ROLLED_BACK with `claim`, or take over a stopped attempt's claim
        (`held`: its stored JSON, which must not have changed); whether this attempt holds it."""
        if self.store.transition(
            rec_id,
            status,
            "ROLLED_BACK",
            now,
            held=("rollback_claim", held) if held is not None else None,
            rolled_back_by=claim["alarm"],
            rollback_claim=claim,
        ):
            return True
        # The SDK sends a write again when its answer is lost: the second sending finds the first one's claim
        got = (self.store.get_recommendation_item(rec_id) or {}).get("attrs", {}).get("rollback_claim")
        return isinstance(got, dict) and got.get("owner") == claim["owner"]

    def _stopped_claim(self, link: dict[str, Any], item: dict[str, Any], claim: dict[str, str]) -> str | None:
        """The stored claim of a rollback whose attempt stopped before recording it, for `claim` (this
        alarm event's) to take over; None when there is none, or its attempt may still be at work.

        An attempt that stops fails its invocation, and Lambda retries the event (same alarm, same time)
        after that; another event waits until the claim is stale (CLAIM_STALE_AFTER). A duplicate of the
        event looks like the retry, though its first delivery may still be at work: the record is what
        only one of them writes (`_finish_rollback`)."""
        held, raw = item["attrs"].get("rollback_claim"), item.get("a_rollback_claim", {}).get("S")
        if not isinstance(held, dict) or not raw:  # a revert's ROLLED_BACK (or a claim older than this)
            return None
        at = datetime.fromisoformat(str(held["at"]))
        now = datetime.fromisoformat(claim["at"])
        retried = held.get("alarm") == claim["alarm"] and at == now
        if not retried and now - at < CLAIM_STALE_AFTER:
            return None
        function = str(item["attrs"].get("before", {}).get("function", ""))
        return None if self._rollback_recorded(link, function, at) else str(raw)

    def _roll_back(self, alarm_name: str, attrs: dict[str, Any], now: datetime) -> dict[str, Any]:
        """Undo the change `attrs` (its recommendation's) records; the outcome `_finish_rollback` records."""
        before, after = attrs.get("before", {}), attrs.get("after", {})
        left: list[str] = []
        kept: dict[str, Any] = {}
        ok, error = self._undo_change(before, after, left, kept)
        applied_at = attrs.get("applied_at")
        extra, note = self._after_rollback(
            after,
            before,
            restored=ok,
            undoing=[str(attrs.get("change_id"))],
            since=datetime.fromisoformat(applied_at) if applied_at else None,
        )
        undone, what = self._undone(before, after)
        put_back = before
        if left:  # someone else's scaling came onto this PC since: only the agent's schedule came off
            undone, put_back = {"restored": _left_to(before), "left_to": left}, _left_to(before)
            what = f"the agent's PC schedule was taken off; the rest is left to {', '.join(left)}"
        elif "memory_left" in kept:  # a deploy set another size since: putting ours back would undo it
            put_back = {**before, "memory_mb": kept["memory_left"]}
            undone = {"restored": put_back, "memory_left": kept["memory_left"]}
            what = _memory_left_text(kept["memory_left"])
        done = what if ok else f"the change could NOT be undone: {error}"
        return {
            "at": now.isoformat(),
            "data": {"alarm": alarm_name, "ok": ok, "error": error, **undone, **_found(kept), **extra},
            "body": f"Alarm {alarm_name} fired; {done}{note}.\n",
            "put_back": put_back,
            "message": error or (what if left or "memory_left" in kept else "rolled back"),
        }

    def _finish_rollback(
        self, link: dict[str, Any], attrs: dict[str, Any], outcome: dict[str, Any], *, again: bool = False
    ) -> ChangeResult | None:
        """Record a rollback done (`outcome`), drop its alarms and tell the topic. When the record cannot
        be written, the outcome is kept on the recommendation and the error raised: the apply function
        retries the alarm's event, and the retry (`again`) records it from there, so no undo stays out of
        the audit. A retry that finds it recorded already does nothing, and so does a delivery whose
        record another one wrote first (the mark on the recommendation holds that one's record)."""
        rec_id, data = link["recommendation_id"], outcome["data"]
        function = str(attrs.get("before", {}).get("function", ""))
        if again and self._rollback_recorded(link, function, datetime.fromisoformat(outcome["at"])):
            return None
        try:
            self.store.append_audit(
                "rollback",
                datetime.fromisoformat(outcome["at"]),
                function=function or None,
                recommendation_id=rec_id,
                caused_by=link["change_id"],
                data=data,
                once_on=rec_id,
            )
        except RecordedAlready:  # another delivery of the event, or a sibling alarm's, recorded it: its own
            return None  # alarms and notice are that delivery's to see to
        except (StoreError, ClientError, BotoCoreError) as exc:
            if not again:
                self._rollback_unrecorded(rec_id, function, outcome, exc)
            raise
        if self._drop_alarms(attrs.get("alarms", [])):
            self._guard_cleared(rec_id, "ROLLED_BACK", datetime.fromisoformat(outcome["at"]))
        severity = "warning" if data["ok"] else "critical"
        self._notify(f"Rolled back: {function}", outcome["body"], function, severity)
        return ChangeResult(
            recommendation_id=rec_id,
            function=function,
            ok=bool(data["ok"]),
            before=scalar_values(attrs.get("after", {})),
            after=scalar_values(outcome["put_back"]),
            message=outcome["message"],
        )

    def _rollback_unrecorded(
        self, rec_id: str, function: str, outcome: dict[str, Any], exc: Exception
    ) -> None:
        """Keep a rollback whose record failed on its recommendation, for the retry to record, and say so
        (both best effort: the store may be what failed)."""
        at = datetime.fromisoformat(outcome["at"])
        kept = "the apply function's retry of the alarm event records it"
        try:
            self.store.transition(rec_id, "ROLLED_BACK", "ROLLED_BACK", at, rollback_unrecorded=outcome)
        except (StoreError, ClientError, BotoCoreError) as keep_exc:
            # The claim stays: the retry finds it unrecorded and undoes the change again, then records it
            kept = (
                f"it could not be kept for a retry either ({keep_exc}); the apply function's retry of the "
                "alarm event undoes the change again and records it"
            )
        body = f"{outcome['body']}The rollback could not be recorded in the audit ({exc}); {kept}.\n"
        self._notify(f"Rolled back, not recorded: {function}", body, function, "critical")

    def _rollback_recorded(self, link: dict[str, Any], function: str, at: datetime) -> bool:
        """Whether the audit holds the undo of the change `link` names, from `at` on: its rollback, or a
        revert that undid it (while its rollback was unrecorded, the change read as still in force)."""
        change = link["change_id"]

        def undoes(r: AuditRecord) -> bool:
            if r.type == "revert":
                return bool(r.data.get("ok")) and change in cast(list[str], r.data.get("changes", []))
            return r.type == "rollback" and r.caused_by == change

        return any(undoes(r) for r in self.store.list_audit(since=at, function=function or None))

    def _undo_change(
        self,
        before: dict[str, Any],
        after: dict[str, Any],
        left: list[str] | None = None,
        kept: dict[str, Any] | None = None,
    ) -> tuple[bool, str | None]:
        """Undo one change an alarm judged worse: put `before` back (its alias only while it still serves
        the version the change published, its memory only while it is the change's: a deploy since
        stands). (ok, error); `left`, `kept`: as in `_restore`."""
        return self._restore(before, ours=after.get("published_version"), left=left, changed=after, kept=kept)

    def _undone(self, before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], str]:
        """What `_undo_change` did: the fields of the rollback record that say so, and the words."""
        return {"restored": before}, "the previous configuration was restored"

    def _after_rollback(
        self,
        after: dict[str, Any],
        before: dict[str, Any],
        *,
        restored: bool,
        undoing: Collection[str] = (),
        since: datetime | None = None,
    ) -> tuple[dict[str, Any], str]:
        """What else undoing a change (`after`, put back to `before`; `restored`: whether that worked)
        cleaned up: extra fields for its record and a note for the notice.

        A memory change behind an alias published a version; undone, nothing serves it and no undo can
        need it, so it is deleted (`Applier.discard_published`: never while the alias routes to it) and
        `published` says how that went. Unless a later change still in force was made from it (its alias
        served it before: reverting that change puts it back): the changes recorded from `since` (when
        the undone one was made) on are read, those being undone with it (`undoing`, record ids) aside.
        `since` None: the change was made just now, and none came after it."""
        version, alias = str(after.get("published_version") or ""), after.get("alias")
        if not version or not alias or not restored:
            return {}, ""
        function = str(after["function"])
        if since is not None and self._made_from(function, version, since, undoing):
            what = "kept: a change still in force was made from it, and undoing that one puts it back"
            outcome = trial_outcome(version, what, label="version")
        else:
            outcome = self.applier.discard_published(function, str(alias), version)
        return {"published": outcome}, f"; {outcome['detail']}"

    def _made_from(self, function: str, version: str, since: datetime, undoing: Collection[str]) -> bool:
        """Whether a change still in force (recorded from `since` on, not one of `undoing`) had `version`
        as what its alias served, or as where its PC sat, before it: undoing it puts that back."""
        for records in revert_groups(self.store, since, function):
            for r in records:
                was = cast(dict[str, Any], r.data.get("before") or {})
                served = (str(was.get("alias_version")), str(was.get("qualifier")))
                if r.id not in undoing and version in served:
                    return True
        return False

    def revert(
        self, since: datetime, function: str | None, now: datetime, actor: str = "cli"
    ) -> list[ChangeResult]:
        """Per function and kind, put back the configuration from before the first change since `since`.

        A group whose record cannot be written is answered as failed, saying so, and the rest go on: the
        caller (the CLI, directly or through the apply function) learns what was put back, and a revert
        run again records that one (the audit does not show its changes undone yet)."""
        results = []
        for records in revert_groups(self.store, since, function):
            try:
                results.append(self.revert_group(records, now, actor))
            except (StoreError, ClientError, BotoCoreError) as exc:
                message = (
                    f"its configuration may be put back, but the revert is not recorded ({exc}); "
                    "run the revert again to record it"
                )
                last = records[-1]
                results.append(
                    ChangeResult(
                        recommendation_id=last.recommendation_id or "",
                        function=str(cast(dict[str, Any], records[0].data["before"])["function"]),
                        ok=False,
                        before=scalar_values(cast(dict[str, Any], last.data.get("after") or {})),
                        after={},
                        message=message,
                    )
                )
        return results

    def revert_group(self, records: list[Any], now: datetime, actor: str) -> ChangeResult:
        """Put back one of `revert_groups`; a record or status that cannot be written raises (StoreError)."""
        first, last = records[0], records[-1]
        before: dict[str, Any] = first.data["before"]
        left: list[str] = []
        ours = self._ours(before, records)
        kept: dict[str, Any] = {}
        ok, error = self._restore(before, ours=ours, left=left, changed=last.data.get("after", {}), kept=kept)
        data = {"ok": ok, "error": error, "restored": before, "changes": [r.id for r in records]}
        data.update(_found(kept))
        done, put_back = "reverted", before
        if "memory_left" in kept:  # a deploy set another size since: putting ours back would undo it
            data["memory_left"] = kept["memory_left"]
            put_back = {**before, "memory_mb": kept["memory_left"]}
            done = _memory_left_text(kept["memory_left"])
        if not ok and self.applier.function_gone(str(before["function"])):
            ok, error, done = True, None, "the function no longer exists: nothing to put back"
            data.update(ok=True, error=None, gone=True)
        elif ours == "":  # a deploy (or another tool) moved the alias off the agent's versions since
            data["alias_left"] = True
            done += f"; alias {before['alias']} left as it is: it serves none of the agent's versions"
        if left:  # someone else's scaling came onto this PC since: only the agent's schedule came off
            put_back = _left_to(before)
            data.update(restored=put_back, left_to=left)
            done = f"the agent's PC schedule was taken off; the rest is left to {', '.join(left)}"
        ids = [r.id for r in records]
        cleaned = [
            self._after_rollback(r.data.get("after", {}), before, restored=ok, undoing=ids, since=first.at)[0]
            for r in records
        ]
        if any(cleaned):  # what else the reverted changes left behind (a canary's trial version)
            data["cleaned_up"] = [extra for extra in cleaned if extra]
        self.store.append_audit(
            "revert",
            now,
            function=before["function"],
            recommendation_id=first.recommendation_id,
            actor=actor,
            data=data,
        )
        for r in records if ok else []:  # a change not undone stays in force: keep its guard and status
            self._drop_alarms(list(r.data.get("alarms", [])))
            rec_id = r.recommendation_id
            for status in ("APPLIED", "VERIFIED"):
                if rec_id and self.store.transition(rec_id, status, "ROLLED_BACK", now, reverted_by=actor):
                    break
        return ChangeResult(
            recommendation_id=last.recommendation_id or "",
            function=before["function"],
            ok=ok,
            before=scalar_values(last.data["after"]),
            after=scalar_values(put_back),
            message=error or done,
        )

    def _ours(self, before: dict[str, Any], records: list[Any]) -> str | None:
        """The version the reverted changes published that the alias still serves or routes to ("" when
        none: a deploy moved it since, and the alias stays); None when the changes published none."""
        published = [str(v) for r in records if (v := r.data.get("after", {}).get("published_version"))]
        alias = before.get("alias")
        if not alias or not published:
            return None
        fn = str(before["function"])
        with contextlib.suppress(ApplyError):  # unreadable: the restore's own read says why
            return next((v for v in reversed(published) if self.applier.routes_to(fn, alias, v)), "")
        return published[-1]

    def _restore(
        self,
        before: dict[str, Any],
        *,
        ours: str | None = None,
        left: list[str] | None = None,
        changed: dict[str, Any] | None = None,
        kept: dict[str, Any] | None = None,
    ) -> tuple[bool, str | None]:
        """Put `before` back: (ok, error). `left` gets who else scales a PC the undo then left to them
        (their scaling came since the change: only the agent's own schedule came off); `kept` the memory
        left where a deploy set another size since the one `changed` (the change as applied) set, else
        the size found in force when it was that one (`memory_found`)."""
        if not before:
            return False, "no recorded configuration to restore"
        set_mb = (changed or {}).get("memory_mb")
        set_mb = set_mb if isinstance(set_mb, int) else None
        try:
            applied = self.applier.restore(before, ours=ours, set_mb=set_mb)
        except ApplyError as exc:
            return False, str(exc)
        if left is not None:
            left.extend(applied.after.get("left_to", []))
        if kept is not None and "memory_left" in applied.after:
            kept["memory_left"] = applied.after["memory_left"]
        elif kept is not None and set_mb is not None and applied.after.get("memory_found") == set_mb:
            kept["memory_found"] = set_mb  # what served since the change, for the hours before the undo
        return True, None

    def _remove_alarms(self, names: list[str]) -> None:
        """Delete rollback alarms, then their links to the change they guard (`Store.link_alarm`). A link
        goes only once its alarm is gone: an alarm still there may fire, and must find its change."""
        alarms.delete_alarms(names, client=self.cloudwatch)
        self.store.unlink_alarms(names)

    def _drop_alarms(self, names: list[str]) -> bool:
        """Remove alarms and their links, best effort; whether all went. Leftovers only point at a change
        that has ended: at worst an alarm trips a no-op, and a link names an alarm nothing fires any more.
        A change that ended keeps the names on its item until they are gone (`_guard_cleared`), and the
        cycle asks the apply function to remove them (`CanaryFlow.conclude`, `Store.guards_left`)."""
        try:
            self._remove_alarms(names)
        except (alarms.AlarmError, StoreError, ClientError, BotoCoreError):
            return False
        return True

    def _guard_cleared(self, rec_id: str, status: str, now: datetime) -> None:
        """The item of a change that ended (`status`) lists no alarms once they and their links are gone,
        so no later cycle asks for their removal. Best effort: a list kept costs one request more."""
        with contextlib.suppress(StoreError, ClientError, BotoCoreError):
            self.store.transition(rec_id, status, status, now, alarms=[])

    def _notify(self, subject: str, body: str, function: str, severity: str) -> None:
        """Tell the topic; a notification that cannot be sent never undoes or repeats a change."""
        try:
            self._publish(subject, body, function, severity)
        except NotifyError as exc:  # the audit already holds the outcome; the log keeps the failed notice
            LOG.warning("notification not sent: %s (%s)", subject, exc)

    def _publish(self, subject: str, body: str, function: str, severity: str) -> None:
        self.notifier.publish(
            f"lambda-tuner: {subject}", body, {"severity": severity, "functions": function, "count": "1"}
        )


def _found(kept: dict[str, Any]) -> dict[str, Any]:
    """For an undo's record: the memory size it found in force, when that was the one the change set
    (`memory_found`). The collection reads only its look-back's audit: once the change is older than that,
    this says which size served the hours before the undo, as a change's `before` does for the hours
    before it (a function without REPORT lines, Lambda Insights say, would otherwise forget them)."""
    return {"memory_found": kept["memory_found"]} if "memory_found" in kept else {}


def _memory_left_text(memory_mb: int) -> str:
    return f"memory left at {memory_mb} MB: set since the agent's change (a deploy?)"
