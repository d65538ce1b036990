"""Invoke runs registered handlers in-process; a Function URL maps HTTP to payload format 2.0 and back."""

from __future__ import annotations

import base64
import json
import urllib.request
from typing import Any
from urllib.parse import parse_qs

from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver
from server_support import client

from lambda_tuner.twin.server import Twin


class Recorder:
    """A handler that remembers what it was called with and answers with a fixed result."""

    def __init__(self, result: Any = None, error: Exception | None = None) -> None:
        self.events: list[dict[str, Any]] = []
        self.contexts: list[Any] = []
        self.result, self.error = result, error

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        self.events.append(event)
        self.contexts.append(context)
        if self.error is not None:
            raise self.error
        return self.result


def test_request_response_invoke_runs_the_handler_with_a_lambda_context(twin: Twin) -> None:
    handler = Recorder({"ok": True})
    twin.register_handler("cruncher", handler)

    response = client(twin, "lambda").invoke(FunctionName="cruncher", Payload=json.dumps({"time": "now"}))

    assert json.loads(response["Payload"].read()) == {"ok": True}
    assert handler.events == [{"time": "now"}]
    context = handler.contexts[0]
    assert context.function_name == "cruncher"
    assert context.invoked_function_arn.endswith(":function:cruncher")
    assert context.get_remaining_time_in_millis() > 0
    assert context.aws_request_id


def test_event_invoke_runs_the_handler_before_answering_202(twin: Twin) -> None:
    handler = Recorder()
    twin.register_handler("quiet-1", handler)

    response = client(twin, "lambda").invoke(
        FunctionName="quiet-1", InvocationType="Event", Payload=b'{"n": 1}'
    )

    assert response["StatusCode"] == 202
    assert handler.events == [{"n": 1}]


def test_a_handler_exception_is_an_unhandled_function_error(twin: Twin) -> None:
    twin.register_handler("quiet-2", Recorder(error=RuntimeError("boom")))

    response = client(twin, "lambda").invoke(FunctionName="quiet-2", Payload=b"{}")

    assert response["FunctionError"] == "Unhandled"
    assert json.loads(response["Payload"].read())["errorMessage"] == "boom"


def test_an_invoke_through_an_alias_runs_the_aliased_version(twin: Twin) -> None:
    handler = Recorder({"v": 1})
    twin.register_handler("checkout", handler)

    response = client(twin, "lambda").invoke(FunctionName="checkout", Qualifier="live", Payload=b"{}")

    assert response["ExecutedVersion"] == "2"
    assert handler.contexts[0].invoked_function_arn.endswith(":checkout:live")


def test_function_url_get_with_query_string_and_cookies(twin: Twin) -> None:
    handler = Recorder(
        {"statusCode": 302, "headers": {"Location": "/done"}, "cookies": ["seen=1"], "body": ""}
    )
    url = twin.serve_function_url("checkout", handler)

    request = urllib.request.Request(
        f"{url}approve?token=abc&id=r-1&id=r-2",
        headers={"Cookie": "a=1; b=2", "User-Agent": "pytest", "X-Trace": "t"},
    )
    opener = urllib.request.build_opener(NoRedirect())
    with opener.open(request) as response:
        status, headers = response.status, response.headers

    assert status == 302
    assert headers["Location"] == "/done"
    assert headers["Set-Cookie"] == "seen=1"
    [event] = handler.events
    assert event["version"] == "2.0"
    assert event["rawPath"] == "/approve"
    assert event["rawQueryString"] == "token=abc&id=r-1&id=r-2"
    assert event["queryStringParameters"] == {"token": "abc", "id": "r-1,r-2"}
    assert event["cookies"] == ["a=1", "b=2"]
    assert event["headers"]["x-trace"] == "t"
    assert event["requestContext"]["http"]["method"] == "GET"
    assert event["requestContext"]["http"]["userAgent"] == "pytest"
    assert event["requestContext"]["timeEpoch"] == int(twin.world.now.timestamp() * 1000)


