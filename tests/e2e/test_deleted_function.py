"""A function deleted from the account while the agent holds a request for it: the next cycle withdraws
the request, saying why in the audit, and its link says the function is gone. A function the cycle could
not list (a throttled listing) is not taken for deleted."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from botocore.config import Config
from e2e_support import T0, Account, context, deployed, small_fleet

from lambda_tuner.adapters import aws
from lambda_tuner.collect_run import CollectError
from lambda_tuner.handlers import agent, apply
from lambda_tuner.twin import person

FN = "orders-api"
NO_RETRIES = Config(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=5, read_timeout=30)


@pytest.fixture
def account() -> Iterator[Account]:
    with deployed(small_fleet(), "approve") as deployed_account:
        yield deployed_account


def _asked(account: Account) -> dict[str, Any]:
    first = account.run_agent(T0)["summary"]
    [ask] = [
        r
        for r in first["recommendations"]
        if r["recommendation"]["function"] == FN and r["route"] == "approve"
    ]
    account.stack.inbox()
    return ask


def test_the_request_of_a_deleted_function_is_withdrawn_with_a_record_and_its_link_says_so(
    account: Account,
) -> None:
    # Given a request for orders-api sent to a person, and then orders-api deleted
    ask = _asked(account)
    aws.client("lambda").delete_function(FunctionName=FN)
    # When the next cycle runs
    account.run_agent(T0 + timedelta(days=1))
    # Then the request is withdrawn, and the audit says why
    store = account.store()
    rec_id = ask["recommendation"]["id"]
    item = store.get_recommendation_item(rec_id) or {}
    assert item["status"]["S"] == "EXPIRED", item["status"]
    assert "no longer exists" in item["attrs"]["expired_because"]
    records = store.list_audit(function=FN)
    [record] = [r for r in records if (r.recommendation_id, r.type) == (rec_id, "refusal")]
    assert "no longer exists" in str(record.data["reason"]) and record.actor == "agent"
    # And a person opening its link is told the function is gone, not that it was redeployed
    page, form = person.open_link(ask["links"]["approve"])
    assert form is None
    assert FN in page.html and "no longer exists" in page.html, page.html


def test_the_link_of_a_function_deleted_since_says_it_is_gone(account: Account) -> None:
    # Given a request for orders-api, and orders-api deleted before any cycle ran again
    ask = _asked(account)
    aws.client("lambda").delete_function(FunctionName=FN)
    # When the person opens the link and presses approve
    page, answer = person.decide(ask["links"]["approve"])
    # Then they are told it no longer exists, and nothing is approved
    assert page.status == 410 and "no longer exists" in page.html, (page.status, page.title)
    assert answer is None
    rec = account.store().get_recommendation(ask["recommendation"]["id"])
    assert rec is not None and rec.status == "PENDING"


def test_a_function_the_listing_could_not_read_is_not_taken_for_deleted(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a request for orders-api, and the function listing throttled on the next cycle (past the
    # client's retries: turned off here, so the cycle fails at once instead of backing off)
    ask = _asked(account)
    account.twin.inject_fault("lambda.ListFunctions", "throttle", rate=1.0)
    monkeypatch.setattr(aws, "CLIENT_CONFIG", NO_RETRIES)
    aws.reset_clients()
    agent._wiring.cache_clear()
    # When that cycle runs, it stops (nothing to decide on without the listing)
    with pytest.raises(CollectError):
        account.run_agent(T0 + timedelta(days=1))
    # Then the request is still open for the person holding its link, and the function's state is kept
    rec = account.store().get_recommendation(ask["recommendation"]["id"])
    assert rec is not None and rec.status == "PENDING"
    assert "baseline_p99_ms" in account.store().get_function_state(FN)


def test_a_function_excluded_since_is_not_taken_for_deleted(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a request for orders-api, and orders-api then excluded from tuning (it is still listed)
    ask = _asked(account)
    excluded = os.environ.get("LT_EXCLUDE_FUNCTIONS", "")
    monkeypatch.setenv("LT_EXCLUDE_FUNCTIONS", f"{excluded},{FN}" if excluded else FN)
    agent._wiring.cache_clear()
    # When the next cycle runs (which decides nothing about orders-api now)
    second = account.run_agent(T0 + timedelta(days=1))["summary"]
    assert not [r for r in second["recommendations"] if r["recommendation"]["function"] == FN]
    # Then the request is left to its person, and the function is not forgotten: it exists
    rec = account.store().get_recommendation(ask["recommendation"]["id"])
    assert rec is not None and rec.status == "PENDING"
    assert FN not in second["forgotten"] and "baseline_p99_ms" in account.store().get_function_state(FN)


def _alarms(prefix: str) -> list[str]:
    pages = aws.client("cloudwatch").get_paginator("describe_alarms").paginate(AlarmNamePrefix=prefix)
    return [a["AlarmName"] for page in pages for a in page.get("MetricAlarms", [])]


def test_the_rollback_alarms_of_a_deleted_functions_change_are_removed_with_a_record(
    account: Account,
) -> None:
    # Given a change to orders-api approved by a person, made, and guarded by its rollback alarms
    ask = _asked(account)
    page, answer = person.decide(ask["links"]["approve"])
    assert answer is not None and answer.status == 200, page.title
    rec_id = ask["recommendation"]["id"]
    store = account.store()
    guards = list((store.get_recommendation_item(rec_id) or {})["attrs"]["alarms"])
    assert guards and set(guards) <= set(_alarms(f"lambda-tuner-rollback-{FN}-"))
    # And orders-api then deleted from the account
    aws.client("lambda").delete_function(FunctionName=FN)
    # When the next cycle runs
    account.run_agent(T0 + timedelta(days=1))
    # Then its alarms are gone (each cost $0.10 a month for good, and would judge a function created
    # later under the same name), and the audit says why they were removed
    assert _alarms(f"lambda-tuner-rollback-{FN}-") == []
    attrs = (store.get_recommendation_item(rec_id) or {})["attrs"]
    assert attrs["alarms"] == [], attrs
    [record] = [r for r in store.list_audit(function=FN) if r.data.get("function_deleted")]
    assert record.recommendation_id == rec_id and set(record.data["alarms_removed"]) == set(guards)
    assert "no longer exists" in str(record.data["detail"]), record.data


def test_a_deleted_functions_state_is_forgotten_so_one_created_under_its_name_starts_afresh(
    account: Account,
) -> None:
    # Given a cycle that remembered orders-api's p99 at its first configuration
    account.run_agent(T0)
    store = account.store()
    assert "baseline_p99_ms" in store.get_function_state(FN)
    # When orders-api is deleted and the next cycle runs
    aws.client("lambda").delete_function(FunctionName=FN)
    account.run_agent(T0 + timedelta(days=1))
    # Then its state is gone: a new function of that name is judged on its own p99, not the old one's
    assert store.get_function_state(FN) == {}
    assert "baseline_p99_ms" in store.get_function_state("thumbnailer")  # the others' stays


def test_the_agents_pc_schedule_on_a_deleted_function_is_taken_off(account: Account) -> None:
    # Given the agent's PC schedule on orders-api's alias (as an earlier apply left it), beside a
    # team's schedule on another function's PC
    aas = aws.client("application-autoscaling")
    for resource, name in ((f"function:{FN}:live", "lambda-tuner-00"), ("function:thumbnailer:live", "team")):
        target = {
            "ServiceNamespace": "lambda",
            "ResourceId": resource,
            "ScalableDimension": "lambda:function:ProvisionedConcurrency",
        }
        aas.register_scalable_target(**target, MinCapacity=0, MaxCapacity=5)
        aas.put_scheduled_action(
            **target,
            ScheduledActionName=name,
            Schedule="cron(0 8 * * ? *)",
            ScalableTargetAction={"MinCapacity": 5, "MaxCapacity": 5},
        )
    account.run_agent(T0)
    # When orders-api is deleted and the next cycle runs
    aws.client("lambda").delete_function(FunctionName=FN)
    account.run_agent(T0 + timedelta(days=1))
    # Then the agent's schedule and scalable target on it are gone: a function created later under its
    # name and alias would otherwise get PC at 08:00 every day. The team's schedule stays.
    actions = aas.describe_scheduled_actions(ServiceNamespace="lambda")["ScheduledActions"]
    assert [(a["ResourceId"], a["ScheduledActionName"]) for a in actions] == [
        ("function:thumbnailer:live", "team")
    ]
    targets = aas.describe_scalable_targets(ServiceNamespace="lambda")["ScalableTargets"]
    assert [t["ResourceId"] for t in targets] == ["function:thumbnailer:live"]
    [record] = [r for r in account.store().list_audit(function=FN) if r.data.get("function_deleted")]
    assert record.data["schedules_removed"] == {f"function:{FN}:live": ["lambda-tuner-00"]}


def test_a_forget_request_for_a_function_that_exists_removes_nothing(account: Account) -> None:
    # Given a change to orders-api made and guarded by its rollback alarms (orders-api still exists)
    ask = _asked(account)
    page, answer = person.decide(ask["links"]["approve"])
    assert answer is not None and answer.status == 200, page.title
    guards = _alarms(f"lambda-tuner-rollback-{FN}-")
    assert guards
    # When the apply function is asked to forget it all the same (a listing that missed it, say)
    result = apply.handler(
        {"action": "forget", "function": FN, "time": T0.isoformat(), "requested_by": "agent"}, context()
    )
    # Then nothing is removed: only Lambda saying the function does not exist counts, and it is refused
    assert result["ok"] is False and "exists" in result["message"], result
    assert _alarms(f"lambda-tuner-rollback-{FN}-") == guards
    rec = account.store().get_recommendation(ask["recommendation"]["id"])
    assert rec is not None and rec.status == "APPLIED"


def test_a_deleted_function_whose_request_could_not_be_sent_is_forgotten_by_the_next_cycle(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a change to orders-api made and guarded, orders-api deleted, and the apply function not
    # reachable on the next cycle (its invoke throttled past the client's retries)
    ask = _asked(account)
    page, answer = person.decide(ask["links"]["approve"])
    assert answer is not None and answer.status == 200, page.title
    aws.client("lambda").delete_function(FunctionName=FN)
    account.twin.inject_fault("lambda.Invoke", "throttle", rate=1.0)
    monkeypatch.setattr(aws, "CLIENT_CONFIG", NO_RETRIES)
    aws.reset_clients()
    agent._wiring.cache_clear()
    second = account.run_agent(T0 + timedelta(days=1))["summary"]
    assert FN in second["handover_failed"] and _alarms(f"lambda-tuner-rollback-{FN}-")
    # When the cycle after it reaches the apply function
    account.twin.clear_faults()
    third = account.run_agent(T0 + timedelta(days=2))["summary"]
    # Then the function is forgotten then, although no listing names it any more
    assert third["forgotten"] == [FN]
    assert _alarms(f"lambda-tuner-rollback-{FN}-") == []


@pytest.mark.parametrize("how", ["settings", "tag"])
def test_a_function_deleted_while_excluded_is_forgotten(
    account: Account, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    # Given a change to orders-api made and guarded, then orders-api excluded from tuning (by the
    # stack's settings, or tagged mode=off), and a cycle that ran while it was
    ask = _asked(account)
    page, answer = person.decide(ask["links"]["approve"])
    assert answer is not None and answer.status == 200, page.title
    assert _alarms(f"lambda-tuner-rollback-{FN}-")
    lam = aws.client("lambda")
    if how == "settings":
        excluded = os.environ.get("LT_EXCLUDE_FUNCTIONS", "")
        monkeypatch.setenv("LT_EXCLUDE_FUNCTIONS", f"{excluded},{FN}" if excluded else FN)
        agent._wiring.cache_clear()
    else:
        arn = lam.get_function_configuration(FunctionName=FN)["FunctionArn"]
        lam.tag_resource(Resource=arn, Tags={"lambda-tuner:mode": "off"})
    account.run_agent(T0 + timedelta(days=1))
    store = account.store()
    assert "baseline_p99_ms" in store.get_function_state(FN)
    # When orders-api is deleted and the next cycle runs
    lam.delete_function(FunctionName=FN)
    third = account.run_agent(T0 + timedelta(days=2))["summary"]
    # Then it is forgotten as any deleted function is: its state dropped (a function created later under
    # its name starts afresh) and its change's rollback alarms removed
    assert third["forgotten"] == [FN]
    assert store.get_function_state(FN) == {}
    assert _alarms(f"lambda-tuner-rollback-{FN}-") == []
