"""Approval function (Function URL, payload 2.0): GET shows the change, POST from that page decides.

The Function URL has no IAM auth: the HMAC-signed, expiring, recommendation-bound token is the
authorisation, and the state machine makes each decision happen once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any
from urllib.parse import parse_qs

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response

from lambda_tuner.adapters import aws
from lambda_tuner.adapters.secrets import signing_key
from lambda_tuner.adapters.store import Store
from lambda_tuner.settings import ApprovalSettings
from lambda_tuner.web.approval_flow import ApprovalFlow, Page, Visitor
from lambda_tuner.web.pages import message_page, security_headers

logger = Logger(service="lambda-tuner-approval")
app = LambdaFunctionUrlResolver()
MAX_BODY = 8192  # a form with one token and one word; anything bigger is not ours


@cache
def _flow() -> ApprovalFlow:
    settings = ApprovalSettings()  # read from LT_ environment variables
    return ApprovalFlow(  # a person waits: every call gives up in seconds (aws.INTERACTIVE_CONFIG)
        Store(settings.state_table, settings.audit_table, aws.client("dynamodb", interactive=True)),
        lambda: signing_key(settings.secret_arn, aws.client("secretsmanager", interactive=True)),
        aws.client("lambda", interactive=True),
        settings.apply_function,
        aws.client("lambda"),  # the asynchronous Invoke of the apply function: see ApprovalFlow
    )


def _context() -> tuple[datetime, Visitor]:
    event = app.current_event
    http = event.request_context.http
    now = datetime.fromtimestamp(event.request_context.time_epoch / 1000, UTC)  # the request's time, not ours
    return now, Visitor(ip=http.source_ip or "", user_agent=(http.user_agent or "")[:300], method=http.method)


def _respond(page: Page) -> Response[str]:
    return Response(status_code=page.status, headers=security_headers(), body=page.html)


@app.get("/")
def show() -> Response[str]:
    now, visitor = _context()
    return _respond(_flow().show(app.current_event.get_query_string_value("token", "") or "", now, visitor))


@app.post("/")
def decide() -> Response[str]:
    now, visitor = _context()
    try:  # not text (a binary body) or too many fields: not our form; refused below as a malformed link
        form = parse_qs((app.current_event.decoded_body or "")[:MAX_BODY], max_num_fields=4)
    except (UnicodeDecodeError, ValueError):
        form = {}
    token, decision = form.get("token", [""])[0], form.get("decision", [""])[0]
    return _respond(_flow().decide(token, decision, now, visitor))


@app.not_found
def elsewhere(_: Exception) -> Response[str]:
    return _respond(Page(404, message_page("Not here", "Approval links open a page at / only.", tone="bad")))


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    return app.resolve(event, context)  # type: ignore[arg-type]
