"""Provisioned concurrency for the Applier: static levels on an alias or version (waiting for READY) and
time-of-day schedules as Application Auto Scaling scheduled actions. A mixin: `Applier` supplies the
clients, the call wrapper and the undo."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from lambda_tuner.adapters.apply_errors import Applied, ApplyError, ConflictError, PcFailedError, named_error

PC_DIMENSION = "lambda:function:ProvisionedConcurrency"
SCHEDULE_PREFIX = "lambda-tuner-"


class PcSteps:
    if TYPE_CHECKING:  # provided by Applier
        lam: Any
        aas: Any
        sleep: Callable[[float], None]
        poll_delay_s: float
        max_polls: int
        request_ids: list[str]

        def _call(self, what: str, op: Callable[..., dict[str, Any]], **kwargs: Any) -> dict[str, Any]: ...
        def polls(self, *, undo: bool = False) -> int: ...
        def _undo(self, before: dict[str, Any], cause: ApplyError) -> None: ...
        def _taken(self) -> tuple[str, ...]: ...

    def _pc_now(self, function: str, qualifier: str) -> int:
        try:
            got = self.lam.get_provisioned_concurrency_config(FunctionName=function, Qualifier=qualifier)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ProvisionedConcurrencyConfigNotFoundException":
                return 0
            raise named_error(exc, "read provisioned concurrency") from exc
        except BotoCoreError as exc:
            raise named_error(exc, "read provisioned concurrency") from exc
        return int(got.get("RequestedProvisionedConcurrentExecutions", 0))

    def apply_pc(self, function: str, qualifier: str, level: int) -> Applied:
        """Set (level > 0) or remove (0) PC on an alias or version, waiting until it is READY.

        The agent's own scheduled actions on it go first: left in place, the next of them would undo this
        level. `before` keeps them (`actions`, only when there were any) so a restore puts them back."""
        resource = f"function:{function}:{qualifier}"
        schedule = _ours(self._free_of_others(resource))
        before: dict[str, Any] = {
            "kind": "pc",
            "function": function,
            "qualifier": qualifier,
            "pc": self._pc_now(function, qualifier),
        }
        if schedule:
            before["actions"] = schedule
        try:
            if schedule:
                self._put_schedule(resource, [], schedule)
            self._set_pc(function, qualifier, level)
        except ApplyError as exc:
            self._undo(before, exc)
            raise
        after = {"kind": "pc", "function": function, "qualifier": qualifier, "pc": level}
        return Applied(before=before, after=after, request_ids=self._taken())

    def _restore_pc(self, before: dict[str, Any], *, settled: bool = True) -> list[str]:
        """Put back a static level and the agent's schedule as it was then: the one `apply_pc` removed, or
        none (a revert of several PC changes also takes off a schedule the agent put on since). Where
        someone else's scaling came onto this PC since, only the agent's schedule comes off (see
        `_others_came`); returns who scales it then, else []."""
        function, qualifier = before["function"], before["qualifier"]
        came, ours = self._others_came(before, settled)
        if came:
            return came
        self._set_pc(function, qualifier, int(before["pc"]), undo=True)
        self._put_schedule(f"function:{function}:{qualifier}", list(before.get("actions", [])), ours)
        return []

    def _restore_schedule(self, before: dict[str, Any], *, settled: bool = True) -> list[str]:
        """Put back the agent's schedule as it was and the level then in force (`pc`, when recorded): with no
        schedule left to set it, the last action's level would otherwise stay for good. Where someone
        else's scaling came onto this PC since, only the agent's schedule comes off (`_others_came`)."""
        function, qualifier = before["function"], before["qualifier"]
        resource = f"function:{function}:{qualifier}"
        came, ours = self._others_came(before, settled)
        if came:
            return came
        self._put_schedule(resource, list(before["actions"]), ours)
        if "target" in before:  # recorded since the agent keeps a team's range (older records did not)
            self._restore_target(resource, before["target"], ours_left=bool(before["actions"]))
        if "pc" in before and self._pc_now(function, qualifier) != int(before["pc"]):
            self._set_pc(function, qualifier, int(before["pc"]), undo=True)
        return []

    def _others_came(
        self, before: dict[str, Any], settled: bool
    ) -> tuple[list[str], list[dict[str, Any]] | None]:
        """(who else scales this PC now and did not when the change was made, the agent's actions on it as
        read now). `before["others"]`: a take-off records them; the other changes are refused where there
        are any. When some came, the change is not put back: the agent's range registered again would
        narrow theirs, its actions would pin the PC their scaling moves, a static level would fight it,
        and deregistering the target (when the agent's first schedule made it) would delete their policies
        and actions with it. Only the agent's own schedule comes off, and the undo says whose the PC is.
        Not `settled` (the undo of a change that failed just now): nothing is read, ([], None)."""
        if not settled:
            return [], None
        resource = f"function:{before['function']}:{before['qualifier']}"
        others, found = self._scaling(resource)
        came, ours = [o for o in others if o not in before.get("others", [])], _ours(found)
        if came:
            self._put_schedule(resource, [], ours)
        return came, ours

    def _target_range(self, resource: str) -> dict[str, int] | None:
        got = self._call(
            "read the scalable target",
            self.aas.describe_scalable_targets,
            ServiceNamespace="lambda",
            ResourceIds=[resource],
            ScalableDimension=PC_DIMENSION,
        )
        targets = got.get("ScalableTargets") or []
        if not targets:
            return None
        return {"min": int(targets[0]["MinCapacity"]), "max": int(targets[0]["MaxCapacity"])}

    def _restore_target(self, resource: str, target: dict[str, int] | None, *, ours_left: bool) -> None:
        """The scalable target as it was: the team's range registered again (the agent's schedule had set
        0 to its top level), or, when there was none and no schedule of ours is left, none."""
        key = _target(resource)
        if target is not None:
            self._call(
                "register the scalable target", self.aas.register_scalable_target,
                **key, MinCapacity=target["min"], MaxCapacity=target["max"],
            )
        elif not ours_left and self._target_range(resource) is not None:
            self._call("deregister the scalable target", self.aas.deregister_scalable_target, **key)

    def _set_pc(self, function: str, qualifier: str, level: int, *, undo: bool = False) -> None:
        if level <= 0:
            if self._pc_now(function, qualifier):
                self._call(
                    "remove provisioned concurrency",
                    self.lam.delete_provisioned_concurrency_config,
                    FunctionName=function,
                    Qualifier=qualifier,
                )
            return
        self._call(
            "set provisioned concurrency",
            self.lam.put_provisioned_concurrency_config,
            FunctionName=function,
            Qualifier=qualifier,
            ProvisionedConcurrentExecutions=level,
        )
        polls = self.polls(undo=undo)
        for _ in range(polls):
            got = self._call(
                "read provisioned concurrency",
                self.lam.get_provisioned_concurrency_config,
                FunctionName=function,
                Qualifier=qualifier,
            )
            if got.get("Status") == "READY":
                return
            if got.get("Status") == "FAILED":
                raise PcFailedError(
                    f"provisioned concurrency failed: {got.get('StatusReason', 'no reason given')}"
                )
            self.sleep(self.poll_delay_s)
        raise PcFailedError(f"provisioned concurrency not READY after {polls} polls")

    def apply_pc_schedule(self, function: str, qualifier: str, actions: list[dict[str, Any]]) -> Applied:
        """Replace our scheduled actions on the alias by `actions`: [{schedule, capacity, timezone?}]."""
        resource = f"function:{function}:{qualifier}"
        # Taking the agent's schedule off is what makes way for someone else's scaling: never refused
        others, found = self._scaling(resource)
        if actions and others:
            raise _conflict(others)
        existing = _ours(found)
        before: dict[str, Any] = {
            "kind": "pc_schedule", "function": function, "qualifier": qualifier, "actions": existing,
            "pc": self._pc_now(function, qualifier),  # the level an undo puts back with the schedule
            "target": self._target_range(resource),  # a team's own range, put back by an undo
        }
        if others:  # a take-off: an undo puts the agent's schedule back beside these, not over newcomers
            before["others"] = others
        try:
            self._put_schedule(resource, actions, existing)
        except ApplyError as exc:
            self._undo(before, exc)
            raise
        after = {"kind": "pc_schedule", "function": function, "qualifier": qualifier, "actions": actions}
        return Applied(before=before, after=after, request_ids=self._taken())

    def schedules_left(self, function: str) -> dict[str, list[dict[str, Any]]]:
        """The agent's scheduled actions on any alias or version of `function`, by resource (one listing of
        the namespace: a deleted function's aliases can no longer be listed to name them)."""
        mine: dict[str, list[dict[str, Any]]] = {}
        pages = self.aas.get_paginator("describe_scheduled_actions").paginate(ServiceNamespace="lambda")
        try:
            for page in pages:
                for action in page.get("ScheduledActions", []):
                    resource = str(action.get("ResourceId", ""))
                    on_it = resource.startswith(f"function:{function}:")
                    if on_it and action.get("ScalableDimension") == PC_DIMENSION and is_ours(action):
                        mine.setdefault(resource, []).append(action)
        except (ClientError, BotoCoreError) as exc:
            raise named_error(exc, "read scheduled actions") from exc
        return {resource: _ours(actions) for resource, actions in sorted(mine.items())}

    def take_off_schedules(self, schedules: dict[str, list[dict[str, Any]]]) -> tuple[str, ...]:
        """Delete the agent's actions (`schedules_left`) of a deleted function, and the scalable target
        under them where nothing else scales it: left, they would set PC on a function created later under
        the same name and alias. Returns the request ids of the calls."""
        for resource, actions in schedules.items():
            self._put_schedule(resource, [], actions)
            if not self._scaling(resource)[0]:
                self._restore_target(resource, None, ours_left=False)
        return self._taken()

    def _our_actions(self, resource: str) -> list[dict[str, Any]]:
        return _ours(self._scheduled_actions(resource))

    def _scheduled_actions(self, resource: str) -> list[dict[str, Any]]:
        # AWS answers 50 actions a page and a week's schedule has more: read every page, or a "before"
        # (and so a restore) would miss some, and deleting "all of ours" would leave some behind.
        pages = self.aas.get_paginator("describe_scheduled_actions").paginate(**_target(resource))
        found: list[dict[str, Any]] = []
        try:
            for page in pages:
                rid = page.get("ResponseMetadata", {}).get("RequestId")
                if rid:
                    self.request_ids.append(str(rid))
                found.extend(page.get("ScheduledActions", []))
        except (ClientError, BotoCoreError) as exc:
            raise named_error(exc, "read scheduled actions") from exc
        return found

    def _free_of_others(self, resource: str) -> list[dict[str, Any]]:
        """The resource's scheduled actions, once it is known that nobody else scales this PC: a policy or
        scheduled actions not ours may have come since the proposal (the agent proposes no change to PC
        someone else scales), and a level or schedule set beside them would fight them. Refused then."""
        others, found = self._scaling(resource)
        if others:
            raise _conflict(others)
        return found

    def _scaling(self, resource: str) -> tuple[list[str], list[dict[str, Any]]]:
        """(who else scales this PC: policies and scheduled actions not the agent's; all its actions)."""
        got = self._call("read scaling policies", self.aas.describe_scaling_policies, **_target(resource))
        found = self._scheduled_actions(resource)
        others = [policy_text(p) for p in got.get("ScalingPolicies", [])]
        return others + [action_text(a) for a in found if not is_ours(a)], found

    def _put_schedule(
        self, resource: str, actions: list[dict[str, Any]], existing: list[dict[str, Any]] | None = None
    ) -> None:
        for old in self._our_actions(resource) if existing is None else existing:
            try:
                self._call(
                    "delete a scheduled action",
                    self.aas.delete_scheduled_action,
                    **_target(resource),
                    ScheduledActionName=old["name"],
                )
            except ApplyError as exc:
                # gone already (a retried delete whose first attempt landed, or one deleted by hand): done
                cause = exc.__cause__
                if not (isinstance(cause, ClientError) and _code(cause) == "ObjectNotFoundException"):
                    raise
        if not actions:
            return
        top = max(int(a["capacity"]) for a in actions)
        self._call(
            "register the scalable target",
            self.aas.register_scalable_target,
            **_target(resource),
            MinCapacity=0,
            MaxCapacity=max(top, 1),
        )
        for i, action in enumerate(actions):
            name = action.get("name") or f"{SCHEDULE_PREFIX}{i:02d}"
            cap = int(action["capacity"])
            self._call(
                "put a scheduled action",
                self.aas.put_scheduled_action,
                **_target(resource),
                ScheduledActionName=str(name),
                Schedule=action["schedule"],
                Timezone=action.get("timezone", "UTC"),
                ScalableTargetAction={"MinCapacity": cap, "MaxCapacity": cap},
            )


