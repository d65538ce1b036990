"""Lambda versions and aliases: publishing snapshots $LATEST, aliases carry revisions, the World follows.

moto publishes and stores aliases; the twin adds AWS's preconditions (RevisionId, CodeSha256), keeps each
version's snapshot of what moto lacks, and moves the World: a new version runs at the memory it was
published with, an alias change re-routes the alias's traffic from that moment.

Deleting a version (DeleteFunction with a Qualifier) is refused as AWS refuses it: $LATEST or an alias
name (400), a version any alias serves or routes a weight to (409 ResourceConflictException, naming the
aliases), a version that does not exist (404). moto checks none of that, and numbers a new version
len(versions) + 1, which after a deletion would reuse a number: AWS never does, and neither does the twin.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from lambda_tuner.twin.faults import function_of, qualifier_of
from lambda_tuner.twin.lambda_api import (
    backend,
    check_revision,
    lambda_error,
    new_revision,
    not_found,
    overlay,
    simulated,
)
from lambda_tuner.twin.wire import Call, Reply, with_json

if TYPE_CHECKING:
    from lambda_tuner.twin.server import Twin


def publish_version(twin: Twin, call: Call) -> Reply:
    name, body = function_of(call) or "", call.json()
    with twin.lock:
        meta = twin.lambdas.latest.get(name)
        if meta is None:
            return not_found(name)
        refused = check_revision(body.get("RevisionId"), meta.revision)
        latest_sha = backend(twin).get_function(name).code_sha_256
        if refused is None and body.get("CodeSha256") and body["CodeSha256"] != latest_sha:
            refused = lambda_error(
                400,
                "InvalidParameterValueException",
                f"CodeSha256 ({body['CodeSha256']}) is different from current CodeSha256 in $LATEST "
                f"({latest_sha}). Please try again with the CodeSha256 in $LATEST.",
            )
        if refused is not None:
            return refused
        if twin.lambdas.published_from.get(name) != meta.revision:
            # moto publishes only after a change it saw; the twin also counts logging/snapstart changes
            backend(twin).get_function(name).code_or_config_updated = True
        published = len(_group(twin, name)["versions"])
        reply = call.forward()
        if reply.status not in (200, 201):
            return reply
        if len(_group(twin, name)["versions"]) > published:  # a new version, not the unchanged last one
            reply = _number_afresh(twin, name, reply)
        version = str(reply.json()["Version"])
        if (name, version) not in twin.lambdas.versions:
            twin.lambdas.versions[name, version] = replace(copy.deepcopy(meta), revision=new_revision())
            if simulated(twin, name):
                twin.world.set_memory(
                    name, int(reply.json()["MemorySize"]), at=twin.world.now, qualifier=version
                )
        twin.lambdas.published_from[name] = meta.revision
        return with_json(reply, overlay(twin, reply.json()))


def change_alias(twin: Twin, call: Call) -> Reply:
    name, body = function_of(call) or "", call.json()
    alias_name = str(call.uri_params.get("Name") or body.get("Name") or "")
    with twin.lock:
        if call.operation == "UpdateAlias":
            try:
                alias = backend(twin).get_alias(alias_name, name)
            except Exception:  # noqa: BLE001 - moto's own 404 is the right answer
                return call.forward()
            refused = check_revision(body.get("RevisionId"), alias.revision_id)
            if refused is not None:
                return refused
        reply = call.forward()
        if reply.status not in (200, 201):
            return reply
        alias = backend(twin).get_alias(alias_name, name)
        alias.revision_id = new_revision()
        weights = (alias.routing_config or {}).get("AdditionalVersionWeights", {})
        if simulated(twin, name):
            twin.world.point_alias(
                name,
                alias_name,
                str(alias.function_version),
                {str(k): float(v) for k, v in weights.items()},
                at=twin.world.now,
            )
        return with_json(reply, alias.to_json())


def delete_function(twin: Twin, call: Call) -> Reply:
    """A whole function goes as moto deletes it; a version only once AWS would let it go."""
    name, qualifier = function_of(call) or "", qualifier_of(call)
    if qualifier is None:
        reply = call.forward()
        if reply.status in (200, 204):
            with twin.lock:
                _forget(twin, name)
        return reply
    with twin.lock:
        if name not in _functions(twin):
            return not_found(name)
        refused = _refusal(twin, name, qualifier)
        if refused is not None:
            return refused
        group = _group(twin, name)
        # the highest number ever published, so the next version does not take the deleted one's
        group[HIGHEST] = max(int(group.get(HIGHEST, 0)), *(int(fn.version) for fn in group["versions"]))
        newest = str(group["versions"][-1].version)
        gone = next(fn for fn in group["versions"] if str(fn.version) == qualifier)
        reply = call.forward()
        if reply.status not in (200, 204):
            return reply
        backend(twin)._lambdas._arns.pop(gone.function_arn, None)  # moto forgets only the list entry
        twin.lambdas.versions.pop((name, qualifier), None)
        if qualifier == newest:  # the next publish is new even if $LATEST is unchanged since this one
            twin.lambdas.published_from.pop(name, None)
        pc = twin.lambdas.pc.pop((name, qualifier), None)
        if pc is not None and pc.status == "READY" and simulated(twin, name):
            twin.world.set_pc(name, qualifier, 0, at=twin.world.now)
        # The World keeps the version's memory history: it describes the calls the version ran before
        # today, and no alias routes to it any more, so it runs none from now on.
        return reply


def _forget(twin: Twin, name: str) -> None:
    """A deleted function's bookkeeping goes with it: its later reads (ListAliases, the PC configs, ...)
    answer ResourceNotFoundException, as AWS's do, not an error from moto's missing function. Its PC stops
    serving calls; the World keeps what it ran before."""
    twin.lambdas.latest.pop(name, None)
    twin.lambdas.published_from.pop(name, None)
    for key in [k for k in twin.lambdas.versions if k[0] == name]:
        del twin.lambdas.versions[key]
    for key in [k for k in twin.lambdas.pc if k[0] == name]:
        pc = twin.lambdas.pc.pop(key)
        if pc.status == "READY" and simulated(twin, name):
            twin.world.set_pc(name, key[1], 0, at=twin.world.now)


def _refusal(twin: Twin, name: str, qualifier: str) -> Reply | None:
    if qualifier == "$LATEST":
        return lambda_error(
            400,
            "InvalidParameterValueException",
            "$LATEST version cannot be deleted without deleting all versions and aliases.",
        )
    if not qualifier.isdigit():  # moto would delete the version the alias points at
        return lambda_error(
            400, "InvalidParameterValueException", "Deletion of aliases is not currently supported."
        )
    if not any(str(fn.version) == qualifier for fn in _group(twin, name)["versions"]):
        arn = backend(twin).get_function(name).function_arn
        return lambda_error(404, "ResourceNotFoundException", f"Function not found: {arn}:{qualifier}")
    using = sorted(
        str(a.name)
        for a in backend(twin).list_aliases(name)
        if str(a.function_version) == qualifier
        or qualifier in {str(k) for k in ((a.routing_config or {}).get("AdditionalVersionWeights") or {})}
    )
    if using:
        return lambda_error(
            409,
            "ResourceConflictException",
            f"Unable to delete version because the following aliases reference it: [{', '.join(using)}]",
        )
    return None


HIGHEST = "lt_highest_version"  # kept in moto's own record of the function, so it lives and dies with it


def _functions(twin: Twin) -> dict[str, dict[str, Any]]:
    return backend(twin)._lambdas._functions  # type: ignore[no-any-return]


def _group(twin: Twin, name: str) -> dict[str, Any]:
    """moto's record of one function: {"latest": ..., "versions": [...]} (plus the twin's HIGHEST)."""
    return _functions(twin)[name]


def _number_afresh(twin: Twin, name: str, reply: Reply) -> Reply:
    """Give a version moto just published a number no version of the function ever had."""
    group = _group(twin, name)
    highest, fn = int(group.get(HIGHEST, 0)), group["versions"][-1]
    if int(fn.version) > highest:
        return reply
    arns, old_arn = backend(twin)._lambdas._arns, fn.function_arn
    fn.set_version(highest + 1)
    arns[fn.function_arn] = fn
    # the number moto chose may still belong to an older version, whose ARN entry moto overwrote
    owner = next((v for v in group["versions"] if v is not fn and v.function_arn == old_arn), None)
    if owner is not None:
        arns[old_arn] = owner
    else:
        arns.pop(old_arn, None)
    group[HIGHEST] = highest + 1
    return with_json(reply, {**reply.json(), "Version": str(fn.version), "FunctionArn": fn.function_arn})


ROUTES = {
    "lambda.DeleteFunction": delete_function,
    "lambda.PublishVersion": publish_version,
    "lambda.CreateAlias": change_alias,
    "lambda.UpdateAlias": change_alias,
}
