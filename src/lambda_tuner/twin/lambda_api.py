"""Lambda (rest-json) where moto falls short of AWS: List paging, RevisionId, LastModified, LoggingConfig.

moto keeps the functions, versions, aliases and tags; `LambdaState` keeps what moto lacks (revision ids,
simulated LastModified, logging config, provisioned-concurrency configs), and configuration changes reach
the World (memory here; versions and aliases in `lambda_versions`, PC in `lambda_pc`, Invoke in
`lambda_invoke`).
"""

from __future__ import annotations

import base64
import binascii
import copy
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from moto.awslambda.exceptions import UnknownFunctionException
from moto.awslambda.models import LambdaFunction
from moto.awslambda.utils import get_backend

from lambda_tuner.twin.faults import function_of
from lambda_tuner.twin.wire import Call, Reply, with_json

if TYPE_CHECKING:
    from lambda_tuner.twin.lambda_pc import PcConfig
    from lambda_tuner.twin.server import Twin

PAGE_LIMIT = 50  # AWS returns at most 50 items per List* page whatever MaxItems says


@dataclass
class Meta:
    """What moto does not keep about one function version."""

    revision: str
    last_modified: str
    logging: dict[str, str]
    snapstart: str = "None"
    ephemeral_mb: int = 512


@dataclass
class LambdaState:
    latest: dict[str, Meta] = field(default_factory=dict)  # function name -> $LATEST meta
    versions: dict[tuple[str, str], Meta] = field(default_factory=dict)  # (name, version) -> snapshot
    published_from: dict[str, str] = field(default_factory=dict)  # name -> $LATEST revision last published
    pc: dict[tuple[str, str], PcConfig] = field(default_factory=dict)


def backend(twin: Twin) -> Any:
    """The backend moto's server uses (with use_docker false that is moto's `awslambda_simple`)."""
    return get_backend(twin.account, twin.region)


def new_revision() -> str:
    return str(uuid.uuid4())


def timestamp(twin: Twin) -> str:
    """AWS's LastModified format, in simulated time (so drift detection follows the twin's clock)."""
    return twin.world.now.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def lambda_error(status: int, code: str, message: str) -> Reply:
    reply = Reply.of_json({"Type": "User", "message": message}, status)
    reply.headers.append(("x-amzn-ErrorType", code))
    return reply


def not_found(name: str) -> Reply:
    return lambda_error(404, "ResourceNotFoundException", f"Function not found: {name}")


def page(call: Call, items: list[Any]) -> tuple[list[Any], str | None] | Reply:
    """One page of `items` for Marker/MaxItems, or an AWS-shaped error for a bad marker or size."""
    raw_max, marker_in = call.query("MaxItems"), call.query("Marker")
    try:
        size = min(int(raw_max), PAGE_LIMIT) if raw_max else PAGE_LIMIT
        start = int(base64.b64decode(marker_in, validate=True).decode()) if marker_in else 0
    except (ValueError, binascii.Error):
        return lambda_error(400, "InvalidParameterValueException", "Invalid Marker or MaxItems")
    if size < 1 or start < 0:
        return lambda_error(400, "InvalidParameterValueException", "MaxItems must be >= 1 and Marker valid")
    end = start + size
    marker = base64.b64encode(str(end).encode()).decode() if end < len(items) else None
    return items[start:end], marker


def paged(call: Call, key: str, items: list[Any], render: Callable[[Any], Any] = lambda item: item) -> Reply:
    """One List* page; `render` runs only on the page's items (10,000 functions must not cost 10,000 each)."""
    result = page(call, items)
    if isinstance(result, Reply):
        return result
    chunk, marker = result
    payload: dict[str, Any] = {key: [render(item) for item in chunk]}
    if marker:
        payload["NextMarker"] = marker
    return Reply.of_json(payload)


