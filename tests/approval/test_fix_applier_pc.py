"""Provisioned concurrency and the agent's own schedules on the same alias.

A static level (or removal) takes the agent's scheduled actions off the alias, or the next of them would
undo it; a restore puts them back. Schedules are read to the last page: AWS pages at 50 actions and a
week's schedule has more. Against the twin (Lambda PC plus Application Auto Scaling, carrying out due
actions as simulated time passes); paging, which the twin does not do, against botocore's Stubber."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest
from approval_support import NOW
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from twin_support import make_world

from lambda_tuner.adapters import aws
from lambda_tuner.adapters.applier import Applier, ConflictError, PcFailedError
from lambda_tuner.twin.server import Twin

FN, ALIAS = "checkout", "live"
RESOURCE = f"function:{FN}:{ALIAS}"
DIMENSION = "lambda:function:ProvisionedConcurrency"
TARGET = {"ServiceNamespace": "lambda", "ResourceId": RESOURCE, "ScalableDimension": DIMENSION}
AGENT_SCHEDULE = [  # the twin starts at 09:00 UTC: the first action is due at 10:00
    {"schedule": "cron(0 10 ? * * *)", "capacity": 2, "timezone": "UTC"},
    {"schedule": "cron(0 18 ? * * *)", "capacity": 0, "timezone": "UTC"},
]


@pytest.fixture
def account(twin: Twin, monkeypatch: pytest.MonkeyPatch) -> Iterator[Twin]:
    twin.reset(make_world())
    for key, value in twin.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    aws.reset_clients()  # clients built for another endpoint must not talk to this one
    yield twin
    aws.reset_clients()


def _applier() -> Applier:
    return Applier(sleep=lambda _: None, poll_delay_s=1)


def _actions() -> dict[str, tuple[str, int]]:
    got = aws.client("application-autoscaling").describe_scheduled_actions(**TARGET)["ScheduledActions"]
    return {a["ScheduledActionName"]: (a["Schedule"], a["ScalableTargetAction"]["MinCapacity"]) for a in got}


def _pc() -> int:
    try:
        got = aws.client("lambda").get_provisioned_concurrency_config(FunctionName=FN, Qualifier=ALIAS)
    except ClientError:
        return 0
    return int(got["RequestedProvisionedConcurrentExecutions"])


def _agent_schedule() -> dict[str, tuple[str, int]]:
    """The agent's schedule on the alias."""
    _applier().apply_pc_schedule(FN, ALIAS, AGENT_SCHEDULE)
    return _actions()


def _team_action() -> None:
    aws.client("application-autoscaling").put_scheduled_action(
        **TARGET,
        ScheduledActionName="team-warmup",
        Schedule="cron(0 3 ? * * *)",
        ScalableTargetAction={"MinCapacity": 1, "MaxCapacity": 1},
    )


@pytest.mark.parametrize("level", [5, 0])
def test_a_static_level_takes_the_agents_schedule_off_so_no_cron_undoes_it(account: Twin, level: int) -> None:
    # Given the agent's schedule on the alias
    _agent_schedule()
    # When a static level (or removal) is applied and the schedule's next action comes due
    _applier().apply_pc(FN, ALIAS, level)
    account.advance(NOW + timedelta(hours=1, minutes=30))
    # Then the level holds and no action is left
    assert _pc() == level
    assert _actions() == {}


@pytest.mark.parametrize("change", ["level", "schedule"])
def test_pc_a_team_scales_itself_is_refused_and_left_as_it_was(account: Twin, change: str) -> None:
    # Given the agent's schedule on the alias, and since the proposal the team's own action beside it
    _agent_schedule()
    _team_action()
    scheduled = _actions()
    # When a level or a new schedule is applied
    with pytest.raises(ConflictError, match="scheduled action 'team-warmup'") as caught:
        if change == "level":
            _applier().apply_pc(FN, ALIAS, 5)
        else:
            _applier().apply_pc_schedule(FN, ALIAS, [{"schedule": "cron(0 9 ? * * *)", "capacity": 4}])
    # Then nothing was touched: it is the team's to scale
    assert caught.value.restored and _pc() == 0 and _actions() == scheduled


def test_restoring_a_static_level_puts_the_schedule_it_replaced_back(account: Twin) -> None:
    # Given a static level that replaced the agent's schedule
    scheduled = _agent_schedule()
    applier = _applier()
    applied = applier.apply_pc(FN, ALIAS, 5)
    assert _actions() == {}
    # When it is restored (a rollback or a revert)
    applier.restore(applied.before)
    # Then the schedule is back as it was, action by action, and carried out again
    assert _actions() == scheduled
    account.advance(NOW + timedelta(hours=1, minutes=30))
    assert _pc() == 2


