"""A rollback that did not bring the function's latency back says nothing about memory. An alarm can fire
for what happens beside a change (a bad dependency, a slow downstream): the rollback restores the old size
and the function stays as slow there. The agent used to rule out the changed-to size, those near it and
those beyond it for 90 days all the same: in the demo, hash-worker's move 256 -> 512 MB, rolled back by its
p99 alarm two minutes after a x4 slowdown of the whole function began, ruled out 446 MB and more for 90
days although it stayed x4 slower at 256 MB. Such a stop is now set aside, and the verdict is kept in the
function's state, since the epochs that tell it leave the look-back long before the 90 days are over."""

from __future__ import annotations

from datetime import timedelta

from memory_support import NOW, T0, epoch, function

from lambda_tuner.core.decide import Decider
from lambda_tuner.core.models import Epoch, FunctionConfig, Observations
from lambda_tuner.core.stopped_trials import SET_ASIDE_KEY, StoppedTrial, not_about_memory

D, H, MINUTE = timedelta(days=1), timedelta(hours=1), timedelta(minutes=1)
MADE = T0 + 28 * D  # when the move was made; its p99 alarm rolled it back three minutes later
CALLS = 40 * 60 * 24  # a day's calls at 40 a minute


def moved(**update: object) -> StoppedTrial:
    """A move 3,008 -> 1,760 MB its p99 alarm rolled back: it rules out 1,760 MB, the sizes near it and
    less memory, for 90 days."""
    trial = StoppedTrial(
        function="fn",
        from_mb=3008,
        trial_mb=1760,
        tried_at=MADE,
        stopped_at=MADE + 3 * MINUTE,
        code_sha256="sha-a",
        alarm="lambda-tuner-rollback-fn-2-p99",
        recommendation_id="rec-moved",
    )
    return trial.model_copy(update=update)


def seen(*epochs: Epoch) -> Observations:
    return Observations(function="fn", window_start=epochs[0].start, window_end=epochs[-1].end, epochs=epochs)


