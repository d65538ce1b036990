"""Undoing an agent PC change after a team's own Application Auto Scaling has come onto that PC: the undo
takes the agent's own schedule off, and leaves the team's scalable target, its policy and the level its
scaling sets alone. Deregistering the target would delete the team's policy with it (AWS's rule), and
re-registering the agent's 0-to-top range or putting the agent's pinning actions back would fight it.
Against the twin over HTTP (Lambda PC and Application Auto Scaling)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from approval_support import AUDIT, NOW, STATE, make_rec

# the same alias, schedule and readings as the other PC undo tests
from test_review_pc_undo import ALIAS, FN, SCHEDULE, TARGET, _actions, _applier, _range
from twin_support import APPLY_ARN, Live

from lambda_tuner.adapters import aws
from lambda_tuner.adapters.applier import Applier
from lambda_tuner.adapters.apply_flow import ApplyFlow
from lambda_tuner.adapters.notifier import Notifier
from lambda_tuner.adapters.store import Store
from lambda_tuner.core.models import AuditRecord


def _team_takes_over() -> None:
    """The team registers its own range on the alias and target tracking within it."""
    aas = aws.client("application-autoscaling")
    aas.register_scalable_target(**TARGET, MinCapacity=2, MaxCapacity=40)
    aas.put_scaling_policy(
        **TARGET,
        PolicyName="pc-utilisation",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 0.7,
            "PredefinedMetricSpecification": {
                "PredefinedMetricType": "LambdaProvisionedConcurrencyUtilization"
            },
        },
    )


def _static_over_schedule(applier: Applier) -> dict[str, Any]:
    applier.apply_pc_schedule(FN, ALIAS, SCHEDULE)
    return applier.apply_pc(FN, ALIAS, 5).before  # the static level took the schedule off


@pytest.mark.parametrize("change", ["first schedule", "static level over a schedule"])
def test_undoing_an_agent_pc_change_leaves_the_scaling_a_team_added_since(live: Live, change: str) -> None:
    # Given an agent PC change (its first schedule on the alias, or a static level that replaced its
    # schedule), and since then the team's own target tracking on that PC
    applier = _applier()
    if change == "first schedule":
        before = applier.apply_pc_schedule(FN, ALIAS, SCHEDULE).before
    else:
        before = _static_over_schedule(applier)
    _team_takes_over()
    # When the change is undone (a rollback alarm, a revert)
    applier.restore(before)
    # Then the team's target keeps its range (deregistering it would delete the team's policy), and no
    # action of the agent's is left (or put back) to pin the PC the team's policy scales
    assert _range() == (2, 40)
    assert _actions() == set()


def test_a_revert_after_a_team_took_over_does_not_deregister_its_target(live: Live) -> None:
    # Given the agent's schedule applied and audited, and the team's target tracking added a day later
    store, applier = Store(STATE, AUDIT), _applier()
    applied = applier.apply_pc_schedule(FN, ALIAS, SCHEDULE)
    data = {"ok": True, "before": applied.before, "after": applied.after, "alarms": []}
    store.append_audit("change", NOW + timedelta(hours=1), function=FN, recommendation_id="rec-s", data=data)
    _team_takes_over()
    # When a person reverts the agent's changes since before it
    results = ApplyFlow(store, applier, Notifier(live.deployed.account.topic_arn)).revert(
        NOW, FN, NOW + timedelta(hours=30)
    )
    # Then the team's scaling stands, and the revert's audit record says it was left to the team
    assert _range() == (2, 40) and _actions() == set()
    record = next(r for r in store.list_audit(function=FN) if r.type == "revert")
    assert "pc-utilisation" in str(record.data), (results, record.data)


def test_taking_the_agents_own_schedule_off_an_iac_managed_function_is_done_not_templated(live: Live) -> None:
    # Given an IaC-managed function (changes to it are template advice) whose PC the team's target
    # tracking scales, with the agent's schedule still on it: the stack carries none of the agent's
    # actions, so taking them off is no drift
    aws.client("lambda").tag_resource(
        Resource=aws.client("lambda").get_function(FunctionName=FN)["Configuration"]["FunctionArn"],
        Tags={"ManagedBy": "terraform"},
    )
    store = Store(STATE, AUDIT)
    _applier().apply_pc_schedule(FN, ALIAS, SCHEDULE)
    _team_takes_over()
    rec = make_rec(
        function=FN,
        kind="provisioned_concurrency",
        current={"pc": 0},
        proposed={"pc_schedule": "[]"},
        qualifier=ALIAS,
        revision_id=None,
        status="APPROVED",
    )
    store.put_recommendation(rec)
    # When a person's approval reaches the apply function
    result = ApplyFlow(store, _applier(), Notifier(live.deployed.account.topic_arn)).apply(
        "rec-1", "approval", NOW
    )
    # Then the agent's actions are gone, the team's scaling stands, and it is a change, not a refusal
    assert result.ok, result.message
    assert _actions() == set() and _range() == (2, 40)
    assert [r.type for r in store.list_audit(function=FN)] == ["change"]


def guarded_schedule(live: Live) -> tuple[Store, ApplyFlow, AuditRecord]:
    """The agent's PC schedule on FN's alias applied through the apply flow and guarded by its rollback
    alarms, with the team's own target tracking on that PC since: the store, the flow and the change."""
    store = Store(STATE, AUDIT)
    store.put_recommendation(
        make_rec(
            function=FN,
            kind="provisioned_concurrency",
            current={"pc": 0},
            proposed={"pc_schedule": json.dumps(SCHEDULE)},
            qualifier=ALIAS,
            revision_id=None,
            status="APPROVED",
        )
    )
    flow = ApplyFlow(store, _applier(), Notifier(live.deployed.account.topic_arn), alarm_action_arn=APPLY_ARN)
    assert flow.apply("rec-1", "approval", NOW).ok
    [change] = [r for r in store.list_audit(function=FN) if r.type == "change"]
    _team_takes_over()
    return store, flow, change
