"""The shared events/*.json fixtures (what the template's functions receive) drive both handlers, so the
handlers and the documented event shapes cannot drift apart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from approval_support import Deployed, FakeContext, link_in, route_invokes

from lambda_tuner.adapters import aws
from lambda_tuner.handlers import apply, approval

EVENTS = Path(__file__).resolve().parents[2] / "events"


def event(name: str, **placeholders: str) -> dict[str, Any]:
    path = EVENTS / name
    if not path.exists():
        pytest.skip(f"{path} is missing (written with the SAM template)")
    text = path.read_text()
    for key, value in placeholders.items():
        text = text.replace(key, value)
    return dict(json.loads(text))


def _token(deployed: Deployed, action: str = "approve") -> str:
    return link_in(deployed.propose("https://u.example/"), action).split("token=", 1)[1]


def test_the_get_event_shows_the_confirmation_page(deployed: Deployed) -> None:
    result = approval.handler(event("approval_get.json", TOKEN=_token(deployed)), FakeContext())
    assert result["statusCode"] == 200 and "Approve and apply" in result["body"]


def test_the_post_event_approves_and_invokes_apply_with_the_documented_payload(deployed: Deployed) -> None:
    payloads: list[dict[str, Any]] = []

    def capture(payload: dict[str, Any], _: Any) -> dict[str, Any]:
        payloads.append(payload)
        return {"ok": True}

    with route_invokes(aws.client("lambda"), {"lt-apply": capture}):
        result = approval.handler(event("approval_post.json", TOKEN=_token(deployed)), FakeContext())
    assert result["statusCode"] == 200
    documented = event("apply.json", REC_ID="rec-1")
    assert [set(p) for p in payloads] == [set(documented)]
    assert payloads[0]["recommendation_id"] == "rec-1" and payloads[0]["requested_by"] == "approval"


def test_the_apply_and_alarm_events_apply_then_roll_back(
    deployed: Deployed, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LT_ALARM_ACTION_ARN", "arn:aws:lambda:us-east-1:123456789012:function:lt-apply")
    monkeypatch.setenv("LT_ALARM_NAME_PREFIX", "shop-tuner-rollback-")  # the template scopes IAM to it
    apply._flow.cache_clear()
    deployed.propose("https://u.example/")
    deployed.store.transition("rec-1", "PENDING", "APPROVED", deployed.now)
    assert apply.handler(event("apply.json", REC_ID="rec-1"), FakeContext())["ok"]
    assert deployed.account.memory("orders-api") == 512
    [alarm_name, *_] = [a["AlarmName"] for a in aws.client("cloudwatch").describe_alarms()["MetricAlarms"]]
    assert alarm_name.startswith("shop-tuner-rollback-orders-api-")
    out = apply.handler(event("alarm.json", ALARM_NAME=alarm_name, FUNCTION_NAME="orders-api"), FakeContext())
    assert out["ok"] and deployed.account.memory("orders-api") == 1024


def test_the_malformed_event_is_refused_without_effect(deployed: Deployed) -> None:
    deployed.propose("https://u.example/")
    with pytest.raises(ValueError, match="validation error"):
        apply.handler(event("malformed.json"), FakeContext())
    assert deployed.store.get_recommendation("rec-1").status == "PENDING"  # type: ignore[union-attr]
    assert deployed.store.list_audit() == []
