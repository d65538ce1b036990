"""Lambda and Application Auto Scaling writes: memory (on $LATEST or behind an alias), a canary (a share
of an alias's traffic to a version at a trial size, and taking it out again), provisioned concurrency
(static or scheduled), and putting things back. The apply function is the only caller.

Every method records the configuration before it touches anything and, when a later step fails,
restores it before raising, so a failure never leaves a change half made. A canary's trial version is
deleted once nothing routes to it (concluded, rolled back or undone), so experiments leave no versions.
So is the version a memory change behind an alias published, once that change is undone
(`discard_published`); while it is in force, the version its alias served before stays: an undo puts it
back.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lambda_tuner.adapters import aws
from lambda_tuner.adapters.applier_pc import PcSteps
from lambda_tuner.adapters.apply_errors import (
    Applied,
    ApplyError,
    CodeMismatchError,
    ConflictError,
    GoneError,
    LambdaServiceError,
    PcFailedError,
    RevisionMismatchError,
    ThrottledError,
    UpdateFailedError,
    named_error,
)

# Of the time an invocation has left (`Applier.time_left`), what waits on the way forward leave for
# undoing (two waits and a few calls) and what an undo's own waits leave for recording the outcome: a
# function killed at its timeout mid-change would leave it half made and unaudited.
UNDO_RESERVE_S = 300.0
RECORD_RESERVE_S = 30.0

# The description of every version published for a canary: what lets a later canary's end find and
# delete one whose own deletion failed (throttled, or refused while an alias still used it).
TRIAL_DESCRIPTION = "lambda-tuner canary trial"

# Re-exported: callers catch these from here.
__all__ = [
    "Applied",
    "Applier",
    "ApplyError",
    "CodeMismatchError",
    "ConflictError",
    "GoneError",
    "LambdaServiceError",
    "PcFailedError",
    "RevisionMismatchError",
    "ThrottledError",
    "UpdateFailedError",
]


class Applier(PcSteps):
    def __init__(
        self,
        lambda_client: Any = None,
        aas_client: Any = None,
        cw_client: Any = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        poll_delay_s: float = 5.0,
        max_polls: int = 60,
        time_left: Callable[[], float] | None = None,
    ) -> None:
        """`time_left`: seconds the invocation has left (the Lambda context's); None: no deadline."""
        self.lam = lambda_client or aws.client("lambda")
        self.aas = aas_client or aws.client("application-autoscaling")
        self.cw = cw_client or aws.client("cloudwatch")
        self.sleep, self.poll_delay_s, self.max_polls = sleep, poll_delay_s, max_polls
        self.time_left = time_left
        self.request_ids: list[str] = []

    def deadline_from(self, context: object) -> None:
        """Take the invocation's deadline from a Lambda context (none when it has no clock)."""
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        self.time_left = (lambda: float(remaining()) / 1000) if callable(remaining) else None

    def polls(self, *, undo: bool = False) -> int:
        """How many polls a wait may make: `max_polls`, fewer as the invocation's deadline nears, so that
        a wait on the way forward leaves UNDO_RESERVE_S to undo the change, and an undo's wait leaves
        RECORD_RESERVE_S to record the outcome. At least one: a wait that cannot wait fails fast."""
        if self.time_left is None:
            return self.max_polls
        left = self.time_left()
        spare = left - min(RECORD_RESERVE_S if undo else UNDO_RESERVE_S, left / 2)  # a short timeout: halves
        return max(1, min(self.max_polls, int(spare // max(self.poll_delay_s, 1.0))))

    # ---------------------------------------------------------------- reading

    def _call(self, what: str, op: Callable[..., dict[str, Any]], **kwargs: Any) -> dict[str, Any]:
        try:
            resp = op(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise named_error(exc, what) from exc
        rid = resp.get("ResponseMetadata", {}).get("RequestId")
        if rid:
            self.request_ids.append(str(rid))
        return resp

    def describe(self, function: str) -> dict[str, Any]:
        """Configuration and tags of $LATEST (what IaC detection and the alarms need)."""
        got = self._call("read the function", self.lam.get_function, FunctionName=function)
        return {**got["Configuration"], "Tags": got.get("Tags", {})}

    def found(self, function: str, alias: str | None) -> dict[str, Any]:
        """What a person checking an interrupted change needs: $LATEST's memory and revision, and the alias's
        version and routing when the change was behind one."""
        got = self.describe(function)
        out: dict[str, Any] = {"memory_mb": got.get("MemorySize"), "revision_id": got.get("RevisionId")}
        if alias:
            read = self._call("read the alias", self.lam.get_alias, FunctionName=function, Name=alias)
            out.update(alias=alias, alias_version=read["FunctionVersion"], alias_routing=_weights(read))
        return out

    def _taken(self) -> tuple[str, ...]:
        ids, self.request_ids = tuple(self.request_ids), []
        return ids

    # ---------------------------------------------------------------- memory

    def apply_memory(
        self, function: str, memory_mb: int, revision_id: str | None, *, qualifier_alias: str | None = None
    ) -> Applied:
        """The memory of $LATEST; behind an alias, a version published with it and all traffic moved to it.
        A version published for a change that then failed is deleted once the alias is put back."""
        before = self._before(function, revision_id, qualifier_alias)
        if qualifier_alias:
            _refuse_split(qualifier_alias, before)
        self._change_memory(function, memory_mb, revision_id, before)
        after = {"kind": "memory", "function": function, "memory_mb": memory_mb}
        if qualifier_alias:
            version: str | None = None
            try:
                version = self._publish(function, before)
                routed = self._route_as_read(function, qualifier_alias, version, {}, before)
            except ApplyError as exc:  # $LATEST has the new memory by now, whatever refused the alias
                self._undo_published(function, before, exc, version)
                raise
            after.update(routed, published_version=version)
        return Applied(before=before, after=after, request_ids=self._taken())

    def apply_canary(
        self, function: str, alias: str, memory_mb: int, weight: float, revision_id: str | None
    ) -> Applied:
        """A same-day memory experiment behind a weighted alias: a version published at `memory_mb` gets
        `weight` of the alias's traffic, the version it serves keeps the rest, and $LATEST ends at the
        memory it had (set, publish, set back), so the function's configured size stays the one the main
        traffic runs at. `before` (memory, alias version and routing) is what puts it all back."""
        if not 0 < weight < 1:
            raise ApplyError(f"a canary weight must be between 0 and 1, got {weight}")
        before = self._before(function, revision_id, alias)
        if before["alias_version"] == "$LATEST":
            raise ApplyError(
                f"alias {alias} serves $LATEST: only published versions can share an alias's traffic"
            )
        _refuse_split(alias, before)
        self._change_memory(function, memory_mb, revision_id, before)
        version: str | None = None
        try:
            version = self._publish(function, before, f"{TRIAL_DESCRIPTION} at {memory_mb} MB")
            self._set_memory(function, int(before["memory_mb"]), None)
            routed = self._route_as_read(
                function, alias, str(before["alias_version"]), {version: weight}, before
            )
        except ApplyError as exc:  # whichever step refused, $LATEST may be at the trial size: put all back
            self._undo_published(function, before, exc, version)
            raise
        after = {"kind": "memory", "function": function, "memory_mb": memory_mb, "canary_weight": weight}
        after.update(routed, published_version=version)
        return Applied(before=before, after=after, request_ids=self._taken())

    def end_canary(self, function: str, alias: str, version: str) -> Applied:
        """Take `version` out of the alias's routing, then delete it (best effort, see `discard_version`;
        `after["trial_version"]` says how that went). The version the alias serves stays (even one a
        deploy moved it to since), and so does $LATEST. Idempotent: when the alias no longer routes to
        `version`, the alias is not written, and a version already deleted is reported as such."""
        ended = self.remove_trial(function, alias, version)
        cleanup = self.discard_version(function, version, ended.after)
        swept = self.sweep_trials(function, keep=version)
        return Applied(
            before=ended.before,
            after={**ended.after, "trial_version": cleanup, **({"earlier_trials": swept} if swept else {})},
            request_ids=ended.request_ids + self._taken(),
        )

    def remove_trial(self, function: str, alias: str, version: str) -> Applied:
        """Take `version` out of the alias's routing and nothing else: the version the alias serves (even
        one a deploy moved it to since) and $LATEST stay. How a canary ends, concluded or rolled back.
        Idempotent: when the alias no longer routes to `version`, the alias is not written."""
        try:
            return self._unroute(function, alias, version)
        except RevisionMismatchError:  # the alias changed between reading and writing it: judge it afresh
            return self._unroute(function, alias, version)

    def undo_trial(self, function: str, alias: str, version: str, weight: float) -> Applied:
        """Take a canary's trial `version` out of the alias's routing, long after an undo of it failed,
        only while the alias routes exactly as the canary set it ({version: weight}; the version it
        serves may be a deploy's since). Routing someone changed since is theirs: it is not written, and
        `after["left_alone"]` says so. Routing that no longer names the version is not written either.
        Nor is a version not described as a trial (`after["not_trial"]`): a function deleted and created
        again under the same name numbers its versions from 1 again, and its team's own version of that
        number, routed at that weight, is theirs. The write is conditional on the alias as read (its
        RevisionId)."""
        return self._unroute(function, alias, version, only=weight)

    def trial_routed(self, function: str, routing: dict[str, float], memory_mb: int, weight: float) -> str:
        """The version in `routing` (an alias's, as read) that a canary at `memory_mb` for `weight` of the
        traffic published and routed, when the alias routes to it alone and at that weight: what an apply
        that stopped before recording anything left. "" for any other routing (someone's own shift is
        theirs), or when the version cannot be read (then nothing is taken out)."""
        if len(routing) != 1:
            return ""
        [(version, share)] = routing.items()
        if abs(share - weight) > 1e-9:
            return ""
        try:
            got = self.lam.get_function_configuration(FunctionName=function, Qualifier=version)
        except (ClientError, BotoCoreError):
            return ""
        ours = got.get("Description") == f"{TRIAL_DESCRIPTION} at {memory_mb} MB"
        return version if ours and got.get("MemorySize") == memory_mb else ""

    def sweep_trials(self, function: str, *, keep: str = "") -> list[dict[str, Any]]:
        """Delete the function's earlier canary trial versions that were left behind (their deletion was
        throttled or refused at the time): published versions described as TRIAL_DESCRIPTION that no
        alias serves or routes to, `keep` aside. Best effort, like `discard_version`: a failed listing
        sweeps nothing and a refused deletion is reported; returns what happened to each, for the audit."""
        try:
            versions = [
                v
                for page in self.lam.get_paginator("list_versions_by_function").paginate(
                    FunctionName=function
                )
                for v in page.get("Versions", [])
            ]
            aliases = [
                a
                for page in self.lam.get_paginator("list_aliases").paginate(FunctionName=function)
                for a in page.get("Aliases", [])
            ]
        except (ClientError, BotoCoreError):
            return []
        used = {str(a.get("FunctionVersion")) for a in aliases} | {v for a in aliases for v in _weights(a)}
        out = []
        for v in versions:
            number = str(v.get("Version", ""))
            if not number.isdigit() or number in used or number == keep:
                continue
            if not str(v.get("Description") or "").startswith(TRIAL_DESCRIPTION):
                continue  # not ours: someone's deployment, or a version a memory change published
            out.append(self._delete_version(function, number))
        return out

    def discard_version(
        self, function: str, version: str, alias_now: dict[str, Any], *, label: str = "trial version"
    ) -> dict[str, Any]:
        """Delete `version`, published for a canary that has ended, given `alias_now` (the alias's state
        once the canary is out: `alias`, `alias_version`, `alias_routing`). Only a published version
        number, never $LATEST or an unqualified delete, and never one that alias still serves or routes
        to. Best effort: Lambda refuses a version any alias references (ResourceConflictException) and a
        version may already be gone; neither, nor any other refusal, raises. Returns what happened:
        {"version", "deleted", "detail"}, for the audit (`label` names the version in `detail`)."""
        if not version.isdigit():  # $LATEST, an alias name or nothing: never delete those
            return trial_outcome(version, f"kept: {version!r} is not a published version number", label=label)
        serves = str(alias_now.get("alias_version"))
        if version == serves or version in _as_weights(alias_now.get("alias_routing")):
            kept = f"kept: alias {alias_now.get('alias')} still routes to it"
            return trial_outcome(version, kept, label=label)
        return self._delete_version(function, version, label=label)

    def discard_published(self, function: str, alias: str, version: str) -> dict[str, Any]:
        """Delete `version`, which a memory change behind `alias` published, once that change is undone:
        only a published version number, and never while `alias` serves or routes to it (as read now;
        Lambda refuses a version any other alias names). Best effort, as `discard_version`; returns what
        happened, for the audit."""
        alias_now: dict[str, Any] = {"alias": alias}
        if version.isdigit():  # anything else is kept by `discard_version` without a read
            try:
                alias_now = self._alias_now(function, alias)
            except GoneError:  # the alias was deleted: nothing of it routes there (the delete says if gone)
                pass
            except ApplyError as exc:
                return trial_outcome(version, f"kept: {exc}", label="version")
        return self.discard_version(function, version, alias_now, label="version")

    def _alias_now(self, function: str, alias: str) -> dict[str, Any]:
        """The alias as read now: `alias`, `alias_version`, `alias_routing`."""
        got = self._call("read the alias", self.lam.get_alias, FunctionName=function, Name=alias)
        return {"alias": alias, "alias_version": got["FunctionVersion"], "alias_routing": _weights(got)}

    def _delete_version(self, function: str, version: str, *, label: str = "trial version") -> dict[str, Any]:
        """DeleteFunction on one published version (qualified, never the function): best effort."""
        try:
            self._call(
                f"delete the {label}", self.lam.delete_function, FunctionName=function, Qualifier=version
            )
        except GoneError:  # a second conclusion, or someone else cleaned up: nothing left to do
            return trial_outcome(version, "already deleted", label=label)
        except ApplyError as exc:
            return trial_outcome(version, f"kept: {exc}", label=label)
        return trial_outcome(version, "deleted", deleted=True, label=label)

    def _undo_published(
        self, function: str, before: dict[str, Any], cause: ApplyError, version: str | None
    ) -> None:
        """Put back `before` after an apply failed (a canary, or a memory change behind an alias); then
        delete the version it had published, if it got that far. The error says how both went. The alias
        is put back only if it routes to that version: a failure before the alias took it left the alias
        as it was, and it may be someone else's by now (a deploy, a traffic shift), not ours to rewrite."""
        self._undo(before, cause, ours=version or "")
        if version is None:
            return
        detail = self.discard_undone(function, version, before, restored=cause.restored)["detail"]
        cause.args = (f"{cause.args[0]}; {detail}", *cause.args[1:])

    def discard_undone(
        self, function: str, version: str, alias_now: dict[str, Any], *, restored: bool
    ) -> dict[str, Any]:
        """`discard_version` for a change being undone: only once it is put back (`restored`); otherwise
        the alias may still route to the version, so it is kept (AWS would refuse anyway)."""
        if not restored:
            return trial_outcome(version, "kept: the previous configuration could not be put back")
        return self.discard_version(function, version, alias_now)

    def _a_trial(self, function: str, version: str) -> bool:
        """Whether published `version` is one a canary published (described as TRIAL_DESCRIPTION)."""
        got = self._call(
            "read the trial version",
            self.lam.get_function_configuration,
            FunctionName=function,
            Qualifier=version,
        )
        return str(got.get("Description") or "").startswith(TRIAL_DESCRIPTION)

    def _unroute(self, function: str, alias: str, version: str, *, only: float | None = None) -> Applied:
        """Take `version` out of the alias's routing, as read now. `only`: only while the alias routes to
        `version` alone at that weight; other routing is not written (`after["left_alone"]`)."""
        got = self._call("read the alias", self.lam.get_alias, FunctionName=function, Name=alias)
        routing = _weights(got)
        before = {
            "kind": "alias",
            "function": function,
            "alias": alias,
            "alias_version": got["FunctionVersion"],
            "alias_routing": routing,
        }
        if version not in routing:
            return Applied(before=before, after=before, request_ids=self._taken())
        if only is not None and (set(routing) != {version} or abs(routing[version] - only) > 1e-9):
            return Applied(before=before, after={**before, "left_alone": True}, request_ids=self._taken())
        if only is not None and not self._a_trial(function, version):
            after = {**before, "left_alone": True, "not_trial": True}
            return Applied(before=before, after=after, request_ids=self._taken())
        remaining = {k: w for k, w in routing.items() if k != version}
        routed = self._route(function, alias, str(got["FunctionVersion"]), remaining, got.get("RevisionId"))
        return Applied(before=before, after={**before, **routed}, request_ids=self._taken())

    def _before(self, function: str, revision_id: str | None, alias: str | None) -> dict[str, Any]:
        """What a memory change must put back, after checking the proposal still applies."""
        cfg = self._call("read the function", self.lam.get_function_configuration, FunctionName=function)
        if revision_id and cfg.get("RevisionId") and cfg["RevisionId"] != revision_id:
            raise RevisionMismatchError("the function was changed (deployed) after the proposal was made")
        before: dict[str, Any] = {
            "kind": "memory",
            "function": function,
            "memory_mb": cfg["MemorySize"],
            "code_sha256": cfg.get("CodeSha256"),
        }
        if alias:
            before.update(self._alias_before(function, alias, cfg))
        return before

    def _change_memory(
        self, function: str, memory_mb: int, revision_id: str | None, before: dict[str, Any]
    ) -> None:
        try:
            self._set_memory(function, memory_mb, revision_id)
        except (RevisionMismatchError, ConflictError, ThrottledError):
            raise  # the update itself was refused: nothing changed, nothing to undo
        except ApplyError as exc:  # a 5xx may still have applied the update: put `before` back regardless
            self._undo(before, exc, ours="")  # the alias is not touched before this step
            raise

    def _alias_before(self, function: str, alias: str, latest: dict[str, Any]) -> dict[str, Any]:
        got = self._call("read the alias", self.lam.get_alias, FunctionName=function, Name=alias)
        version = got["FunctionVersion"]
        served = self._call(
            "read the alias version",
            self.lam.get_function_configuration,
            FunctionName=function,
            Qualifier=version,
        )
        differs = [k for k, read in _RELEASED.items() if read(served) != read(latest)]
        if version != "$LATEST" and differs:
            raise CodeMismatchError(
                f"alias {alias} serves version {version}, whose {', '.join(differs)} differ(s) from $LATEST: "
                "publishing a new version would ship unreleased code or settings, so this change is a "
                "recommendation only"
            )
        return {
            "alias": alias,
            "alias_version": version,
            "alias_routing": _weights(got),
            "alias_revision": got.get("RevisionId"),
        }

    def _set_memory(self, function: str, memory_mb: int, revision_id: str | None) -> None:
        kwargs: dict[str, Any] = {"FunctionName": function, "MemorySize": memory_mb}
        if revision_id:
            kwargs["RevisionId"] = revision_id
        self._call("update the memory", self.lam.update_function_configuration, **kwargs)
        self._wait_updated(function)

    def _wait_updated(self, function: str, *, undo: bool = False) -> None:
        waiter = self.lam.get_waiter("function_updated_v2")
        try:
            waiter.wait(
                FunctionName=function,
                WaiterConfig={"Delay": max(int(self.poll_delay_s), 1), "MaxAttempts": self.polls(undo=undo)},
            )
        except Exception as exc:
            raise UpdateFailedError(f"the update did not finish successfully: {exc}") from exc

    def _settle(self, function: str) -> None:
        """Let an update in flight finish before restoring (else the restore meets a conflict)."""
        # A failed update leaves the function writable: restoring is exactly what is needed then.
        with contextlib.suppress(UpdateFailedError):
            self._wait_updated(function, undo=True)

    def _publish(self, function: str, before: dict[str, Any], description: str | None = None) -> str:
        """Publish $LATEST with the code checked in `before` (a deploy since is refused by the code hash)
        and its revision now (the one our own memory update left)."""
        latest = self._call("read the function", self.lam.get_function_configuration, FunctionName=function)
        code = before.get("code_sha256") or latest["CodeSha256"]
        publish: dict[str, Any] = {"FunctionName": function, "CodeSha256": code}
        if latest.get("RevisionId"):
            publish["RevisionId"] = latest["RevisionId"]
        if description:
            publish["Description"] = description
        return str(self._call("publish a version", self.lam.publish_version, **publish)["Version"])

    def _route_as_read(
        self, function: str, alias: str, serve: str, weights: dict[str, float], before: dict[str, Any]
    ) -> dict[str, Any]:
        """`_route` only if the alias is still as `before` read it (its RevisionId): a deploy or another
        tool's traffic shift since then is refused, and the change undone, never overwritten."""
        return self._route(function, alias, serve, weights, before.get("alias_revision"))

    def _route(
        self, function: str, alias: str, version: str, routing: dict[str, float], revision: str | None
    ) -> dict[str, Any]:
        """Point the alias at `version` with `routing`, if it is still at `revision`."""
        kwargs: dict[str, Any] = {
            "FunctionName": function,
            "Name": alias,
            "FunctionVersion": version,
            "RoutingConfig": {"AdditionalVersionWeights": routing},
        }
        if revision:
            kwargs["RevisionId"] = revision
        self._call("move the alias", self.lam.update_alias, **kwargs)
        return {"alias": alias, "alias_version": version, "alias_routing": routing}

    # ---------------------------------------------------------------- putting things back

    def restore(
        self,
        before: dict[str, Any],
        *,
        ours: str | None = None,
        settled: bool = True,
        set_mb: int | None = None,
    ) -> Applied:
        """Put back a configuration recorded as `before` by one of the apply methods. `ours`: the version
        the change published; its alias is then put back only while it still serves or routes to that
        version (a deploy since keeps the alias; "" leaves the alias alone). None: put it back as well.
        `settled`: the change has stood a while (a rollback, a revert), so someone else's scaling may have
        come onto its PC since; False for the undo of a change that failed just now. `set_mb`: the memory
        the agent's change set; a size neither that nor `before`'s (a deploy set it since) is left, and
        `after["memory_left"]` says so; `after["memory_found"]` is the size read in force then."""
        kind, function = before.get("kind"), before["function"]
        left: list[str] = []
        kept: dict[str, Any] = {}
        if kind == "memory":
            self._settle(function)
            now_mb = self._memory_now(function) if set_mb is not None and before.get("memory_mb") else None
            if now_mb is not None:
                kept["memory_found"] = now_mb
            if now_mb is not None and now_mb not in (set_mb, int(before["memory_mb"])):
                kept["memory_left"] = now_mb
            elif before.get("memory_mb"):
                self._call(
                    "restore the memory",
                    self.lam.update_function_configuration,
                    FunctionName=function,
                    MemorySize=int(before["memory_mb"]),
                )
                self._wait_updated(function, undo=True)
            if before.get("alias") and (ours is None or self.routes_to(function, before["alias"], ours)):
                routing = _as_weights(before.get("alias_routing"))
                self._call(
                    "restore the alias",
                    self.lam.update_alias,
                    FunctionName=function,
                    Name=before["alias"],
                    FunctionVersion=before["alias_version"],
                    RoutingConfig={"AdditionalVersionWeights": routing},
                )
        elif kind == "pc":
            left = self._restore_pc(before, settled=settled)
        elif kind == "pc_schedule":
            left = self._restore_schedule(before, settled=settled)
        else:
            raise ApplyError(
                f"cannot restore an unknown kind of change: {json.dumps(before)[:200]}", restored=False
            )
        # Someone else's scaling came onto the PC since: only the agent's schedule came off
        after = {**before, "actions": [], "left_to": left} if left else before
        return Applied(before=before, after={**after, **kept}, request_ids=self._taken())

    def _memory_now(self, function: str) -> int | None:
        got = self._call("read the function", self.lam.get_function_configuration, FunctionName=function)
        return int(got["MemorySize"]) if got.get("MemorySize") else None

    def routes_to(self, function: str, alias: str, version: str) -> bool:
        """Whether `alias` serves or routes part of its traffic to `version`."""
        if not version:
            return False
        got = self._call("read the alias", self.lam.get_alias, FunctionName=function, Name=alias)
        return version == str(got.get("FunctionVersion")) or version in _weights(got)

    def _undo(self, before: dict[str, Any], cause: ApplyError, *, ours: str | None = None) -> None:
        """Put back `before` (`ours`: as in `restore`). If the restore call fails but the function already
        reads as `before` (the failed update never landed), it is restored all the same; otherwise flag
        it for a person."""
        try:
            self.restore(before, ours=ours, settled=False)
        except ApplyError as exc:
            if self._reads_as(before):
                return
            if isinstance(exc, GoneError) and self.function_gone(str(before.get("function") or "")):
                # deleted mid-change (its versions, aliases and PC with it): nothing is left to put back
                cause.args = (f"{cause.args[0]}; the function no longer exists: nothing to put back",)
                return
            cause.restored = False
            cause.args = (f"{cause.args[0]}; restoring the previous configuration failed too: {exc}",)

    def function_gone(self, function: str) -> bool:
        """Whether Lambda says the function itself does not exist (not just an alias or version of it)."""
        if not function:
            return False
        try:
            self.lam.get_function_configuration(FunctionName=function)
        except ClientError as exc:
            return bool(exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException")
        except BotoCoreError:
            return False
        return False

    def _reads_as(self, before: dict[str, Any]) -> bool:
        if before.get("kind") != "memory" or before.get("alias"):
            return False  # only a plain memory change can be confirmed with one read
        try:
            got = self.lam.get_function_configuration(FunctionName=before["function"])
        except (ClientError, BotoCoreError):
            return False
        return bool(got.get("MemorySize") == before.get("memory_mb"))


def _refuse_split(alias: str, before: dict[str, Any]) -> None:
    if before["alias_routing"]:
        raise ConflictError(
            f"alias {alias} already splits its traffic {before['alias_routing']}: another deployment or "
            "experiment is in progress"
        )


def _env(config: dict[str, Any]) -> Any:
    return (config.get("Environment") or {}).get("Variables") or {}


# What a version ships besides its memory: a new version published from $LATEST must match the version the
# alias serves in all of these, or it would release someone's unpublished work.
_RELEASED: dict[str, Callable[[dict[str, Any]], Any]] = {
    "code": lambda c: c.get("CodeSha256"),
    "handler": lambda c: c.get("Handler"),
    "runtime": lambda c: c.get("Runtime"),
    "timeout": lambda c: c.get("Timeout"),
    "environment": _env,
    "layers": lambda c: [layer.get("Arn") for layer in c.get("Layers") or []],
    "architecture": lambda c: c.get("Architectures") or ["x86_64"],
    "ephemeral storage": lambda c: (c.get("EphemeralStorage") or {}).get("Size", 512),
}


def trial_outcome(
    version: str, what: str, *, deleted: bool = False, label: str = "trial version"
) -> dict[str, Any]:
    """What became of a canary's trial version (or, `label` "version", of the version a memory change
    published), as the audit records it."""
    return {"version": version, "deleted": deleted, "detail": f"{label} {version} {what}"}


def _weights(alias: dict[str, Any]) -> dict[str, float]:
    """An alias's routing weights, from a GetAlias answer."""
    return _as_weights((alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights"))


def _as_weights(raw: Any) -> dict[str, float]:
    return {str(k): float(v) for k, v in (raw or {}).items()}
