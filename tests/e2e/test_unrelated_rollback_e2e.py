"""A rollback after which the function stayed just as slow at the size it restored says nothing about memory,
and rules nothing out. On the twin, as in the demo: a memory move made, a slowdown of the whole function
beginning a minute later (a bad dependency), the move's p99 alarm rolling it back, and the function as slow
at its old size from then on. The agent used to rule the move's size out, and those near and beyond it, for
90 days all the same. The next cycle now sets the stop aside, says so, and remembers it in the function's
state (the epochs that tell it leave the look-back long before the 90 days are over)."""

from __future__ import annotations

from datetime import datetime, timedelta

from e2e_support import T0, Account
from test_stopped_trials_e2e import _size

from lambda_tuner.core.models import Recommendation
from lambda_tuner.core.stopped_trials import SET_ASIDE_KEY

SLOWER = 4.0  # the incident: the whole function this much slower, whatever its memory (the demo's)


def _incident_at_the_first_move(account: Account, now: datetime) -> Recommendation | None:
    """The first ordinary memory move the cycle at `now` made, and from a minute after it the function
    SLOWER x as slow at every size, for good: its p99 alarm rolls the move back within minutes, and the
    size restored stays as slow. None if the cycle made no move."""
    made = [r for r in account.store().list_recommendations(status="APPLIED") if r.kind == "memory"]
    if not made:
        return None
    account.world.inject_regression(made[0].function, SLOWER, at=now + timedelta(minutes=1))
    account.twin.advance(now + timedelta(minutes=6))
    return made[0]


def test_a_rollback_the_function_stayed_as_slow_after_is_not_held_against_memory(auto: Account) -> None:
    # Given the agent in auto mode, running daily, and an incident beginning a minute after the first
    # ordinary memory move it makes
    store, moved, day = auto.store(), None, 0
    while moved is None and day < 6:
        now = T0 + timedelta(days=day)
        auto.run_agent(now)
        moved = _incident_at_the_first_move(auto, now)
        day += 1
    assert moved is not None, "the scenario needs an ordinary memory move"
    # (its p99 alarm rolled it back)
    [stop] = [
        r
        for r in store.list_audit(function=moved.function)
        if r.recommendation_id == moved.id and r.type == "rollback"
    ]
    assert stop.data.get("alarm") and stop.data.get("ok"), stop.data
    # When the agent runs the next day, the function as slow at the size restored as the move was
    auto.run_agent(T0 + timedelta(days=day))
    # Then that day's reason says the rollback is not held against the size the move set
    start, size = _size(moved.current), _size(moved.proposed)
    said = (
        f"the rollback of the change to {size} MB on {stop.at:%Y-%m-%d} is not held against {size} MB: "
        f"the function stayed as slow at {start} MB after it"
    )
    reasons = [
        str(r.data["reason"])
        for r in store.list_audit(function=moved.function)
        if r.type == "recommendation" and r.at.date() == (T0 + timedelta(days=day)).date()
    ]
    assert any(said in reason for reason in reasons), reasons
    # and the function's state remembers it, by the rolled-back change, for when the epochs no longer
    # hold the days that tell it
    assert moved.id in store.get_function_state(moved.function).get(SET_ASIDE_KEY, {})
