"""What the apply function does: apply one approved recommendation (here), roll back the change an
alarm guards and revert the agent's changes since a time (inherited from `RollbackFlow`). Each outcome
is a state transition, an audit record and, where a person should know, a notification.

It composes the store, applier, alarms and notifier adapters; it holds no AWS calls of its own.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Literal, cast

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict

from lambda_tuner.adapters import alarms
from lambda_tuner.adapters.applier import (
    Applied,
    Applier,
    ApplyError,
    CodeMismatchError,
    ConflictError,
    RevisionMismatchError,
)
from lambda_tuner.adapters.canary_flow import canary_guard, routing_left, trial_of
from lambda_tuner.adapters.deleted_flow import DeletedFlow
from lambda_tuner.adapters.notifier import Notifier
from lambda_tuner.adapters.rollback_flow import CLAIM_STALE_AFTER, scalar_values
from lambda_tuner.adapters.store import Store, StoreError
from lambda_tuner.core.canary import alias_of, canary_of, trial_days
from lambda_tuner.core.digest import change_text
from lambda_tuner.core.guardrails import (
    RESUME,
    apply_refusal,
    approver,
    takes_schedule_off,
    template_change,
)
from lambda_tuner.core.models import AuditRecord, ChangeResult, Recommendation
from lambda_tuner.core.tags import detect_iac, parse_policy

MEMORY_KINDS = ("memory", "experiment")
DONE = ("APPLIED", "VERIFIED", "ROLLED_BACK", "FAILED", "RECORDED")
# What a failed change's message adds when its canary's trial is still routed (`undo_left`)
UNDO_ASKED_AGAIN = "; the next cycles ask for the canary's routing to be taken out again"


class UnrecordedChangeError(StoreError):
    """A change was made but its audit record or status could not be written; it was put back."""


class ApplyEvent(BaseModel):
    """The apply function's `apply` request (from the approval function or the agent)."""

    model_config = ConfigDict(extra="forbid")
    action: Literal["apply"]
    recommendation_id: str
    requested_by: Literal["approval", "agent", "resume"]  # resume: the cycle re-sends an approved change
    time: datetime


class RevertEvent(BaseModel):
    """The apply function's `revert` request (from the CLI)."""

    model_config = ConfigDict(extra="forbid")
    action: Literal["revert"]
    since: datetime
    function: str | None = None
    time: datetime
    requested_by: str = "cli"


# What the audit keeps of a function's configuration: enough to know exactly what ran before and after,
# never its environment variables (they often hold secrets) or code location.
CONFIG_KEYS = (
    "FunctionArn",
    "MemorySize",
    "Timeout",
    "Runtime",
    "Architectures",
    "Handler",
    "PackageType",
    "EphemeralStorage",
    "SnapStart",
    "RevisionId",
    "CodeSha256",
    "Version",
    "LastModified",
    "LastUpdateStatus",
    "State",
    "Tags",
)


def config_view(config: dict[str, Any]) -> dict[str, Any]:
    return {k: config[k] for k in CONFIG_KEYS if k in config}


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _published(applied: Applied) -> str | None:
    """The version a change just made published (its alias is ours to put back while it routes there)."""
    version = applied.after.get("published_version")
    return str(version) if version else None


def _undo_of(change_id: str, undo_left: dict[str, Any] | None) -> dict[str, Any]:
    """The item's link to the record of a change whose canary trial is still routed (`undo_left`): the
    later undo (`CanaryFlow._retry_undo`) is recorded as caused by it, so the audit shows that change
    undone, as it shows an alarm's rollback of its change. Nothing when no undo is left."""
    return {"change_id": change_id} if undo_left else {}


def _schedule(rec: Recommendation) -> list[dict[str, Any]]:
    """Scheduled actions from the structured field, else from the compact JSON ({schedule, tz, pc})."""
    if rec.pc_schedule:
        return [a.model_dump() for a in rec.pc_schedule]
    return [
        {
            "name": a.get("name"),
            "schedule": a["schedule"],
            "timezone": a.get("timezone", a.get("tz", "UTC")),
            "capacity": int(a.get("capacity", a.get("pc", 0))),
        }
        for a in json.loads(str(rec.proposed["pc_schedule"]))
    ]


