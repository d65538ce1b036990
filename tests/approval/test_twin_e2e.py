"""End to end in the twin: real RevisionIds, simulated time, alarms that invoke the apply function."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from approval_support import NOW, link_in
from twin_support import Live

from lambda_tuner.adapters import aws


def _post(live: Live, body: str, action: str = "approve") -> int:
    token = link_in(body, action).split("token=", 1)[1]
    form = urlencode({"token": token, "decision": action}).encode()
    try:
        return urllib.request.urlopen(urllib.request.Request(live.url, data=form, method="POST")).status
    except urllib.error.HTTPError as refused:
        return refused.code


def _memory(function: str) -> int:
    return int(aws.client("lambda").get_function_configuration(FunctionName=function)["MemorySize"])


def _status(live: Live, rec_id: str = "rec-1") -> str:
    rec = live.deployed.store.get_recommendation(rec_id)
    assert rec is not None
    return rec.status


def test_an_approved_change_is_applied_with_the_revision_seen_at_proposal(live: Live) -> None:
    body = live.deployed.propose(live.url, function="orders-api", revision_id=live.revision("orders-api"))
    assert _post(live, body) == 200
    assert _memory("orders-api") == 512 and _status(live) == "APPLIED"
    assert live.twin.calls["lambda.UpdateFunctionConfiguration"] == 1


def test_two_concurrent_approvals_apply_exactly_once(live: Live) -> None:
    # Runs on the twin, not plain moto: moto checks a DynamoDB condition and writes without a lock, so two
    # racing conditional writes can both win there; DynamoDB (and the twin) make each write atomic.
    body = live.deployed.propose(live.url, function="orders-api", revision_id=live.revision("orders-api"))
    with ThreadPoolExecutor(max_workers=2) as pool:
        statuses = sorted(pool.map(lambda _: _post(live, body), range(2)))
    assert statuses == [200, 409]
    assert live.twin.calls["lambda.UpdateFunctionConfiguration"] == 1
    assert sorted(r.type for r in live.deployed.store.list_audit()) == ["approval", "change", "refusal"]


def test_a_deploy_after_the_proposal_is_refused_and_nothing_is_applied(live: Live) -> None:
    body = live.deployed.propose(live.url, function="orders-api", revision_id=live.revision("orders-api"))
    aws.client("lambda").update_function_configuration(FunctionName="orders-api", Timeout=60)  # a deploy
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(link_in(body, "approve"))
    assert refused.value.code == 409 and "changed since the proposal" in refused.value.read().decode()
    assert _post(live, body) == 409
    assert _memory("orders-api") == 1024 and _status(live) == "EXPIRED"
    assert [r.type for r in live.deployed.store.list_audit()] == ["refusal", "refusal"]


def test_errors_after_a_change_trip_an_alarm_that_rolls_it_back(live: Live) -> None:
    # Given a function that runs out of memory below 768 MB, and an approved change to 512 MB
    body = live.deployed.propose(live.url, function="hungry-api", revision_id=live.revision("hungry-api"))
    assert _post(live, body) == 200 and _memory("hungry-api") == 512
    # When simulated time passes and its invocations fail
    live.twin.advance(NOW + timedelta(minutes=10))
    # Then an alarm fired, invoked the apply function, and the previous memory is back
    assert _memory("hungry-api") == 1024
    assert _status(live) == "ROLLED_BACK"
    approval_record, change, rollback = live.deployed.store.list_audit()
    assert (approval_record.type, change.type) == ("approval", "change")
    assert rollback.type == "rollback" and rollback.caused_by == change.id
    assert str(rollback.data["alarm"]).endswith("-errors")
    assert aws.client("cloudwatch").describe_alarms()["MetricAlarms"] == []  # its alarms are gone
    assert live.twin.async_failures == []
    assert "Rolled back: hungry-api" in live.deployed.account.messages()[-1]["Subject"]


def test_a_change_that_speeds_a_function_up_is_not_judged_on_the_calls_before_it(live: Live) -> None:
    # Given an approved change of a CPU-starved function from 256 to 1024 MB: its p99 falls from about
    # 900 ms to about 230 ms, well under its alarm at 1.5 x the projection's upper end (429 ms)
    body = live.deployed.propose(
        live.url, function="render-api", revision_id=live.revision("render-api"), current=256, proposed=1024
    )
    assert _post(live, body) == 200 and _memory("render-api") == 1024
    # When simulated time passes (the alarms' first windows hold minutes from before the change)
    live.twin.advance(NOW + timedelta(minutes=30))
    # Then nothing fired: the alarms read only what came after the change
    assert _status(live) == "APPLIED" and live.twin.alarms.fired == []
    [p99] = [
        a
        for a in aws.client("cloudwatch").describe_alarms()["MetricAlarms"]
        if a["AlarmName"].endswith("-p99")
    ]
    [after] = [q for q in p99["Metrics"] if q["ReturnData"]]
    assert after["Expression"] == f"IF(EPOCH(m) >= {int(NOW.timestamp())}, m)"


def test_a_function_that_always_had_some_errors_is_judged_against_its_usual_rate(live: Live) -> None:
    # flaky-api fails 5 % of 120 calls a minute before and after the change: not a reason to roll back
    body = live.deployed.propose(
        live.url,
        function="flaky-api",
        revision_id=live.revision("flaky-api"),
        current={"memory_mb": 1024, "errors_per_min": 6.0},
    )
    assert _post(live, body) == 200
    live.twin.advance(NOW + timedelta(hours=1))
    assert _memory("flaky-api") == 512 and _status(live) == "APPLIED"


def test_a_healthy_change_stays_in_place_as_time_passes(live: Live) -> None:
    body = live.deployed.propose(live.url, function="orders-api", revision_id=live.revision("orders-api"))
    assert _post(live, body) == 200
    live.twin.advance(NOW + timedelta(hours=2))
    assert _memory("orders-api") == 512 and _status(live) == "APPLIED"
    assert len(aws.client("cloudwatch").describe_alarms()["MetricAlarms"]) == 4


def test_transient_throttling_is_retried_and_the_change_lands_once(live: Live) -> None:
    # Persistent throttling and 5xx are covered without retries in test_apply_flow (minutes of backoff here).
    live.twin.inject_fault("lambda.UpdateFunctionConfiguration", "throttle", count=2)
    body = live.deployed.propose(live.url, function="orders-api", revision_id=live.revision("orders-api"))
    assert _post(live, body) == 200
    assert _memory("orders-api") == 512 and _status(live) == "APPLIED"
    assert live.twin.calls["lambda.UpdateFunctionConfiguration"] == 3  # two throttled, one landed
    assert [r.type for r in live.deployed.store.list_audit()] == ["approval", "change"]


def test_a_transient_5xx_is_retried_and_the_change_lands(live: Live) -> None:
    live.twin.inject_fault("lambda.UpdateFunctionConfiguration", "5xx", count=1)
    body = live.deployed.propose(live.url, function="orders-api", revision_id=live.revision("orders-api"))
    assert _post(live, body) == 200
    assert _memory("orders-api") == 512 and _status(live) == "APPLIED"


def test_approved_provisioned_concurrency_is_put_on_the_alias_and_ready(live: Live) -> None:
    body = live.deployed.propose(
        live.url,
        function="checkout",
        kind="provisioned_concurrency",
        current={"pc": 0},
        proposed={"pc": 3},
        qualifier="live",
    )
    assert _post(live, body) == 200 and _status(live) == "APPLIED"
    got = aws.client("lambda").get_provisioned_concurrency_config(FunctionName="checkout", Qualifier="live")
    assert (got["Status"], got["RequestedProvisionedConcurrentExecutions"]) == ("READY", 3)


def test_an_approved_pc_schedule_becomes_scheduled_actions_the_account_carries_out(live: Live) -> None:
    schedule = json.dumps(
        [
            {"schedule": "cron(0 10 ? * * *)", "tz": "UTC", "pc": 2},
            {"schedule": "cron(0 18 ? * * *)", "tz": "UTC", "pc": 0},
        ]
    )
    body = live.deployed.propose(
        live.url,
        function="checkout",
        kind="provisioned_concurrency",
        current={"pc": 0},
        proposed={"pc_schedule": schedule},
        qualifier="live",
    )
    assert _post(live, body) == 200 and _status(live) == "APPLIED"
    actions = aws.client("application-autoscaling").describe_scheduled_actions(
        ServiceNamespace="lambda", ResourceId="function:checkout:live"
    )["ScheduledActions"]
    assert sorted(a["Schedule"] for a in actions) == ["cron(0 10 ? * * *)", "cron(0 18 ? * * *)"]
    live.twin.advance(NOW + timedelta(hours=1, minutes=30))  # past 10:00 UTC
    got = aws.client("lambda").get_provisioned_concurrency_config(FunctionName="checkout", Qualifier="live")
    assert got["RequestedProvisionedConcurrentExecutions"] == 2
