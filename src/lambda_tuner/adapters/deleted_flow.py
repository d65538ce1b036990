"""A function deleted from the account: the apply function removes what the agent left on it.

Lambda deletes a function's versions, aliases and PC with it, but not what other services hold about it:
the rollback alarms of its last change (four to six, $0.10 a month each, for good) and the agent's
Application Auto Scaling scheduled actions on its aliases. A function created later under the same name
is another function: those alarms would judge it (one firing would put the old function's size back on
it, where it runs the size the change set), and the schedule would set PC on it. The cycle sends a
`forget` request for each function missing from a whole listing; nothing is removed unless Lambda itself
says then that the function does not exist (ResourceNotFoundException), and any other failed read fails
the request, for Lambda to send it again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from lambda_tuner.adapters.applier import GoneError
from lambda_tuner.adapters.canary_flow import CanaryFlow
from lambda_tuner.core.canary import canary_of
from lambda_tuner.core.models import ChangeResult

WATCHED = ("APPLIED", "VERIFIED")  # the statuses whose rollback alarms are still in place
DELETED_DETAIL = "the function no longer exists (deleted from the account)"


class ForgetEvent(BaseModel):
    """The apply function's `forget` request (from the cycle, for a function missing from its listing)."""

    model_config = ConfigDict(extra="forbid")
    action: Literal["forget"]
    function: str
    time: datetime
    requested_by: Literal["agent"] = "agent"


class DeletedFlow(CanaryFlow):
    def forget(self, function: str, now: datetime, actor: str = "agent") -> ChangeResult:
        """Remove the rollback alarms of `function`'s changes and the agent's PC schedules on it, once
        Lambda says it does not exist; its changes still watched are closed (VERIFIED, as a change with too
        little traffic is after a week). The record comes first, naming what goes: a removal that fails
        after it fails the request, and Lambda's retry records and removes what is left. Idempotent."""
        try:
            self.applier.describe(function)
        except GoneError:
            pass
        else:
            return self._refuse("", function, actor, now, "the function exists: nothing of it was removed")
        watched = [r for r in self.store.list_recommendations(function=function) if r.status in WATCHED]
        for rec in watched:
            if rec.status == "APPLIED" and canary_of(rec):  # ends FAILED, its alarms removed, as recorded
                self.conclude(rec.id, now, actor)
        guarded: dict[str, dict[str, Any]] = {}
        for rec in watched:
            item = self.store.get_recommendation_item(rec.id) or {}
            status = item.get("status", {}).get("S")
            if status in WATCHED and item["attrs"].get("alarms"):
                guarded[rec.id] = {"status": status, **item["attrs"]}
        schedules = self.applier.schedules_left(function)
        if not guarded and not schedules:
            return _done("", function, "nothing of it left to remove")
        names = [str(name) for attrs in guarded.values() for name in attrs["alarms"]]
        only = next(iter(guarded)) if len(guarded) == 1 else None
        self.store.append_audit(
            "verification",
            now,
            function=function,
            recommendation_id=only,
            caused_by=guarded[only].get("change_id") if only else None,
            actor=actor,
            data={
                "ok": True,
                "function_deleted": True,
                "detail": _detail(len(names), schedules),
                "changes": sorted(guarded),
                "alarms_removed": names,
                "schedules_removed": {r: [str(a["name"]) for a in found] for r, found in schedules.items()},
            },
        )
        self._remove_alarms(names)
        for rec_id, attrs in guarded.items():
            self.store.transition(rec_id, attrs["status"], "VERIFIED", now, alarms=[], closed=DELETED_DETAIL)
        ids = self.applier.take_off_schedules(schedules)
        return _done(only or "", function, _detail(len(names), schedules), ids)


def _detail(alarm_count: int, schedules: dict[str, list[dict[str, Any]]]) -> str:
    removed = [f"{alarm_count} rollback alarm" + ("" if alarm_count == 1 else "s")] if alarm_count else []
    removed += [f"the agent's PC schedule on {resource.split(':', 2)[2]}" for resource in schedules]
    return f"{DELETED_DETAIL}: removed {' and '.join(removed)}"


def _done(rec_id: str, function: str, message: str, ids: tuple[str, ...] = ()) -> ChangeResult:
    return ChangeResult(
        recommendation_id=rec_id,
        function=function,
        ok=True,
        before={},
        after={},
        request_ids=ids,
        message=message,
    )