class ApplyFlow(DeletedFlow):
    """Apply one approved recommendation once: IaC and kill-switch checks, the change, rollback alarms,
    the `change` audit record and APPLIED — or, on any failure, the previous configuration and FAILED.
    Rollbacks and reverts come from `RollbackFlow`, concluding canary experiments from `CanaryFlow`, and
    removing what the agent left on a deleted function from `DeletedFlow`."""

    def __init__(
        self,
        store: Store,
        applier: Applier,
        notifier: Notifier,
        *,
        allow_iac: bool = False,
        alarm_action_arn: str | None = None,
        alarm_prefix: str = alarms.PREFIX,
        cloudwatch: Any = None,
        kill_switch: Callable[[], bool] = lambda: False,
        tag_prefix: str = "lambda-tuner:",
        max_event_age: timedelta | None = None,
    ) -> None:
        """`max_event_age`: how far a request's time may be from the clock (the handler refuses the rest)."""
        super().__init__(store, applier, notifier, cloudwatch=cloudwatch)
        self.allow_iac, self.alarm_action_arn, self.alarm_prefix = allow_iac, alarm_action_arn, alarm_prefix
        self.kill_switch, self.tag_prefix, self.max_event_age = kill_switch, tag_prefix, max_event_age

    def apply(self, rec_id: str, requested_by: str, now: datetime) -> ChangeResult:
        rec = self.store.get_recommendation(rec_id)
        if rec is None:
            self.store.append_audit(
                "refusal",
                now,
                recommendation_id=rec_id,
                actor=requested_by,
                data={"reason": "unknown recommendation"},
            )
            return ChangeResult(
                recommendation_id=rec_id,
                function="",
                ok=False,
                before={},
                after={},
                message="unknown recommendation",
            )
        if requested_by == "agent" and rec.status == "PENDING":  # auto mode approves its own change
            self.store.transition(rec.id, "PENDING", "APPROVED", now, approved_by="agent")
            rec = self.store.get_recommendation(rec.id) or rec
        if rec.status != "APPROVED":
            return self._not_applicable(rec, requested_by, now)
        owner = uuid.uuid4().hex
        if not self.store.claim(rec.id, "apply", owner, now):
            if requested_by == RESUME and self.store.claim(
                rec.id, "apply", owner, now, stale_before=now - CLAIM_STALE_AFTER
            ):
                return self._interrupted(rec, requested_by, now)
            return self._not_applicable(rec, requested_by, now)
        if self.kill_switch():  # checked at the last moment: an approval does not outrank the operator
            return self._stopped(rec, requested_by, now)
        return self._apply_claimed(rec, requested_by, now)

    def _stopped(self, rec: Recommendation, actor: str, now: datetime) -> ChangeResult:
        reason = "the kill switch is engaged: nothing was applied"
        return self._decline(rec, actor, now, status="FAILED", why="kill switch", data={"reason": reason})

    def _decline(
        self, rec: Recommendation, actor: str, now: datetime, *, status: str, why: str, data: dict[str, Any]
    ) -> ChangeResult:
        """An approved change not made: a refusal record, a notice, its new status; nothing touched. The
        record goes first, as in `_failed`."""
        reason = str(data["reason"])
        self.store.append_audit(
            "refusal", now, function=rec.function, recommendation_id=rec.id, actor=actor, data=data
        )
        self._notify(f"Not applied ({why}): {rec.function}", reason + "\n", rec.function, "warning")
        self.store.transition(rec.id, "APPROVED", status, now, reason=reason)
        return self._result(rec, False, before={}, after={}, request_ids=(), message=reason)

    def _interrupted(self, rec: Recommendation, actor: str, now: datetime) -> ChangeResult:
        """An apply claimed this change long ago and recorded no outcome: the apply function stopped
        (timed out, ran out of memory, crashed) somewhere between its first write and its audit record.
        It may have changed nothing, part or all, so applying again could stack a second change on a
        first. The change ends FAILED instead, with what the function looks like now in its record and in
        a notice asking a person to check; the next cycle proposes afresh from what it then observes.

        An apply that recorded how it ended but could not store the status after it (DynamoDB refused the
        write) is no mystery: its recommendation takes the status that record stands for, and nothing is
        recorded or told twice."""
        if (ended := self._recorded_outcome(rec)) is not None:
            status = "RECORDED" if ended.type == "refusal" and "template_change" in ended.data else "FAILED"
            reason = str(ended.data.get("error") or ended.data.get("reason") or ended.type)
            maybe = alarms.alarm_names(rec.function, rec.id, self.alarm_prefix, stop=True)
            raw = ended.data.get("undo_left")
            left = cast(dict[str, Any], raw) if isinstance(raw, dict) else None
            self.store.transition(
                rec.id, "APPROVED", status, now, reason=reason, outcome_id=ended.id,
                alarms=maybe if status == "FAILED" else [], undo_left=left,
                **_undo_of(ended.caused_by or ended.id, left),
            )
            message = f"an earlier apply recorded its outcome (audit {ended.id}): {reason}"
            return self._result(rec, False, before={}, after={}, request_ids=(), message=message)
        try:
            found = self.applier.found(rec.function, rec.qualifier)
        except ApplyError as exc:
            found = {"error": str(exc)}
        message = (
            f"an earlier apply of this change stopped without recording an outcome (the apply function timed "
            f"out or crashed); it may have changed {rec.function} in part. Proposed {rec.current} -> "
            f"{rec.proposed}; found now {found}. It is not applied again — MANUAL CHECK NEEDED"
        )
        left = self._trial_left(rec, found)
        if left:
            message += (
                f"; its canary trial version {left['version']} still takes {left['weight']:.0%} of alias "
                f"{left['alias']}'s traffic: the next cycles ask for it to be taken out while the alias "
                "routes as the canary set it"
            )
        data = {"ok": False, "error": message, "interrupted": True, "found": found}
        record = self.store.append_audit(
            "change",
            now,
            function=rec.function,
            recommendation_id=rec.id,
            actor=actor,
            data=data | ({"undo_left": left} if left else {}),
        )
        self._notify(f"Change interrupted: {rec.function}", message + "\n", rec.function, "critical")
        # whatever alarms the stopped apply may have made for it: a later cycle has them removed
        maybe = alarms.alarm_names(rec.function, rec.id, self.alarm_prefix, stop=True)
        self.store.transition(
            rec.id, "APPROVED", "FAILED", now, reason=message, alarms=maybe, undo_left=left,
            **_undo_of(record.id, left),
        )
        return self._result(rec, False, before={}, after={}, request_ids=(), message=message)

    def _trial_left(self, rec: Recommendation, found: dict[str, Any]) -> dict[str, Any] | None:
        """What a later cycle needs to take out the trial of a canary whose apply stopped after routing
        it (`undo_left`, as when an undo failed): left, it keeps its share of the alias's traffic with no
        alarm, and every later change to the function is refused while the alias splits. Only a trial
        version of this canary's size routed alone at its weight, and no other change's (`Applier.
        trial_routed`); anything else is left for the person the notice asks to check. None otherwise."""
        canary, memory, routing = canary_of(rec), rec.proposed.get("memory_mb"), found.get("alias_routing")
        if canary is None or not isinstance(memory, int) or not isinstance(routing, dict):
            return None
        version = self.applier.trial_routed(rec.function, routing, memory, canary[1])
        if not version or self._trial_of_another(rec, version):
            return None
        return {"function": rec.function, "alias": canary[0], "version": version, "weight": canary[1]}

    def _trial_of_another(self, rec: Recommendation, version: str) -> bool:
        """Whether another change to the function published or left `version` (its change, or its undo)."""
        for other, attrs in self.store.list_with_attrs(rec.function):
            if other.id == rec.id or canary_of(other) is None:
                continue
            after, undo = attrs.get("after") or {}, attrs.get("undo_left") or {}
            if version in (str(after.get("published_version")), str(undo.get("version"))):
                return True
        return False

    def _recorded_outcome(self, rec: Recommendation) -> AuditRecord | None:
        """The record of how an earlier apply of `rec` ended (a change not made or undone, a conflict, a
        refusal), when one wrote it and then could not store the status: the outcome is recorded before
        the status is (`_failed`, `_decline`, `_unrecorded`)."""
        records = self.store.list_audit(since=rec.created_at, function=rec.function)
        final = ("conflict", "refusal", "rollback")
        mine = [r for r in records if r.recommendation_id == rec.id]
        ended = [r for r in mine if r.type in final or (r.type == "change" and not r.data.get("ok"))]
        return ended[-1] if ended else None

    def _not_applicable(self, rec: Recommendation, actor: str, now: datetime) -> ChangeResult:
        """A duplicate delivery of an apply already done stays silent; anything else is a refusal."""
        reason = f"recommendation is {rec.status}, not APPROVED (or its apply was already claimed)"
        if rec.status not in DONE and rec.status != "APPROVED":
            self.store.append_audit(
                "refusal",
                now,
                function=rec.function,
                recommendation_id=rec.id,
                actor=actor,
                data={"reason": reason},
            )
        return self._result(rec, False, before={}, after={}, request_ids=(), message=reason)

    def _apply_claimed(self, rec: Recommendation, actor: str, now: datetime) -> ChangeResult:
        try:
            desc = self.applier.describe(rec.function)
            mode = parse_policy(desc.get("Tags", {}), self.tag_prefix).mode
            approver = self._approver(rec) if actor == RESUME else None
            if refusal := apply_refusal(mode, actor, approver):
                return self._decline(
                    rec, actor, now, status="FAILED", why="function mode", data={"reason": refusal}
                )
            manager = detect_iac(desc.get("Tags", {}))
            # Taking the agent's own PC schedule off is no drift: no template carries the agent's actions
            if manager and not self.allow_iac and not takes_schedule_off(rec):
                return self._recommend_only(rec, actor, now, template_change(manager, rec), manager)
            # The function's other recommendations, read once: running canaries end before the change,
            # and the guards of earlier changes are retired after it.
            earlier = [r for r in self.store.list_recommendations(function=rec.function) if r.id != rec.id]
            self.end_running_canaries(earlier, now, actor)
            applied = self._dispatch(rec)
        except CodeMismatchError as exc:
            return self._recommend_only(rec, actor, now, str(exc), None)
        except (RevisionMismatchError, ConflictError) as exc:
            return self._failed(rec, actor, now, exc, "conflict")
        except ApplyError as exc:
            return self._failed(rec, actor, now, exc, "change")
        return self._guard_and_record(rec, actor, now, applied, desc, earlier)

    def _approver(self, rec: Recommendation) -> str:
        """Who approved `rec` (`guardrails.approver`)."""
        return approver((self.store.get_recommendation_item(rec.id) or {}).get("attrs", {}))

    def _retire_earlier_guards(self, others: list[Recommendation]) -> None:
        """Alarms of this function's earlier changes judge a configuration no longer in force; left in
        place they would "roll back" to a state older than the one just approved."""
        for earlier in others:
            if earlier.status not in ("APPLIED", "VERIFIED"):
                continue
            item = self.store.get_recommendation_item(earlier.id) or {}
            self._drop_alarms(list(item.get("attrs", {}).get("alarms", [])))

    def _dispatch(self, rec: Recommendation) -> Applied:
        proposed, qualifier = rec.proposed, rec.qualifier
        alias = alias_of(qualifier)
        memory, pc, schedule = proposed.get("memory_mb"), proposed.get("pc"), proposed.get("pc_schedule")
        canary = canary_of(rec)
        if canary is not None and isinstance(memory, int):  # a share of the alias's traffic, for a day
            return self.applier.apply_canary(rec.function, canary[0], memory, canary[1], rec.revision_id)
        if rec.kind in MEMORY_KINDS and isinstance(memory, int):
            return self.applier.apply_memory(rec.function, memory, rec.revision_id, qualifier_alias=alias)
        is_pc = rec.kind == "provisioned_concurrency"
        pc_on = str(rec.current.get("pc_version") or qualifier)  # the version, when the alias's PC sits there
        if is_pc and qualifier and isinstance(pc, int):
            return self.applier.apply_pc(rec.function, pc_on, pc)
        if is_pc and qualifier and (rec.pc_schedule or isinstance(schedule, str)):
            return self.applier.apply_pc_schedule(rec.function, pc_on, _schedule(rec))
        raise ApplyError(
            f"nothing this tool can apply: kind {rec.kind}, proposed {proposed}, qualifier {qualifier}",
            restored=True,
        )

    def _guard_and_record(  # noqa: PLR0917 - the change and what it is judged against, each needed
        self,
        rec: Recommendation,
        actor: str,
        now: datetime,
        applied: Applied,
        desc: dict[str, Any],
        earlier: list[Recommendation],
    ) -> ChangeResult:
        names: list[str] = []
        self._retire_earlier_guards(earlier)
        if self.alarm_action_arn:
            guard = canary_guard(rec, applied.after, _number(rec.current.get("errors_per_min")))
            experiment, days = rec.kind == "experiment", trial_days(rec)
            try:
                names = alarms.create_rollback_alarms(
                    rec.function,
                    rec.id,
                    self.alarm_action_arn,
                    p99_ms=rec.after.p99_ms.high if rec.after else None,
                    timeout_s=int(desc.get("Timeout", 900)),
                    qualifier=rec.qualifier,
                    prefix=self.alarm_prefix,
                    errors_per_min=guard["errors_per_min"],
                    executed_version=guard["executed_version"],
                    p99_stop_ratio=guard["ratio"],
                    live_version=guard["live"],
                    since=now,
                    stop_until=now + timedelta(days=days) if days is not None else None,
                    p99_stop_ms=_number(rec.proposed.get("stop_if_p99_ms_above")) if experiment else None,
                    mean_stop_ms=_number(rec.proposed.get("stop_if_mean_ms_above")) if experiment else None,
                    mean_stop_ratio=guard["mean_ratio"],
                    client=self.cloudwatch,
                )
            except alarms.AlarmError as exc:  # an unguarded change is not made: undo it
                restored, error = self._restore(applied.before, ours=_published(applied))
                trial = self._after_rollback(applied.after, applied.before, restored=restored)[1]
                undo = ApplyError(
                    f"{exc}; the change was undone{trial}" if restored else f"{exc}; {error}{trial}",
                    restored=restored,
                )
                return self._failed(
                    rec, actor, now, undo, "change", alarms_left=exc.left,
                    undo_left=routing_left(applied.after, restored=restored),
                )
        written: list[AuditRecord] = []
        try:
            configs = {"config_before": config_view(desc), "config_after": config_view(self._describe(rec))}
            record = self._record_change(
                rec, actor, now, applied, names=names, configs=configs, written=written
            )
        except (StoreError, ClientError, BotoCoreError, ApplyError) as exc:
            # A change nobody can see in the audit or undo by alarm must not stay: put it back, then fail.
            change_id = written[0].id if written else None
            raise self._unrecorded(
                rec, actor, now, applied, names=names, exc=exc, change_id=change_id
            ) from exc
        if actor != "agent":  # the agent's own change is in the digest its cycle sends ("Applied
            # automatically"): a notice beside it would tell it twice. What goes wrong is still told.
            body = (  # the change in a sentence of its own: an experiment's ends "... by its guards"
                f"{rec.function}: {change_text(rec)}.\n"
                f"Applied at {now:%Y-%m-%d %H:%M} UTC (audit {record.id}).\n"
            )
            self._notify(f"Applied: {rec.function}", body, rec.function, "info")
        return self._result(
            rec,
            True,
            before=applied.before,
            after=applied.after,
            request_ids=applied.request_ids,
            message="applied",
        )

    def _describe(self, rec: Recommendation) -> dict[str, Any]:
        return self.applier.describe(rec.function)

    def _record_change(
        self,
        rec: Recommendation,
        actor: str,
        now: datetime,
        applied: Applied,
        *,
        names: list[str],
        configs: dict[str, Any],
        written: list[AuditRecord],
    ) -> AuditRecord:
        """The `change` record (appended to `written` as soon as it is), the alarms' links, APPLIED."""
        data = {
            "ok": True,
            "before": applied.before,
            "after": applied.after,
            "request_ids": list(applied.request_ids),
            "alarms": names,
            **configs,
        }
        record = self.store.append_audit(
            "change", now, function=rec.function, recommendation_id=rec.id, actor=actor, data=data
        )
        written.append(record)
        for name in names:
            self.store.link_alarm(name, {"recommendation_id": rec.id, "change_id": record.id})
        self.store.transition(
            rec.id,
            "APPROVED",
            "APPLIED",
            now,
            change_id=record.id,
            applied_at=now.isoformat(),
            before=applied.before,
            after=applied.after,
            alarms=names,
        )
        return record

    def _unrecorded(
        self,
        rec: Recommendation,
        actor: str,
        now: datetime,
        applied: Applied,
        *,
        names: list[str],
        exc: Exception,
        change_id: str | None = None,
    ) -> UnrecordedChangeError:
        """Undo a change that could not be recorded and end its recommendation FAILED: left APPROVED with
        its apply claimed, every later delivery would be refused and the change never audited. The
        record of the undo (best effort, since the store may be what failed) goes first, and the FAILED
        status only after it: a change not recorded stays APPROVED and claimed, and the cycle's resume
        records it once the claim is stale (`_interrupted`). The error and the notice say what could not
        be written."""
        restored, error = self._restore(applied.before, ours=_published(applied))
        left = [] if self._drop_alarms(names) else names  # listed on the item: a later cycle removes them
        message = f"the change was made but could not be recorded ({exc}); " + (
            "it was undone" if restored else f"undoing it failed ({error}) — MANUAL CHECK NEEDED"
        )
        message += self._after_rollback(applied.after, applied.before, restored=restored)[1]
        if trial_of(applied.after) and not restored:
            message += UNDO_ASKED_AGAIN
        unwritten: list[str] = []
        # When its `change` record was written (ok, before the link or the status failed), the undo is its
        # `rollback`, caused by it: readers of the audit (the collector's history, `revert`) then see the
        # change undone, not a change still in force beside a failure.
        kind: Literal["rollback", "change"] = "rollback" if change_id else "change"
        data: dict[str, Any] = (
            {"ok": restored, "error": message, "restored": applied.before, "reason": "unrecorded"}
            if change_id
            else {"ok": False, "error": message, "restored": restored}
        )
        # A canary's trial still routed: a later cycle asks for its undo again (`CanaryFlow.conclude`)
        routed = routing_left(applied.after, restored=restored)
        if routed:
            data["undo_left"] = routed
        try:
            recorded = self.store.append_audit(
                kind,
                now,
                function=rec.function,
                recommendation_id=rec.id,
                caused_by=change_id,
                actor=actor,
                data=data,
            )
        except (StoreError, ClientError, BotoCoreError) as audit_exc:
            unwritten.append(
                f"the audit table could not record this failure either ({audit_exc}): the next cycle "
                "records it as interrupted"
            )
        else:
            try:
                self.store.transition(
                    rec.id, "APPROVED", "FAILED", now, reason=message, alarms=left, undo_left=routed,
                    **_undo_of(change_id or recorded.id, routed),
                )
            except (StoreError, ClientError, BotoCoreError) as status_exc:
                unwritten.append(f"its FAILED status could not be stored either ({status_exc})")
        message = "; ".join([message, *unwritten])
        severity = "warning" if restored and not unwritten else "critical"
        self._notify(f"Change failed: {rec.function}", message + "\n", rec.function, severity)
        return UnrecordedChangeError(f"{rec.id}: {message}")

    def _recommend_only(
        self, rec: Recommendation, actor: str, now: datetime, reason: str, manager: str | None
    ) -> ChangeResult:
        data = {"reason": reason, "iac": manager, "template_change": bool(manager)}
        return self._decline(rec, actor, now, status="RECORDED", why="advice only", data=data)

    def _failed(
        self,
        rec: Recommendation,
        actor: str,
        now: datetime,
        exc: ApplyError,
        kind: str,
        *,
        alarms_left: list[str] | None = None,
        undo_left: dict[str, Any] | None = None,
    ) -> ChangeResult:
        """A change not made, or undone: its record, a notice, FAILED. The record goes first: a status
        that could not be stored after it leaves the change APPROVED and claimed, and the cycle's resume
        finds the record (`_interrupted`); the other way round a failed record left FAILED changes the
        audit never saw. `alarms_left`: alarms of a guard half made that could not be deleted; the item
        lists them, and a later cycle has them removed (`CanaryFlow.conclude`). `undo_left`: a canary's
        trial routing its undo could not take out; a later cycle asks for that again, in the same way."""
        message = str(exc) + ("" if exc.restored else " — MANUAL CHECK NEEDED: the restore failed")
        if undo_left:
            message += UNDO_ASKED_AGAIN
        data: dict[str, Any] = {"ok": False, "error": message, "restored": exc.restored}
        record = self.store.append_audit(
            "conflict" if kind == "conflict" else "change",
            now,
            function=rec.function,
            recommendation_id=rec.id,
            actor=actor,
            data=data | ({"undo_left": undo_left} if undo_left else {}),
        )
        self._notify(
            f"Change failed: {rec.function}",
            message + "\n",
            rec.function,
            "warning" if exc.restored else "critical",
        )
        self.store.transition(
            rec.id, "APPROVED", "FAILED", now, reason=message, alarms=alarms_left or [], undo_left=undo_left,
            **_undo_of(record.id, undo_left),
        )
        return self._result(rec, False, before={}, after={}, request_ids=(), message=message)

    @staticmethod
    def _result(
        rec: Recommendation,
        ok: bool,
        *,
        before: dict[str, Any],
        after: dict[str, Any],
        request_ids: tuple[str, ...],
        message: str,
    ) -> ChangeResult:
        return ChangeResult(
            recommendation_id=rec.id,
            function=rec.function,
            ok=ok,
            before=scalar_values(before),
            after=scalar_values(after),
            request_ids=request_ids,
            message=message,
        )
