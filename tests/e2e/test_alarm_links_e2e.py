"""The state table's alarm links (`ALARM#<name>`: which change a rollback alarm guards, since the alarm's
event carries only its name) go with their alarms. They used to stay for good, one item per alarm of
every change ever made, whether the guard ended when the change was verified, an alarm rolled the change
back or its function was deleted."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from botocore.config import Config
from e2e_support import T0, Account, deployed, small_fleet

from lambda_tuner.adapters import aws
from lambda_tuner.twin import person

FN = "orders-api"


@pytest.fixture
def approve() -> Iterator[Account]:
    with deployed(small_fleet(), "approve") as account:
        yield account


def _alarms(prefix: str) -> list[str]:
    pages = aws.client("cloudwatch").get_paginator("describe_alarms").paginate(AlarmNamePrefix=prefix)
    return [a["AlarmName"] for page in pages for a in page.get("MetricAlarms", [])]


def _made(account: Account) -> tuple[str, list[str]]:
    """A change to orders-api asked for, approved by a person and made: its id and its alarms, each
    linked to it."""
    first = account.run_agent(T0)["summary"]
    recs = first["recommendations"]
    [ask] = [r for r in recs if (r["recommendation"]["function"], r["route"]) == (FN, "approve")]
    page, answer = person.decide(ask["links"]["approve"])
    assert answer is not None and answer.status == 200, page.title
    rec_id = str(ask["recommendation"]["id"])
    guards = list((account.store().get_recommendation_item(rec_id) or {})["attrs"]["alarms"])
    assert guards and all(account.store().alarm_link(name) for name in guards)
    return rec_id, guards


def test_the_links_of_a_verified_changes_alarms_go_with_them(approve: Account) -> None:
    # Given a change made and guarded
    rec_id, guards = _made(approve)
    # When the next day's cycle verifies it and its guard ends
    second = approve.run_agent(T0 + timedelta(days=1))["summary"]
    assert rec_id in second["verifications"] and _alarms(f"lambda-tuner-rollback-{FN}-") == []
    # Then the links of its alarms are gone too
    assert {name: approve.store().alarm_link(name) for name in guards} == dict.fromkeys(guards)


def test_the_links_of_a_rolled_back_changes_alarms_go_with_them(approve: Account) -> None:
    # Given a change made and guarded, and then the function much slower than the change projected
    rec_id, guards = _made(approve)
    approve.world.inject_regression(FN, 5.0, at=T0 + timedelta(hours=1))
    # When its alarms fire and roll it back
    approve.twin.advance(T0 + timedelta(hours=8))
    store = approve.store()
    assert (store.get_recommendation(rec_id) or pytest.fail("gone")).status == "ROLLED_BACK"
    assert _alarms(f"lambda-tuner-rollback-{FN}-") == []
    # Then the links of its alarms are gone too
    assert {name: store.alarm_link(name) for name in guards} == dict.fromkeys(guards)


def test_the_links_of_a_deleted_functions_alarms_go_with_them(approve: Account) -> None:
    # Given a change made and guarded, and then its function deleted
    _, guards = _made(approve)
    aws.client("lambda").delete_function(FunctionName=FN)
    # When the next cycle forgets it (its alarms removed)
    approve.run_agent(T0 + timedelta(days=1))
    assert _alarms(f"lambda-tuner-rollback-{FN}-") == []
    # Then the links of its alarms are gone too
    assert {name: approve.store().alarm_link(name) for name in guards} == dict.fromkeys(guards)


NO_RETRIES = Config(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=5, read_timeout=30)


def _no_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each injected fault stands for "still failing after the client's retries"."""
    from lambda_tuner.handlers import agent, apply

    monkeypatch.setattr(aws, "CLIENT_CONFIG", NO_RETRIES)
    aws.reset_clients()
    for cached in (agent._wiring, apply._flow):
        cached.cache_clear()


def _links_left(account: Account, names: list[str]) -> list[str]:
    return [name for name in names if account.store().alarm_link(name) is not None]


def test_the_links_a_rollback_could_not_remove_go_with_a_later_cycle(
    approve: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a change made and guarded, then rolled back by its alarms while DynamoDB refused the removal
    # of their links (the alarms themselves went)
    rec_id, guards = _made(approve)
    _no_retries(monkeypatch)
    approve.world.inject_regression(FN, 5.0, at=T0 + timedelta(hours=1))
    approve.twin.inject_fault("dynamodb.BatchWriteItem", "5xx", rate=1.0)
    approve.twin.advance(T0 + timedelta(hours=8))
    approve.twin.clear_faults()
    assert (approve.store().get_recommendation(rec_id) or pytest.fail("gone")).status == "ROLLED_BACK"
    assert _alarms(f"lambda-tuner-rollback-{FN}-") == []
    # When the next cycles run, with DynamoDB working again
    approve.run_agent(T0 + timedelta(days=1))
    approve.run_agent(T0 + timedelta(days=2))
    # Then the links are gone too: they used to stay for good, naming alarms that no longer exist
    assert _links_left(approve, guards) == []


def test_the_alarms_a_failed_guard_could_not_take_back_go_with_a_later_cycle(
    approve: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a change a person approved whose guard could not be made: its first alarm was created, the
    # next refused, and the first one's deletion failed too (so the change was undone, FAILED)
    first = approve.run_agent(T0)["summary"]
    recs = first["recommendations"]
    [ask] = [r for r in recs if (r["recommendation"]["function"], r["route"]) == (FN, "approve")]
    _no_retries(monkeypatch)
    approve.twin.inject_fault("cloudwatch.PutMetricAlarm", "throttle", rate=1.0, after=1)
    approve.twin.inject_fault("cloudwatch.DeleteAlarms", "5xx", rate=1.0)
    person.decide(ask["links"]["approve"])
    approve.twin.clear_faults()
    rec = approve.store().get_recommendation(str(ask["recommendation"]["id"])) or pytest.fail("gone")
    assert rec.status == "FAILED"
    assert len(_alarms(f"lambda-tuner-rollback-{FN}-")) == 1
    # When the next cycles run, with CloudWatch working again
    approve.run_agent(T0 + timedelta(days=1))
    approve.run_agent(T0 + timedelta(days=2))
    # Then that alarm is gone: it guarded nothing, and cost $0.10 a month for good
    assert _alarms(f"lambda-tuner-rollback-{FN}-") == []
