"""The state table's alarm links (`ALARM#<name>`: which change a rollback alarm guards, since the alarm's
event carries only its name) go with their alarms. They used to stay for good, one item per alarm of
every change ever made, whether the guard ended when the change was verified, an alarm rolled the change
back or its function was deleted."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
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
