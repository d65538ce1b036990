"""Lambda Invoke of handlers registered with `Twin.register_handler`, run in-process.

RequestResponse returns the handler's result as the payload (an exception becomes a 200 with
`X-Amz-Function-Error: Unhandled`, like AWS). Event runs the handler before answering 202, so when the
caller's invoke returns, the side effects are visible (deterministic tests). As Lambda does with an
asynchronous invocation whose function fails, it runs the same event again, up to `ASYNC_RETRIES` more
times (Lambda's default `MaximumRetryAttempts`; it waits a minute or two first, the twin's clock does not
move); an event that failed every attempt is recorded in `Twin.async_failures` instead of being lost
silently. CloudWatch alarm actions are asynchronous invocations too (`run_async`). Functions without a
handler go to moto.
"""

from __future__ import annotations

import json
import traceback
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lambda_tuner.twin.faults import function_of, qualifier_of
from lambda_tuner.twin.lambda_api import backend, lambda_error
from lambda_tuner.twin.wire import Call, Reply

if TYPE_CHECKING:
    from lambda_tuner.twin.server import Twin


@dataclass
class LambdaContext:
    """The attributes of AWS's context object that handlers and Powertools read."""

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    timeout_s: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = "2024/01/01/[$LATEST]twin"

    def get_remaining_time_in_millis(self) -> int:
        # Simulated time does not pass while a handler runs, so the full timeout remains.
        return self.timeout_s * 1000


def context_for(twin: Twin, name: str, qualifier: str | None) -> LambdaContext:
    """The context AWS would pass; a handler registered for a function moto does not hold still runs."""
    arn = f"arn:aws:lambda:{twin.region}:{twin.account}:function:{name}"
    version, memory, timeout = "$LATEST", 128, 900
    if _exists(twin, name, qualifier):
        fn = backend(twin).get_function(name, qualifier)
        version, memory, timeout = str(fn.version), int(fn.memory_size), int(fn.timeout)
    meta = twin.lambdas.latest.get(name)
    return LambdaContext(
        function_name=name,
        function_version=version,
        invoked_function_arn=f"{arn}:{qualifier}" if qualifier else arn,
        memory_limit_in_mb=memory,
        timeout_s=timeout,
        log_group_name=(meta.logging.get("LogGroup") if meta else None) or f"/aws/lambda/{name}",
        log_stream_name=f"{twin.world.now:%Y/%m/%d}/[{version}]twin",
    )


def _exists(twin: Twin, name: str, qualifier: str | None) -> bool:
    try:
        backend(twin).get_function(name, qualifier)
    except Exception:  # noqa: BLE001 - moto's UnknownFunction/ResourceNotFound: the function is not in moto
        return False
    return True


def run_handler(twin: Twin, name: str, event: Any, qualifier: str | None = None) -> tuple[Any, bool]:
    """(result, failed) of the registered handler; an exception becomes AWS's error payload."""
    context = context_for(twin, name, qualifier)
    try:
        return twin.handlers[name](event, context), False
    except Exception as exc:  # noqa: BLE001 - a function error is data for the caller, as in AWS
        return {
            "errorMessage": str(exc),
            "errorType": type(exc).__name__,
            "stackTrace": traceback.format_exception(exc),
        }, True


ASYNC_RETRIES = 2  # Lambda's default MaximumRetryAttempts for asynchronous invocations


def run_async(twin: Twin, name: str, event: Any, qualifier: str | None = None) -> None:
    """An asynchronous invocation: the handler, then Lambda's retries of the same event while it fails;
    the last error is recorded in `Twin.async_failures` when every attempt failed."""
    for _ in range(1 + ASYNC_RETRIES):
        result, failed = run_handler(twin, name, event, qualifier)
        if not failed:
            return
    twin.async_failures.append((name, result))


def invoke(twin: Twin, call: Call) -> Reply:
    name = function_of(call) or ""
    if name not in twin.handlers:
        return call.forward()
    qualifier = qualifier_of(call)
    try:
        event = json.loads(call.body) if call.body.strip() else {}
    except json.JSONDecodeError:
        return lambda_error(400, "InvalidRequestContentException", "Could not parse request body into json")
    kind = call.header("X-Amz-Invocation-Type") or "RequestResponse"
    if kind == "DryRun":
        return Reply(204, [("Content-Length", "0")], b"")
    version = context_for(twin, name, qualifier).function_version
    if kind == "Event":
        run_async(twin, name, event, qualifier)
        return Reply(202, [("Content-Length", "0"), ("X-Amz-Executed-Version", version)], b"")
    result, failed = run_handler(twin, name, event, qualifier)
    reply = Reply.of_json(result)
    reply.headers.append(("X-Amz-Executed-Version", version))
    if failed:
        reply.headers.append(("X-Amz-Function-Error", "Unhandled"))
    return reply


ROUTES = {"lambda.Invoke": invoke}