def test_a_level_that_fails_puts_the_schedule_back(account: Twin) -> None:
    # Given the agent's schedule on the alias
    scheduled = _agent_schedule()
    # When a level above the account's unreserved concurrency fails
    with pytest.raises(PcFailedError) as caught:
        _applier().apply_pc(FN, ALIAS, 100_000)
    # Then nothing is left half made: no PC, the whole schedule in place
    assert caught.value.restored is True
    assert _pc() == 0 and _actions() == scheduled


def test_pc_on_an_alias_without_a_schedule_records_and_restores_only_the_level(account: Twin) -> None:
    # Given an alias without scheduled actions
    applier = _applier()
    # When a level is applied and restored
    applied = applier.apply_pc(FN, ALIAS, 3)
    assert _pc() == 3
    applier.restore(applied.before)
    # Then `before` is the plain level, PC is gone again, and no schedule appeared
    assert applied.before == {"kind": "pc", "function": FN, "qualifier": ALIAS, "pc": 0}
    assert _pc() == 0 and _actions() == {}


# ---------------------------------------------------------------- paging (Stubber)


def _page(first: int, count: int, token: str | None = None) -> dict[str, Any]:
    actions = [
        {
            **TARGET,
            "ScheduledActionName": f"lambda-tuner-pc-hourly-{i:03d}",
            "ScheduledActionARN": f"arn:aws:autoscaling:us-east-1:1:scheduledAction:x:{i}",
            "Schedule": f"cron({i % 60} {i % 24} ? * * *)",
            "ScalableTargetAction": {"MinCapacity": i % 7, "MaxCapacity": i % 7},
            "CreationTime": NOW,
        }
        for i in range(first, first + count)
    ]
    return {"ScheduledActions": actions, **({"NextToken": token} if token else {})}


OFFLINE = boto3.Session(region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


def test_a_schedule_longer_than_a_page_is_read_and_removed_whole() -> None:
    # Given 120 agent actions on the alias, which AWS answers in three pages
    aas, lam = OFFLINE.client("application-autoscaling"), OFFLINE.client("lambda")
    aas_stub, lam_stub = Stubber(aas), Stubber(lam)
    aas_stub.add_response("describe_scaling_policies", {"ScalingPolicies": []}, TARGET)
    aas_stub.add_response("describe_scheduled_actions", _page(0, 50, "t1"), TARGET)
    aas_stub.add_response("describe_scheduled_actions", _page(50, 50, "t2"), {**TARGET, "NextToken": "t1"})
    aas_stub.add_response("describe_scheduled_actions", _page(100, 20), {**TARGET, "NextToken": "t2"})
    for i in range(120):
        name = f"lambda-tuner-pc-hourly-{i:03d}"
        aas_stub.add_response("delete_scheduled_action", {}, {**TARGET, "ScheduledActionName": name})
    # ...and no PC yet, so removing it is a read only
    not_found = "ProvisionedConcurrencyConfigNotFoundException"
    for _ in range(2):
        lam_stub.add_client_error("get_provisioned_concurrency_config", not_found, http_status_code=404)
    # When PC is removed from the alias
    with aas_stub, lam_stub:
        applied = Applier(lam, aas_client=aas, cw_client=object()).apply_pc(FN, ALIAS, 0)
        # Then every action on every page was deleted, and `before` holds all of them to restore
        aas_stub.assert_no_pending_responses()
        lam_stub.assert_no_pending_responses()
    assert len(applied.before["actions"]) == 120
    assert applied.before["actions"][119] == {
        "name": "lambda-tuner-pc-hourly-119",
        "schedule": "cron(59 23 ? * * *)",
        "timezone": "UTC",
        "capacity": 119 % 7,
    }


def test_pc_a_teams_target_tracking_policy_scales_is_refused(account: Twin) -> None:
    from test_review2_pc_restore_team import _range, _team_takes_over

    _team_takes_over()  # the team's range 2-40 and its target tracking within it
    with pytest.raises(ConflictError, match="scaling policy 'pc-utilisation'"):
        _applier().apply_pc(FN, ALIAS, 5)
    assert _pc() == 0 and _range() == (2, 40)  # nothing set, the team's range untouched


def test_the_agents_own_schedule_comes_off_beside_a_teams_and_an_undo_puts_it_back(account: Twin) -> None:
    # Given the agent's schedule on the alias, and since then an action of the team's own
    ours = _agent_schedule()
    _team_action()
    both = _actions()
    # When the agent's schedule is taken off (what the agent proposes once someone else scales this PC)
    applier = _applier()
    applied = applier.apply_pc_schedule(FN, ALIAS, [])
    # Then only the team's action is left, and a rollback would put the agent's back as it was
    assert _actions() == {"team-warmup": both["team-warmup"]}
    assert {a["name"] for a in applied.before["actions"]} == set(ours)
    applier.restore(applied.before)
    assert _actions() == both
