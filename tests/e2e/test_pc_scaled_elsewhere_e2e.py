"""The scheduled agent, over HTTP against the twin, on two functions with the same idle PC: it proposes to
remove the one nobody else scales, and leaves the one the team's own target tracking scales, saying why."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from e2e_support import T0, Account, deployed

from lambda_tuner.twin import person
from lambda_tuner.twin.shapes import io_bound
from lambda_tuner.twin.spec import AliasSpec, FunctionSpec
from lambda_tuner.twin.traffic import steady

DIMENSION = "lambda:function:ProvisionedConcurrency"


def _idle_pc(name: str, scaled_by: str = "") -> FunctionSpec:
    return FunctionSpec(
        name=name,
        curve=io_bound(fixed_ms=90.0),
        traffic=steady(0.5, seed=len(name)),
        memory_mb=512,
        aliases=(AliasSpec("live", "1", pc=10, scaled_by=scaled_by),),
        invoked=(("live", 1.0),),
    )


@pytest.fixture(scope="module")
def scaled() -> Iterator[Account]:
    fleet = [
        _idle_pc("legacy-auth"),
        _idle_pc("quotes-api", scaled_by="pc-utilisation"),
        _idle_pc("prices-api", scaled_by="team-tracking"),  # and the agent's own schedule, put on before
    ]
    with deployed(fleet, "auto") as account:
        boto3.client("application-autoscaling").put_scheduled_action(
            ServiceNamespace="lambda",
            ResourceId="function:prices-api:live",
            ScalableDimension=DIMENSION,
            ScheduledActionName="lambda-tuner-pc-prices-api-00",
            Schedule="cron(0 8 ? * * *)",
            ScalableTargetAction={"MinCapacity": 10, "MaxCapacity": 10},
        )
        yield account


@pytest.fixture(scope="module")
def first_day(scaled: Account) -> dict[str, Any]:
    return scaled.run_agent(T0)


def test_pc_the_teams_scaling_owns_is_left_alone_and_the_rest_is_tuned(
    scaled: Account, first_day: dict[str, Any]
) -> None:
    result = first_day
    pc = {
        r["recommendation"]["function"]: r
        for r in result["summary"]["recommendations"]
        if "pc" in r["recommendation"]["current"]
    }
    assert pc["legacy-auth"]["recommendation"]["kind"] == "provisioned_concurrency"
    assert pc["legacy-auth"]["recommendation"]["proposed"]["pc"] == 0  # idle: removed
    kept = pc["quotes-api"]["recommendation"]
    assert kept["kind"] == "keep" and pc["quotes-api"]["route"] == "record"
    assert "scaling policy 'pc-utilisation' (TargetTrackingScaling)" in kept["reason"]["summary"]
    assert scaled.twin.calls["application-autoscaling.DescribeScalingPolicies"] >= 1
    # even in auto mode: removing 10 environments at once goes to a person (beyond the auto step),
    # the team's PC goes nowhere
    assert pc["legacy-auth"]["route"] == "approve", pc["legacy-auth"]["why"]


def test_the_agents_own_schedule_under_the_teams_policy_is_taken_off_once_a_person_approves(
    scaled: Account, first_day: dict[str, Any]
) -> None:
    [off] = [
        r
        for r in first_day["summary"]["recommendations"]
        if r["recommendation"]["function"] == "prices-api" and "pc" in r["recommendation"]["current"]
    ]
    assert off["recommendation"]["proposed"] == {"pc_schedule": "[]"} and off["route"] == "approve"
    assert "team-tracking" in off["recommendation"]["reason"]["summary"]
    page, answer = person.decide(off["links"]["approve"])
    assert page.status == 200 and answer is not None and answer.status == 200
    aas = boto3.client("application-autoscaling")
    left = aas.describe_scheduled_actions(ServiceNamespace="lambda", ResourceId="function:prices-api:live")
    assert scaled.twin.async_failures == []  # the apply function ran to its end
    assert left["ScheduledActions"] == []  # the agent's own action is gone; the team's policy stays
    policies = aas.describe_scaling_policies(ServiceNamespace="lambda", ResourceId="function:prices-api:live")
    assert [p["PolicyName"] for p in policies["ScalingPolicies"]] == ["team-tracking"]
    from lambda_tuner.adapters.store import Store

    store = Store(scaled.stack.settings["LT_STATE_TABLE"], scaled.stack.settings["LT_AUDIT_TABLE"])
    [change] = [r for r in store.list_audit(function="prices-api") if r.type == "change"]
    assert change.data.get("ok", True) and change.recommendation_id == off["recommendation"]["id"]
