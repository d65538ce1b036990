"""Lambda versions and aliases: publishing snapshots $LATEST, aliases carry revisions, the World follows.

moto publishes and stores aliases; the twin adds AWS's preconditions (RevisionId, CodeSha256), keeps each
version's snapshot of what moto lacks, and moves the World: a new version runs at the memory it was
published with, an alias change re-routes the alias's traffic from that moment.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import TYPE_CHECKING

from lambda_tuner.twin.faults import function_of
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
        reply = call.forward()
        if reply.status not in (200, 201):
            return reply
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


ROUTES = {
    "lambda.PublishVersion": publish_version,
    "lambda.CreateAlias": change_alias,
    "lambda.UpdateAlias": change_alias,
}
