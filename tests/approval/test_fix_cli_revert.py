"""`lambda-tuner revert --apply-function`: a crash of the apply function is an error, and the long
synchronous Invoke is sent once and waited for (never re-sent while the first revert still runs)."""

from __future__ import annotations

import http.server
import io
import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber
from click.testing import CliRunner

from lambda_tuner.cli import audit as cli_audit

ARGS = ["--since", "2026-11-01T00:00:00+00:00", "--apply-function", "stk-apply", "--yes"]
TABLES = ["--state-table", "s", "--audit-table", "a"]
TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


def _lambda() -> Any:
    return boto3.client("lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


def _answer(stubber: Stubber, body: dict[str, Any], function_error: str | None = None) -> None:
    raw = json.dumps(body).encode()
    response: dict[str, Any] = {"StatusCode": 200, "Payload": StreamingBody(io.BytesIO(raw), len(raw))}
    if function_error:
        response["FunctionError"] = function_error
    stubber.add_response("invoke", response, {"FunctionName": "stk-apply", "Payload": ANY})


def _revert(monkeypatch: pytest.MonkeyPatch, client: Any) -> Any:
    monkeypatch.setattr(cli_audit, "apply_function_client", lambda: client)
    return CliRunner().invoke(cli_audit.revert, ARGS + TABLES)


def test_a_crashed_apply_function_fails_the_revert_with_its_error_message(
    monkeypatch: pytest.MonkeyPatch, aws_env: str
) -> None:
    # (aws_env: after a crash the CLI reads the audit for what is left in force; here, tables that
    # do not exist on the local moto, so it falls back to the hint)
    # Given an apply function that raises (Lambda answers 200 with FunctionError and the error document)
    client = _lambda()
    with Stubber(client) as stubber:
        _answer(
            stubber,
            {"errorMessage": "1 validation error for RevertEvent", "errorType": "ValidationError"},
            function_error="Unhandled",
        )
        # When the operator reverts through it
        result = _revert(monkeypatch, client)
    # Then the command fails and says why, instead of "nothing to revert"
    assert result.exit_code == 1
    assert "ValidationError: 1 validation error for RevertEvent" in result.output
    assert "nothing to revert" not in result.output


def test_a_failed_apply_function_without_an_error_document_still_fails(
    monkeypatch: pytest.MonkeyPatch, aws_env: str
) -> None:
    client = _lambda()
    with Stubber(client) as stubber:
        _answer(stubber, {"unexpected": True}, function_error="Unhandled")
        result = _revert(monkeypatch, client)
    assert result.exit_code == 1 and "stk-apply failed" in result.output
    assert "--dry-run` lists what is still in force" in result.output


def test_the_apply_functions_results_are_printed_and_a_failed_one_fails_the_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = _lambda()
    results = [
        {"function": "orders", "ok": True, "message": "memory_mb 512→1024"},
        {"function": "billing", "ok": False, "message": "conflict"},
    ]
    with Stubber(client) as stubber:
        _answer(stubber, {"ok": False, "results": results})
        result = _revert(monkeypatch, client)
    assert "reverted orders: memory_mb 512→1024" in result.output
    assert "FAILED   billing: conflict" in result.output
    assert result.exit_code == 1


def test_an_apply_function_with_nothing_to_undo_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    client = _lambda()
    with Stubber(client) as stubber:
        _answer(stubber, {"ok": True, "results": []})
        result = _revert(monkeypatch, client)
    assert result.exit_code == 0 and "nothing to revert" in result.output


class _Unavailable(http.server.BaseHTTPRequestHandler):
    """Answers every Invoke 503 (a retryable error) and counts what it received."""

    received: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        type(self).received.append(self.path)
        body = b'{"message": "busy"}'
        self.send_response(503)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def unavailable_lambda(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    _Unavailable.received = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Unavailable)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.delenv("AWS_MAX_ATTEMPTS", raising=False)
    try:
        yield _Unavailable.received
    finally:
        server.shutdown()
        server.server_close()


def test_the_revert_invoke_is_sent_once_even_when_the_answer_is_a_retryable_error(
    unavailable_lambda: list[str],
) -> None:
    # Given a Lambda endpoint that answers with a retryable error
    # When the operator reverts through the apply function (the real client, no stub)
    result = CliRunner().invoke(cli_audit.revert, ARGS + TABLES)
    # Then the revert was sent exactly once (a second copy could undo changes twice) and the command fails
    assert len(unavailable_lambda) == 1, unavailable_lambda
    assert result.exit_code != 0


def test_the_revert_client_waits_longer_than_the_apply_function_may_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # The template's apply-function timeout bounds how long a revert may take; the CLI must outwait it.
    template = TEMPLATE.read_text()
    apply_section = template[template.index("  ApplyFunction:") :]
    timeout_s = int(re.search(r"\n\s+Timeout: (\d+)", apply_section).group(1))  # type: ignore[union-attr]
    client = cli_audit.apply_function_client()
    assert client.meta.config.read_timeout > timeout_s