def test_function_url_post_form_body_arrives_base64_encoded_and_bare_results_become_json(twin: Twin) -> None:
    handler = Recorder({"accepted": True})
    url = twin.serve_function_url("cruncher", handler)
    form = b"decision=approve&note=looks+good"

    request = urllib.request.Request(
        f"{url}decide",
        data=form,
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    with urllib.request.urlopen(request) as response:
        status, content_type, body = response.status, response.headers["Content-Type"], response.read()

    assert (status, content_type, json.loads(body)) == (200, "application/json", {"accepted": True})
    [event] = handler.events
    assert event["isBase64Encoded"] is True
    assert parse_qs(base64.b64decode(event["body"]).decode()) == {
        "decision": ["approve"],
        "note": ["looks good"],
    }


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None

    def http_error_302(self, req: Any, fp: Any, code: int, msg: str, headers: Any) -> Any:
        return fp


def test_a_handler_for_a_function_moto_does_not_hold_still_runs(twin: Twin) -> None:
    # Given a handler for an agent function that was never created in the account
    handler = Recorder({"applied": 1})
    twin.register_handler("lambda-tuner-apply", handler)

    response = client(twin, "lambda").invoke(FunctionName="lambda-tuner-apply", Payload=b"{}")

    assert json.loads(response["Payload"].read()) == {"applied": 1}
    assert handler.contexts[0].invoked_function_arn.endswith(":function:lambda-tuner-apply")


def test_a_powertools_function_url_resolver_reads_the_event_and_its_response_maps_back(twin: Twin) -> None:
    # Given a Powertools resolver, as the approval function uses
    app = LambdaFunctionUrlResolver()

    @app.get("/approve")
    def approve() -> dict[str, Any]:
        event = app.current_event
        return {"token": event.query_string_parameters.get("token"), "at": event.request_context.time_epoch}

    url = twin.serve_function_url("cruncher", app.resolve)

    # When a browser follows an approval link
    with urllib.request.urlopen(f"{url}approve?token=signed") as response:
        body = json.loads(response.read())

    # Then the route saw the token and the simulated time
    assert body == {"token": "signed", "at": int(twin.world.now.timestamp() * 1000)}


class FailsFirst(Recorder):
    """A handler whose first `failures` calls raise (a throttled write, say), and the next succeed."""

    def __init__(self, failures: int) -> None:
        super().__init__({"ok": True})
        self.failures = failures

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        super().__call__(event, context)
        if len(self.events) <= self.failures:
            raise RuntimeError(f"attempt {len(self.events)} failed")
        return self.result


def test_an_event_invoke_that_fails_is_retried_twice_as_lambda_retries_it(twin: Twin) -> None:
    # Given a handler that fails its first two attempts (Lambda retries an asynchronous invocation
    # whose function fails twice more: the code relies on it, e.g. to record a rollback)
    handler = FailsFirst(2)
    twin.register_handler("retried-1", handler)
    before = len(twin.async_failures)

    # When it is invoked asynchronously
    client(twin, "lambda").invoke(FunctionName="retried-1", InvocationType="Event", Payload=b'{"n": 1}')

    # Then the third attempt ran (with the same event), and nothing was lost
    assert handler.events == [{"n": 1}] * 3
    assert twin.async_failures[before:] == []


def test_an_event_invoke_that_fails_every_attempt_is_recorded_once(twin: Twin) -> None:
    handler = FailsFirst(5)
    twin.register_handler("retried-2", handler)
    before = len(twin.async_failures)

    client(twin, "lambda").invoke(FunctionName="retried-2", InvocationType="Event", Payload=b"{}")

    assert len(handler.events) == 3  # the first attempt and Lambda's two retries
    [(name, error)] = twin.async_failures[before:]
    assert (name, error["errorMessage"]) == ("retried-2", "attempt 3 failed")


def test_a_request_response_invoke_is_not_retried(twin: Twin) -> None:
    handler = FailsFirst(1)
    twin.register_handler("retried-3", handler)

    response = client(twin, "lambda").invoke(FunctionName="retried-3", Payload=b"{}")

    assert response["FunctionError"] == "Unhandled"
    assert len(handler.events) == 1