def overlay(twin: Twin, config: dict[str, Any]) -> dict[str, Any]:
    """moto's configuration dict with the fields moto lacks, as AWS returns them."""
    name, version = config["FunctionName"], str(config.get("Version", "$LATEST"))
    meta = (
        twin.lambdas.latest.get(name) if version == "$LATEST" else twin.lambdas.versions.get((name, version))
    )
    if meta is None:
        return config
    out = dict(config)
    out.update(
        RevisionId=meta.revision,
        LastModified=meta.last_modified,
        LoggingConfig=dict(meta.logging),
        EphemeralStorage={"Size": meta.ephemeral_mb},
        SnapStart={
            "ApplyOn": meta.snapstart,
            # SnapStart optimises published versions only; $LATEST always reports Off
            "OptimizationStatus": "On" if meta.snapstart != "None" and version != "$LATEST" else "Off",
        },
        LastUpdateStatus="Successful",
        State="Active",
    )
    for empty in ("KMSKeyArn", "SigningProfileVersionArn", "SigningJobArn"):
        if out.get(empty) is None:
            out.pop(empty, None)
    return out


def config_of(twin: Twin, fn: LambdaFunction) -> dict[str, Any]:
    return overlay(twin, fn.get_configuration())


# ---------------------------------------------------------------- list operations


def list_functions(twin: Twin, call: Call) -> Reply:
    with twin.lock:
        version = call.query("FunctionVersion")
        functions = all_versions(twin) if version == "ALL" else backend(twin).list_functions(version)
        # AWS lists in name order; without versions a plain name sort is 5x cheaper at 10,000 functions
        functions = sorted(functions, key=_order) if version == "ALL" else sorted(functions, key=_name)
        return paged(call, "Functions", functions, lambda fn: config_of(twin, fn))


def all_versions(twin: Twin) -> list[LambdaFunction]:
    """Every function's $LATEST (with its qualified ARN) and published versions. moto's own listing
    deep-copies each function (~30 ms: 30 s a page at 1,000 functions) only to give the copy that ARN; a
    shallow copy gives the same answer."""
    out: list[LambdaFunction] = []
    for group in list(backend(twin)._lambdas._functions.values()):
        latest = copy.copy(group["latest"])
        latest.function_arn = f"{latest.function_arn}:$LATEST"
        out.append(latest)
        out.extend(group["versions"])
    return out


def _name(fn: LambdaFunction) -> str:
    return str(fn.function_name)


def _order(fn: LambdaFunction) -> tuple[str, int]:
    version = str(fn.version)
    return fn.function_name, 0 if version == "$LATEST" else int(version)


def _in_moto(twin: Twin, name: str) -> bool:
    """Whether moto has the function (one made outside the twin's own CreateFunction): moto lists a
    function it does not have as having no versions, where AWS answers ResourceNotFoundException."""
    try:
        backend(twin).get_function(name)
    except UnknownFunctionException:
        return False
    return True


def list_versions(twin: Twin, call: Call) -> Reply:
    name = function_of(call) or ""
    with twin.lock:
        if name not in twin.lambdas.latest:
            return call.forward() if _in_moto(twin, name) else not_found(name)
        fns = [backend(twin).get_function(name), *backend(twin).list_versions_by_function(name)]
        unique = {str(fn.version): fn for fn in fns}.values()
        return paged(call, "Versions", sorted(unique, key=_order), lambda fn: config_of(twin, fn))


def list_aliases(twin: Twin, call: Call) -> Reply:
    name = function_of(call) or ""
    with twin.lock:
        if name not in twin.lambdas.latest:
            return call.forward() if _in_moto(twin, name) else not_found(name)
        wanted = call.query("FunctionVersion")
        aliases = [a.to_json() for a in backend(twin).list_aliases(name)]
        aliases = [a for a in aliases if wanted is None or a["FunctionVersion"] == wanted]
        return paged(call, "Aliases", sorted(aliases, key=lambda a: str(a["Name"])))


# ---------------------------------------------------------------- read and change one function


