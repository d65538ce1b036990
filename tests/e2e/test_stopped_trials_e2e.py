"""A memory experiment its guards stopped is not tried again once its day leaves the look-back. The agent
used to forget the stop with the epochs: on the twin, orders-api's trial at 576 MB (from 1,141 MB) was
rolled back by its stops on day 6, and on day 21, its day 14 days gone, a trial at 608 MB was made and
rolled back again. The user paid for it twice and read two rollback notices. A stop now rules out its
size, the sizes near it and those beyond it (less memory, for a trial too slow below the size in force)
for 90 days, or until the function's code changes; inside the look-back the epochs speak for it. An
ordinary memory move its p99 alarm rolled back is remembered the same way, and from the next day: it is
undone within minutes, in an hour collection drops, so no epoch ever spoke for it. On the twin, orders-api's
move from 1,760 to 1,408 MB, slow there, was rolled back on day 3 and made again (to 1,411 MB) on day 4."""

from __future__ import annotations

from datetime import datetime, timedelta

from e2e_support import T0, Account

from lambda_tuner.core.models import Recommendation

NEAR = 2**0.2  # exploration.NEAR_OBSERVED_LOG2: sizes this close to a tried one teach little new
LOOKBACK_DAYS = 14  # the deployed default (LookbackDays)


def _in_stopped_ground(size: int, tried_from: int, stopped_at: int) -> bool:
    """Whether `size` is the stopped trial's size, near it, or beyond it away from where it was tried."""
    if stopped_at < tried_from:
        return size <= stopped_at * NEAR and size < tried_from
    return size >= stopped_at / NEAR and size > tried_from


def test_a_trial_its_guards_stopped_is_not_tried_again_after_the_lookback(auto: Account) -> None:
    # Given the agent in auto mode, running daily for three weeks: long enough for a trial it makes in
    # the first days and its guards stop to leave the 14-day look-back of the decision
    store = auto.store()
    days = 21
    for day in range(days):
        auto.run_agent(T0 + timedelta(days=day))
    # (the scenario: an experiment its guards rolled back, its day out of the look-back before the end)
    recs = {r.id: r for r in store.list_recommendations()}
    audit = store.list_audit()
    trials = [
        r
        for r in audit
        if r.type == "change" and r.data.get("ok") and recs[str(r.recommendation_id)].kind == "experiment"
    ]
    stopped = [
        (r, recs[str(r.recommendation_id)])
        for r in audit
        if r.type == "rollback"
        and r.data.get("alarm")
        and recs[str(r.recommendation_id)].kind == "experiment"
    ]
    assert stopped, "the scenario needs an experiment its guards stopped"
    first = min(stop.at for stop, _ in stopped)
    assert T0 + timedelta(days=days - 1) - first > timedelta(days=LOOKBACK_DAYS), (
        "and the days past its look-back"
    )
    # Then no experiment of that function made after the stop left the look-back tried the stopped
    # ground again: its size, a size near it, or further in the same direction from the size in force
    # (inside the look-back the decision's epochs hold what the trial measured, and the model weighs it)
    retried = [
        f"{rec.function}: a trial at {_size(trial.data['after'])} MB on {trial.at:%Y-%m-%d}, after "
        f"the one at {rec.proposed['memory_mb']} MB (from {rec.current['memory_mb']} MB) was stopped "
        f"on {stop.at:%Y-%m-%d}"
        for stop, rec in stopped
        for trial in trials
        if trial.function == rec.function
        and trial.at > stop.at + timedelta(days=LOOKBACK_DAYS)
        and _in_stopped_ground(_size(trial.data["after"]), _size(rec.current), _size(rec.proposed))
    ]
    assert retried == [], retried
    # and what a stopped trial measured before its stop (its calls made an epoch: stopped after hours)
    # is remembered past its look-back, for the model to weigh as it did inside it (remembered.py);
    # where a stop's calls never made an epoch, only the stop itself speaks, and the reason says so
    # (the next test)
    for _, rec in stopped:
        state = store.get_function_state(rec.function)
        kept = {e["memory_mb"] for g in state.get("measured_sizes", []) for e in g["epochs"]}
        assert rec.proposed["memory_mb"] in kept, (rec.function, rec.proposed, sorted(kept))


def _size(config: object) -> int:
    assert isinstance(config, dict), config
    return int(config["memory_mb"])



SLOWER = 4.0  # how much slower the function runs at the size a move set, until its guards undo it


def _slow_at_the_first_move(account: Account, now: datetime) -> Recommendation | None:
    """The first ordinary memory move the cycle at `now` made, slow at its new size (SLOWER) until its
    p99 alarm rolls it back (within minutes: the alarm of an ordinary change judges minutes); None if
    it made none."""
    made = [r for r in account.store().list_recommendations(status="APPLIED") if r.kind == "memory"]
    if not made:
        return None
    account.world.inject_regression(made[0].function, SLOWER, at=now + timedelta(minutes=1))
    account.twin.advance(now + timedelta(minutes=6))
    account.world.inject_regression(made[0].function, 1.0, at=now + timedelta(minutes=6))
    return made[0]


def test_a_move_its_guards_rolled_back_is_not_made_again(auto: Account) -> None:
    # Given the agent in auto mode, running daily for three weeks, and the first ordinary memory move it
    # makes (the model's best estimate, on all traffic) slow at its new size: its p99 alarm rolls it back
    store = auto.store()
    days, moved = 21, None
    for day in range(days):
        now = T0 + timedelta(days=day)
        auto.run_agent(now)
        moved = moved or _slow_at_the_first_move(auto, now)
    assert moved is not None, "the scenario needs an ordinary memory move"
    audit = store.list_audit(function=moved.function)
    [stop] = [r for r in audit if r.type == "rollback" and r.recommendation_id == moved.id]
    assert stop.data.get("alarm") and stop.data.get("ok"), stop.data
    last = T0 + timedelta(days=days - 1)
    assert last - stop.at > timedelta(days=LOOKBACK_DAYS), "and days past its look-back"
    # Then no later change of that function goes to the size it set, near it, or further that way from
    # the size in force: neither the next day (its slow minutes fall in the hour the rollback straddles,
    # which the epochs drop: the model never saw them) nor once its day has left the look-back
    start, size = _size(moved.current), _size(moved.proposed)
    kinds = {r.id: r.kind for r in store.list_recommendations()}
    again = [
        f"{r.at:%Y-%m-%d}: {kinds[str(r.recommendation_id)]} to {_size(r.data['after'])} MB"
        for r in audit
        if r.type == "change"
        and r.data.get("ok")
        and r.at > stop.at
        and _in_stopped_ground(_size(r.data["after"]), start, size)
    ]
    assert again == [], f"a move {start} → {size} MB rolled back on {stop.at:%Y-%m-%d}, then: {again}"
    # and the next day's reason says why the agent keeps away from it, and until when
    next_day = (stop.at + timedelta(days=1)).date()
    said = [str(r.data["reason"]) for r in audit if r.type == "recommendation" and r.at.date() == next_day]
    way = "less" if size < start else "more"
    told = (
        f"a change to {size} MB was rolled back by its guards on {stop.at:%Y-%m-%d}: it and {way} memory "
        f"are ruled out until {stop.at + timedelta(days=90):%Y-%m-%d} or a code change"
    )
    assert any(told in reason for reason in said), said
