"""A memory experiment its guards stopped is not tried again once its day leaves the look-back. The agent
used to forget the stop with the epochs: on the twin, orders-api's trial at 576 MB (from 1,141 MB) was
rolled back by its stops on day 6, and on day 21, its day 14 days gone, a trial at 608 MB was made and
rolled back again. The user paid for it twice and read two rollback notices. A stop now rules out its
size, the sizes near it and those beyond it (less memory, for a trial too slow below the size in force)
for 90 days, or until the function's code changes; inside the look-back the epochs speak for it."""

from __future__ import annotations

from datetime import timedelta

from e2e_support import T0, Account

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
    # and where a stop kept the agent from trying, the reason says so, and until when
    said = [str(r.data["reason"]) for r in audit if r.type == "recommendation" and r.function == "orders-api"]
    told = [
        (
            f"a change to {rec.proposed['memory_mb']} MB was rolled back by its guards on {stop.at:%Y-%m-%d}",
            f"until {stop.at + timedelta(days=90):%Y-%m-%d} or a code change",
        )
        for stop, rec in stopped
        if rec.function == "orders-api"
    ]
    assert any(words in s and until in s for s in said for words, until in told), said


def _size(config: object) -> int:
    assert isinstance(config, dict), config
    return int(config["memory_mb"])
