"""events/*.json are the shared fixtures of every handler test: each must be what AWS delivers and carry
what the handlers read (placeholders: TOKEN, REC_ID, ALARM_NAME, FUNCTION_NAME)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel, LambdaFunctionUrlModel
from pydantic import ValidationError

# the apply handler's own event models, so the fixture and the handler cannot drift apart
from lambda_tuner.handlers.apply import ApplyEvent, RevertEvent

EVENTS = Path(__file__).resolve().parents[2] / "events"


@pytest.mark.parametrize("path", sorted(EVENTS.glob("*.json")), ids=lambda p: p.name)
def test_every_event_file_is_a_json_object(path: Path) -> None:
    assert isinstance(json.loads(path.read_text()), dict)


def test_the_expected_event_files_exist() -> None:
    assert {p.stem for p in EVENTS.glob("*.json")} >= {
        "scheduled",
        "approval_get",
        "approval_post",
        "apply",
        "alarm",
        "malformed",
    }


def test_scheduled_event_is_an_eventbridge_tick_with_an_aware_time(load_event: Any) -> None:
    event = load_event("scheduled")
    tick = EventBridgeModel.model_validate(event)
    assert (tick.source, tick.detail_type) == ("aws.events", "Scheduled Event")
    assert tick.time.tzinfo is not None
    assert tick.resources and tick.resources[0].startswith("arn:aws:events:")


def test_approval_get_carries_the_token_in_the_query_and_the_time_in_the_context(load_event: Any) -> None:
    event = load_event("approval_get", TOKEN="tok.en-123")
    url = LambdaFunctionUrlModel.model_validate(event)
    assert url.requestContext.http.method == "GET"
    assert url.queryStringParameters == {"token": "tok.en-123"}
    assert event["rawQueryString"] == "token=tok.en-123"
    assert datetime.fromtimestamp(event["requestContext"]["timeEpoch"] / 1000, UTC).year >= 2026
    assert url.requestContext.http.sourceIp and url.requestContext.http.userAgent


def test_approval_post_is_a_form_with_the_token_and_the_decision(load_event: Any) -> None:
    event = load_event("approval_post", TOKEN="tok.en-123")
    url = LambdaFunctionUrlModel.model_validate(event)
    assert url.requestContext.http.method == "POST"
    assert event["headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert event["isBase64Encoded"] is False
    assert parse_qs(event["body"]) == {"token": ["tok.en-123"], "decision": ["approve"]}
    assert isinstance(event["requestContext"]["timeEpoch"], int)


def test_apply_event_is_what_the_apply_handler_accepts(load_event: Any) -> None:
    parsed = ApplyEvent.model_validate(load_event("apply", REC_ID="rec-1"))
    assert (parsed.recommendation_id, parsed.requested_by) == ("rec-1", "approval")
    assert parsed.time.tzinfo is not None


def test_alarm_event_is_a_cloudwatch_alarm_action_payload(load_event: Any) -> None:
    event = load_event("alarm", ALARM_NAME="lambda-tuner-rollback-orders-abc-errors", FUNCTION_NAME="orders")
    assert event["source"] == "aws.cloudwatch"
    assert event["alarmArn"].endswith(":alarm:" + event["alarmData"]["alarmName"])
    assert event["alarmData"]["state"]["value"] == "ALARM"
    # AWS writes the offset as +0000; the handler reads it with datetime.fromisoformat
    assert datetime.fromisoformat(event["time"]).utcoffset() is not None
    (metric,) = event["alarmData"]["configuration"]["metrics"]
    assert metric["metricStat"]["metric"]["dimensions"] == {"FunctionName": "orders"}


def test_the_malformed_event_is_refused_by_every_handlers_model(load_event: Any) -> None:
    event = load_event("malformed")
    for model in (EventBridgeModel, LambdaFunctionUrlModel, ApplyEvent, RevertEvent):
        with pytest.raises(ValidationError):
            model.model_validate(event)
    assert event.get("source") != "aws.cloudwatch"  # nor does it pass for an alarm