def around_the_move(
    slower: float, hours_after: int = 23, after_mb: int = 3008, gap_hours: int = 1
) -> Observations:
    """An I/O-bound function (80 ms whatever its memory) a day at 3,008 MB before the move, and from the
    hour after its rollback (`gap_hours` after the move) `slower` x as slow for `hours_after` hours, at
    `after_mb` (the hour the move and its rollback fall in is dropped by collection)."""
    before = epoch(3008, 80.0, day=27, invocations=CALLS)
    after = epoch(after_mb, 80.0 * slower, day=28, invocations=CALLS * hours_after // 24)
    begins = MADE + H * gap_hours
    span = {"start": begins, "end": begins + H * hours_after, "periods": hours_after}
    after = after.model_copy(update=span)
    return seen(before, after)


def fn() -> FunctionConfig:
    return function(3008).model_copy(update={"code_sha256": "sha-a"})


def proposed(
    decider: Decider, obs: Observations, state: dict[str, object], stopped: list[StoppedTrial]
) -> int:
    return int(decider.decide(fn(), obs, state, stopped)[0].proposed["memory_mb"] or 0)


def test_a_rollback_after_which_the_restored_size_stayed_slow_is_not_about_memory() -> None:
    # Given the function four times slower at 3,008 MB after the rollback than before the move
    # Then the rollback says nothing about 1,760 MB
    assert not_about_memory(moved(), around_the_move(4.0))
    # and so for a slowdown of half as much again, the least a move's p99 alarm needs (1.5 x the upper
    # bound of the p99 it projected)
    assert not_about_memory(moved(), around_the_move(1.5))


def test_a_rollback_that_brought_latency_back_stays_a_stop() -> None:
    # Given the function as fast at 3,008 MB after the rollback as before the move (the usual case), or a
    # little slower: a day's noise, or an incident too mild to tell from a size that was too slow
    for slower in (1.0, 0.9, 1.2, 1.4):
        # Then the rollback is held against 1,760 MB
        assert not not_about_memory(moved(), around_the_move(slower)), slower


def test_where_the_epochs_cannot_tell_the_stop_is_kept() -> None:
    # Given no epoch at 3,008 MB before the move (the window starts after it) ...
    only_after = seen(around_the_move(4.0).epochs[1])
    assert not not_about_memory(moved(), only_after)
    # ... fewer than six hours of calls after the rollback ...
    assert not not_about_memory(moved(), around_the_move(4.0, hours_after=5))
    # ... the first hours after the rollback missing (no calls then) ...
    assert not not_about_memory(moved(), around_the_move(4.0, gap_hours=5))
    # ... the changed size's epoch running on past the rollback (the epochs belie its time) ...
    trial_day = epoch(1760, 80.0, day=28, invocations=CALLS)
    next_day = epoch(3008, 320.0, day=29, invocations=CALLS)
    assert not not_about_memory(moved(), seen(around_the_move(1.0).epochs[0], trial_day, next_day))
    # ... or, after the rollback, the function at another size first (someone changed it again)
    assert not not_about_memory(moved(), around_the_move(4.0, after_mb=2048))
    # Then the stop is kept
    # and a slowdown that came only after the next change is no verdict on this rollback
    normal, later = around_the_move(1.0).epochs[1], epoch(3008, 320.0, day=30, invocations=CALLS)
    assert not not_about_memory(moved(), seen(around_the_move(1.0).epochs[0], normal, later))


def test_the_decision_sets_the_stop_aside_and_the_reason_says_so() -> None:
    decider = Decider(NOW, lambda: "rec-1")
    # Given the function back to normal at 3,008 MB after the rollback: the stop rules out 1,760 MB and less
    normal = around_the_move(1.0)
    assert proposed(decider, normal, {}, []) == 1760
    assert proposed(decider, normal, {}, [moved()]) > 1760 * 2**0.2
    # When it stayed four times slower there instead
    slow = around_the_move(4.0)
    free = decider.decide(fn(), slow, {}, [])[0]
    memory = decider.decide(fn(), slow, {}, [moved()])[0]
    # Then the stop rules nothing out: the decision is the one made without it
    assert (memory.kind, memory.proposed) == (free.kind, free.proposed)
    assert int(free.proposed["memory_mb"] or 0) <= 1760 * 2**0.2, free.proposed  # (which the stop forbids)
    # and the reason says why, in one sentence
    said = (
        f"the rollback of the change to 1760 MB on {MADE:%Y-%m-%d} is not held against 1760 MB: the "
        "function stayed as slow at 3008 MB after it"
    )
    assert memory.reason.summary == f"{free.reason.summary} — {said}"


def test_the_verdict_outlives_the_look_back() -> None:
    # Given the cycle after the rollback, the function four times slower at 3,008 MB after it
    stop = moved()
    state = Decider(NOW, lambda: "rec-1").updated_state(fn(), around_the_move(4.0), {}, [stop])
    # Then the function's state remembers the stop set aside, by the rolled-back change's id, until the
    # stop would have ended
    assert state[SET_ASIDE_KEY] == {"rec-moved": f"{stop.until:%Y-%m-%d}"}
    # When, 20 days on, the rollback's day has left the look-back (the epochs can no longer tell) and the
    # function is back to normal at 3,008 MB
    later = T0 + 49 * D
    decider = Decider(later, lambda: "rec-2")
    now_seen = seen(epoch(3008, 80.0, day=48, invocations=CALLS))
    assert not not_about_memory(stop, now_seen)
    # Then the stop does not come back: 1,760 MB is tried again, as without it, and the reason says why
    memory = decider.decide(fn(), now_seen, state, [stop])[0]
    assert memory.proposed["memory_mb"] == 1760, memory.proposed
    assert f"the rollback of the change to 1760 MB on {MADE:%Y-%m-%d} is not held" in memory.reason.summary
    # (where the state had not kept it, the stop would rule 1,760 MB out)
    assert proposed(decider, now_seen, {}, [stop]) > 1760 * 2**0.2
    # and the state keeps it as long as the stop would hold, no longer
    assert decider.updated_state(fn(), now_seen, state, [stop])[SET_ASIDE_KEY] == state[SET_ASIDE_KEY]
    over = Decider(stop.until + D, lambda: "rec-3")
    assert SET_ASIDE_KEY not in over.updated_state(fn(), now_seen, state, [stop])


def test_a_verdict_is_kept_only_for_a_stop_in_force() -> None:
    # Given the stop made on other code than the function runs now: it rules nothing out, and nothing
    # about it is remembered
    other = moved(code_sha256="sha-b")
    assert SET_ASIDE_KEY not in Decider(NOW, lambda: "rec-1").updated_state(
        fn(), around_the_move(4.0), {}, [other]
    )
