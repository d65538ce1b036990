"""A rollback judged against the size's latency on the code in force, not on code deployed over since.

`not_about_memory` sets a stop aside when the size restored stayed 1.5 x slower after the rollback than
before the change. Epochs do not know the code: collection splits them at memory changes only, so the
stretch at the size in force before a move runs on through a deploy. Where a deploy made the function
about 1.6 x slower just before a move its p99 alarm then rightly rolled back, the restored size was as
slow after the rollback as it had been since the deploy, yet read as 1.5 x slower than "before", and
the stop was set aside: the same move was proposed again, to be rolled back again."""

from __future__ import annotations

from datetime import timedelta

from memory_support import T0, epoch, function

from lambda_tuner.core.decide import Decider
from lambda_tuner.core.models import Epoch, FunctionConfig, Observations
from lambda_tuner.core.stopped_trials import SET_ASIDE_KEY, StoppedTrial

D, H, MINUTE = timedelta(days=1), timedelta(hours=1), timedelta(minutes=1)
DEPLOYED = T0 + 27 * D  # sha-b, 1.6 x slower than sha-a at every size
PROPOSED = DEPLOYED + 6 * H  # the cycle that proposed the move, on sha-b already
MADE = DEPLOYED + 12 * H  # when the move was made; its p99 alarm rolled it back three minutes later
CALLS = 40 * 60 * 24  # a day's calls at 40 a minute
FAST, SLOW = 80.0, 128.0


def fn(code: str) -> FunctionConfig:
    return function(3008).model_copy(update={"code_sha256": code})


def stop() -> StoppedTrial:
    """The move 3,008 -> 1,760 MB, made and rolled back on sha-b."""
    return StoppedTrial(
        function="fn",
        from_mb=3008,
        trial_mb=1760,
        tried_at=MADE,
        stopped_at=MADE + 3 * MINUTE,
        code_sha256="sha-b",
        alarm="lambda-tuner-rollback-fn-2-p99",
        recommendation_id="rec-moved",
    )


def at_3008(start: object, end: object, mean_ms: float, calls: int, hours: int) -> Epoch:
    span = {"start": start, "end": end, "invocations": calls, "periods": hours}
    return epoch(3008, mean_ms, invocations=calls).model_copy(update=span)


def look_back(now_end: object, *after: Epoch) -> Observations:
    """Two weeks at 3,008 MB up to the move, as collection gives them: one epoch across the deploy, its
    durations the calls-weighted mean of 13.5 days on sha-a and half a day on sha-b."""
    mean = (13 * FAST + 0.5 * SLOW) / 13.5
    before = at_3008(MADE - 13.5 * D, MADE, mean, int(13.5 * CALLS), 13 * 24 + 12)
    return Observations(function="fn", window_start=before.start, window_end=now_end, epochs=(before, *after))


def test_a_rollback_on_code_deployed_just_before_the_move_stays_a_stop() -> None:
    # Given the cycles before the deploy (sha-a) and after it, the second proposing the move
    state = Decider(DEPLOYED - 18 * H, lambda: "r0").updated_state(
        fn("sha-a"), look_back(DEPLOYED - 18 * H), {}, []
    )
    state = Decider(PROPOSED, lambda: "r1").updated_state(fn("sha-b"), look_back(PROPOSED), state, [])
    # And after the rollback, a day at 3,008 MB on sha-b as slow as it was since the deploy
    after = at_3008(MADE + H, MADE + 24 * H, SLOW, CALLS * 23 // 24, 23)
    now = MADE + 25 * H
    obs = look_back(now, after)
    decider = Decider(now, lambda: "r2")
    # When the next cycle decides
    memory = decider.decide(fn("sha-b"), obs, state, [stop()])[0]
    # Then the stop holds: 1,760 MB and less stay ruled out, and nothing is set aside
    # (it used to be set aside, the size read as 1.57 x slower than two weeks mostly on the old code)
    assert int(memory.proposed.get("memory_mb") or 3008) > 1760 * 2**0.2, memory.proposed
    assert "is not held against" not in memory.reason.summary
    assert SET_ASIDE_KEY not in decider.updated_state(fn("sha-b"), obs, state, [stop()])
