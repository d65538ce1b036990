"""Undoing provisioned-concurrency schedules puts back what was there: the static level a schedule
replaced, the team's own scalable-target range, and (in a revert) the state from before the first of
several PC changes on one alias, whatever their kinds. Against the twin over HTTP (Lambda PC and
Application Auto Scaling, whose scheduled actions are carried out as simulated time passes)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from approval_support import AUDIT, NOW, STATE
from test_fix_applier_pc import _pc  # the same function and alias
from twin_support import Live

from lambda_tuner.adapters import aws
from lambda_tuner.adapters.applier import Applied, Applier
from lambda_tuner.adapters.apply_flow import ApplyFlow
from lambda_tuner.adapters.notifier import Notifier
from lambda_tuner.adapters.store import Store
from lambda_tuner.twin.server import Twin

FN, ALIAS = "checkout", "live"
DIMENSION = "lambda:function:ProvisionedConcurrency"
TARGET = {
    "ServiceNamespace": "lambda",
    "ResourceId": f"function:{FN}:{ALIAS}",
    "ScalableDimension": DIMENSION,
}
SCHEDULE = [  # the twin starts at 09:00 UTC: 8 from 10:00, 0 from 18:00
    {"schedule": "cron(0 10 ? * * *)", "capacity": 8, "timezone": "UTC"},
    {"schedule": "cron(0 18 ? * * *)", "capacity": 0, "timezone": "UTC"},
]


@pytest.fixture
def account(live: Live) -> Iterator[Twin]:
    yield live.twin


def _applier() -> Applier:
    return Applier(sleep=lambda _: None, poll_delay_s=1)


def _actions() -> set[str]:
    got = aws.client("application-autoscaling").describe_scheduled_actions(**TARGET)["ScheduledActions"]
    return {a["ScheduledActionName"] for a in got}


def _range() -> tuple[int, int] | None:
    got = aws.client("application-autoscaling").describe_scalable_targets(
        ServiceNamespace="lambda", ResourceIds=[TARGET["ResourceId"]], ScalableDimension=DIMENSION
    )["ScalableTargets"]
    return (got[0]["MinCapacity"], got[0]["MaxCapacity"]) if got else None


@pytest.mark.parametrize("static", [0, 3])
def test_undoing_a_schedule_puts_back_the_static_level_it_replaced(account: Twin, static: int) -> None:
    # Given an alias at a static level (or none), and the agent's schedule put on it
    applier = _applier()
    if static:
        applier.apply_pc(FN, ALIAS, static)
    applied = applier.apply_pc_schedule(FN, ALIAS, SCHEDULE)
    # ...whose 10:00 action has raised PC to its peak
    account.advance(NOW + timedelta(hours=1, minutes=30))
    assert _pc() == 8
    # When the schedule is undone (a rollback alarm, a revert)
    applier.restore(applied.before)
    # Then the alias is back at its static level, not held at the peak with no action left to lower it
    assert _actions() == set()
    assert _pc() == static
    account.advance(NOW + timedelta(days=1, hours=2))
    assert _pc() == static


def test_a_schedule_keeps_the_teams_scalable_target_range_and_its_undo_leaves_it_as_it_was(
    account: Twin,
) -> None:
    # Given a scalable target the team registered on the alias (their own scaling, 2 to 40)
    aas = aws.client("application-autoscaling")
    aas.register_scalable_target(**TARGET, MinCapacity=2, MaxCapacity=40)
    applier = _applier()
    # When the agent schedules PC on it and the schedule is then undone
    applied = applier.apply_pc_schedule(FN, ALIAS, SCHEDULE)
    applier.restore(applied.before)
    # Then the team's range is what it was before the agent came
    assert _range() == (2, 40)


def test_undoing_the_first_schedule_leaves_no_scalable_target_behind(account: Twin) -> None:
    applier = _applier()
    applied = applier.apply_pc_schedule(FN, ALIAS, SCHEDULE)
    assert _range() is not None
    applier.restore(applied.before)
    assert _range() is None and _actions() == set()


def _record(store: Store, applied: Applied, at_hours: int, rec_id: str) -> None:
    data: dict[str, Any] = {"ok": True, "before": applied.before, "after": applied.after, "alarms": []}
    store.append_audit(
        "change", NOW + timedelta(hours=at_hours), function=FN, recommendation_id=rec_id, data=data
    )


@pytest.mark.parametrize("order", ["schedule, then static", "static, then schedule"])
def test_a_revert_over_a_schedule_and_a_static_level_leaves_the_alias_without_the_agents_schedule(
    live: Live, order: str
) -> None:
    # Given an alias without PC; then the agent's schedule and a static level on it, in either order, a
    # day apart (a static level takes the schedule off the alias), each recorded as a change
    store, applier = Store(STATE, AUDIT), _applier()
    steps = [
        ("rec-schedule", lambda: applier.apply_pc_schedule(FN, ALIAS, SCHEDULE)),
        ("rec-static", lambda: applier.apply_pc(FN, ALIAS, 5)),
    ]
    for hour, (rec_id, step) in enumerate(steps if order.startswith("schedule") else steps[::-1]):
        _record(store, step(), 1 + 2 * hour, rec_id)
        live.twin.advance(NOW + timedelta(hours=2 + 2 * hour))
    # When everything since before the first change is reverted
    flow = ApplyFlow(store, applier, Notifier(live.deployed.account.topic_arn))
    results = flow.revert(NOW, FN, NOW + timedelta(hours=5))
    # Then the alias is as it was: no PC, and none of the agent's actions left to bring it back
    assert results and all(r.ok for r in results)
    assert _actions() == set()
    assert _pc() == 0


def test_a_scheduled_action_already_gone_counts_as_deleted(account: Twin) -> None:
    # Given the agent's schedule, one of whose actions someone deleted by hand after it was read (or a
    # retried delete whose first attempt landed)
    applier = _applier()
    applier.apply_pc_schedule(FN, ALIAS, SCHEDULE)
    read = applier._our_actions(TARGET["ResourceId"])
    aws.client("application-autoscaling").delete_scheduled_action(
        **TARGET, ScheduledActionName=read[0]["name"]
    )
    # When the schedule is replaced from what was read, then the missing action is no error
    applier._put_schedule(TARGET["ResourceId"], SCHEDULE[:1], read)
    assert len(_actions()) == 1
