"""A revert whose PC undo was left to a team's scaling says so in its result (what `lambda-tuner revert`
prints), not "reverted" with the recorded `before` as what it put back."""

from __future__ import annotations

from datetime import timedelta

from approval_support import AUDIT, NOW, STATE
from test_review2_pc_restore_team import ALIAS, FN, SCHEDULE, _applier, _team_takes_over
from twin_support import Live

from lambda_tuner.adapters.apply_flow import ApplyFlow
from lambda_tuner.adapters.notifier import Notifier
from lambda_tuner.adapters.store import Store


def test_a_revert_left_to_a_team_says_so_in_its_result(live: Live) -> None:
    store, applier = Store(STATE, AUDIT), _applier()
    applied = applier.apply_pc_schedule(FN, ALIAS, SCHEDULE)
    data = {"ok": True, "before": applied.before, "after": applied.after, "alarms": []}
    store.append_audit("change", NOW + timedelta(hours=1), function=FN, recommendation_id="rec-s", data=data)
    _team_takes_over()
    [result] = ApplyFlow(store, applier, Notifier(live.deployed.account.topic_arn)).revert(
        NOW, FN, NOW + timedelta(hours=30)
    )
    assert result.ok
    assert "pc-utilisation" in result.message, result.message
    assert result.after.get("pc") is None, result.after  # the level before was not put back


def test_an_alarm_rollback_left_to_a_team_says_so_and_keeps_its_scaling(live: Live) -> None:
    from test_review2_pc_restore_team import _actions, _range, guarded_schedule

    # Given the agent's PC schedule applied through the apply flow, guarded by its rollback alarms, and
    # since then the team's own target tracking on that PC
    store, flow, change = guarded_schedule(live)
    # When one of the change's alarms fires
    result = flow.on_alarm(str(change.data["alarms"][0]), NOW + timedelta(hours=2))
    # Then only the agent's schedule came off, and the result, the audit and the team's range say so
    assert result is not None and result.ok and "pc-utilisation" in result.message, result
    assert _actions() == set() and _range() == (2, 40)
    rollback = next(r for r in store.list_audit(function=FN) if r.type == "rollback")
    assert rollback.data["left_to"] and rollback.data["restored"]["actions"] == []