def get_function(twin: Twin, call: Call) -> Reply:
    reply = call.forward()
    if reply.status != 200:
        return reply
    payload = reply.json()
    with twin.lock:
        if "Configuration" in payload:
            payload["Configuration"] = overlay(twin, payload["Configuration"])
        else:
            payload = overlay(twin, payload)
    return with_json(reply, payload)


def update_configuration(twin: Twin, call: Call) -> Reply:
    name, body = function_of(call) or "", call.json()
    with twin.lock:
        meta = twin.lambdas.latest.get(name)
        if meta is None:
            return not_found(name)
        refused = check_revision(body.get("RevisionId"), meta.revision) or _check_limits(body)
        if refused is not None:
            return refused
        reply = call.forward()
        if reply.status != 200:
            return reply
        meta.revision, meta.last_modified = new_revision(), timestamp(twin)
        meta.logging.update({k: v for k, v in body.get("LoggingConfig", {}).items() if v})
        meta.ephemeral_mb = int(body.get("EphemeralStorage", {}).get("Size", meta.ephemeral_mb))
        meta.snapstart = str(body.get("SnapStart", {}).get("ApplyOn", meta.snapstart))
        if "MemorySize" in body and simulated(twin, name):
            twin.world.set_memory(name, int(body["MemorySize"]), at=twin.world.now)
        return with_json(reply, overlay(twin, reply.json()))


def update_code(twin: Twin, call: Call) -> Reply:
    name = function_of(call) or ""
    with twin.lock:
        meta = twin.lambdas.latest.get(name)
        if meta is None:
            return not_found(name)
        refused = check_revision(call.json().get("RevisionId"), meta.revision)
        if refused is not None:
            return refused
        reply = call.forward()
        if reply.status == 200:
            meta.revision, meta.last_modified = new_revision(), timestamp(twin)
            reply = with_json(reply, overlay(twin, reply.json()))
        return reply


def check_revision(given: str | None, current: str) -> Reply | None:
    if given and given != current:
        return lambda_error(
            412,
            "PreconditionFailedException",
            "The Revision Id provided does not match the latest Revision Id. "
            "Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
        )
    return None


def _check_limits(body: dict[str, Any]) -> Reply | None:
    memory = body.get("MemorySize")
    if memory is not None and not 128 <= int(memory) <= 10240:
        return lambda_error(
            400, "InvalidParameterValueException", f"MemorySize {memory} is outside [128, 10240] MB"
        )
    timeout = body.get("Timeout")
    if timeout is not None and not 1 <= int(timeout) <= 900:
        return lambda_error(400, "InvalidParameterValueException", f"Timeout {timeout} is outside [1, 900] s")
    return None


def create_function(twin: Twin, call: Call) -> Reply:
    """Functions created over the API (e.g. the agent's own) get AWS's extra fields; not simulated."""
    reply = call.forward()
    if reply.status not in (200, 201):
        return reply
    config, body = reply.json(), call.json()
    name = str(config["FunctionName"])
    logging = {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}"}
    logging.update({k: str(v) for k, v in (body.get("LoggingConfig") or {}).items()})
    with twin.lock:
        twin.lambdas.latest[name] = Meta(
            new_revision(),
            timestamp(twin),
            logging,
            str((body.get("SnapStart") or {}).get("ApplyOn", "None")),
            int((body.get("EphemeralStorage") or {}).get("Size", 512)),
        )
        return with_json(reply, overlay(twin, config))


def simulated(twin: Twin, name: str) -> bool:
    """Whether the World simulates `name` (functions created over the API have no ground truth)."""
    return name in twin.world.specs


ROUTES = {
    "lambda.CreateFunction": create_function,
    "lambda.ListFunctions": list_functions,
    "lambda.ListVersionsByFunction": list_versions,
    "lambda.ListAliases": list_aliases,
    "lambda.GetFunction": get_function,
    "lambda.GetFunctionConfiguration": get_function,
    "lambda.UpdateFunctionConfiguration": update_configuration,
    "lambda.UpdateFunctionCode": update_code,
}