def _conflict(others: list[str]) -> ConflictError:
    who = ", ".join(others)
    return ConflictError(f"Application Auto Scaling scales this PC ({who}): left to it, not changed")


def _target(resource: str) -> dict[str, str]:
    """The keys that name a Lambda PC scalable target (an alias or version: "function:<name>:<qualifier>")."""
    return {"ServiceNamespace": "lambda", "ResourceId": resource, "ScalableDimension": PC_DIMENSION}


def is_ours(action: dict[str, Any]) -> bool:
    """Whether a scheduled action is the agent's own (its names carry SCHEDULE_PREFIX)."""
    return str(action["ScheduledActionName"]).startswith(SCHEDULE_PREFIX)


def policy_text(policy: dict[str, Any]) -> str:
    return f"scaling policy {policy['PolicyName']!r} ({policy.get('PolicyType', 'scaling')})"


def action_text(action: dict[str, Any]) -> str:
    return f"scheduled action {action['ScheduledActionName']!r}"


def _ours(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "name": a["ScheduledActionName"],
            "schedule": a["Schedule"],
            "timezone": a.get("Timezone", "UTC"),
            "capacity": a.get("ScalableTargetAction", {}).get("MinCapacity", 0),
        }
        for a in found
        if is_ours(a)
    ]


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
