"""A memory change its guards rolled back (an experiment, or an ordinary move) rules out its size, the
sizes near it and those beyond it (away from the size in force) for 90 days, unless the function's code
changed since. The agent used to forget a stop with the epochs, once they left the decision's look-back,
and tried the same ground again; an ordinary move its guards undid it forgot always."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
from memory_support import NOW, epoch, function, observe

from lambda_tuner.core.decide import Decider
from lambda_tuner.core.models import Observations, Reason, Recommendation
from lambda_tuner.core.optimizer import MemoryPolicy, decide_memory
from lambda_tuner.core.pricing import default_prices
from lambda_tuner.core.stopped_trials import STOPPED_FOR, StoppedTrial, in_force, ruled_out, stopped_trial

PRICES = default_prices()


def one_day_at_3008() -> Observations:
    """An I/O-bound function (80 ms whatever its memory) seen one day at 3,008 MB, 40 calls a minute:
    the agent proposes a trial at less memory (1,760 MB)."""
    e = epoch(3008, 80.0, invocations=40 * 60 * 24)
    return Observations(function="fn", window_start=e.start, window_end=e.end, epochs=(e,))


def stop(
    trial_mb: int, *, from_mb: int = 3008, days_ago: float = 20, code: str | None = "sha-a"
) -> StoppedTrial:
    return StoppedTrial(
        function="fn",
        from_mb=from_mb,
        trial_mb=trial_mb,
        stopped_at=NOW - timedelta(days=days_ago),
        code_sha256=code,
        alarm="lambda-tuner-rollback-fn-1-stop",
    )


def ruled_out_of(stopped: list[StoppedTrial], current_mb: int, *mb: int) -> list[int]:
    """The sizes among `mb` that `stopped` rules out for a function at `current_mb`."""
    m = np.array([float(v) for v in mb])
    return [int(v) for v in m[ruled_out(m, stopped, current_mb)]]


def test_a_trial_too_slow_below_rules_out_its_size_those_near_it_and_less_memory() -> None:
    # Given a trial at 576 MB from 1,141 MB that its guards stopped
    stopped = [stop(576, from_mb=1141)]
    # Then 576 MB, the sizes near it (608, 640: within 2^0.2) and everything below are ruled out;
    # the sizes between it and the size in force, the size in force and more memory are not
    got = ruled_out_of(stopped, 1141, 256, 512, 576, 608, 640, 704, 1024, 1141, 2048)
    assert got == [256, 512, 576, 608, 640]


def test_a_trial_too_costly_above_rules_out_more_memory_and_never_the_size_in_force() -> None:
    # Given a trial at 1,024 MB from 512 MB that its guards stopped, and the function at 1,024 MB since
    # (a deploy set it there)
    stopped = [stop(1024, from_mb=512)]
    # Then more memory than ~890 MB is ruled out, but not the size the function runs at now
    assert ruled_out_of(stopped, 1024, 512, 768, 896, 1024, 2048) == [896, 2048]


def test_a_stop_holds_for_90_days_and_no_longer() -> None:
    kept, over = stop(1760, days_ago=89.9), stop(1760, days_ago=90)
    assert timedelta(days=90) == STOPPED_FOR
    assert in_force([kept, over], "sha-a", NOW) == (kept,)


def test_a_stop_on_other_code_rules_nothing_out_and_unknown_code_is_honoured() -> None:
    # Given stops of trials on code sha-a, and one whose code was not recorded
    on_a, unknown = stop(1760), stop(1760, code=None)
    # When the function now runs code sha-b (a new deployment can behave differently)
    assert in_force([on_a, unknown], "sha-b", NOW) == (unknown,)
    # and where the code in force is not known, every stop holds
    assert in_force([on_a], None, NOW) == (on_a,)


def test_a_stopped_trial_is_not_tried_again_and_the_reason_says_until_when() -> None:
    # Given the function the agent asks to try 1,760 MB
    obs, fn = one_day_at_3008(), function(3008)
    first = decide_memory(fn, obs, MemoryPolicy(), PRICES, NOW, "rec-1")
    assert (first.kind, first.proposed["memory_mb"]) == ("experiment", 1760)
    # When that trial was stopped by its guards 40 days ago (its day long out of any look-back)
    stopped = [stop(1760, days_ago=40)]
    again = decide_memory(fn, obs, MemoryPolicy(), PRICES, NOW, "rec-1", stopped=stopped)
    # Then neither 1,760 MB nor a size near or below it is tried or moved to
    assert int(again.proposed["memory_mb"] or 0) > 1760 * 2**0.2, again.proposed
    # and the reason says which change was rolled back, when, and until when it holds
    said = (
        f"a change to 1760 MB was rolled back by its guards on {NOW - timedelta(days=40):%Y-%m-%d}: it and "
        f"less memory are ruled out until {NOW + timedelta(days=50):%Y-%m-%d} or a code change"
    )
    assert said in again.reason.summary and again.reason.decided_by.startswith(said), again.reason


def test_a_stop_that_changes_nothing_is_not_mentioned() -> None:
    # Given a trial stopped above the size in force, while the agent would try less memory anyway
    obs, fn = one_day_at_3008(), function(3008)
    free = decide_memory(fn, obs, MemoryPolicy(), PRICES, NOW, "rec-1")
    ruled = decide_memory(fn, obs, MemoryPolicy(), PRICES, NOW, "rec-1", stopped=[stop(6016)])
    # Then the recommendation is the one made without it, word for word
    assert ruled == free


def test_the_decider_honours_a_stop_on_the_code_in_force_and_not_after_a_deploy_or_90_days() -> None:
    obs = one_day_at_3008()
    decider = Decider(NOW, lambda: "rec-1")

    def proposed(code: str, stopped: list[StoppedTrial]) -> int:
        fn = function(3008).model_copy(update={"code_sha256": code})
        memory = decider.decide(fn, obs, {}, stopped)[0]  # the memory recommendation comes first
        return int(memory.proposed["memory_mb"] or 0)

    assert proposed("sha-a", []) == 1760
    assert proposed("sha-a", [stop(1760)]) > 1760 * 2**0.2  # the same code: ruled out
    assert proposed("sha-b", [stop(1760)]) == 1760  # a new deployment since: tried again
    assert proposed("sha-a", [stop(1760, days_ago=91)]) == 1760  # 90 days are over


def _experiment(kind: str = "experiment") -> Recommendation:
    return Recommendation(
        id="rec-9",
        function="fn",
        kind=kind,  # type: ignore[arg-type]
        created_at=NOW - timedelta(days=30),
        current={"memory_mb": 1141},
        proposed={"memory_mb": 576, "max_days": 1},
        reason=Reason(summary="Try 576 MB", observed="", model="", decided_by="exploration"),
        status="ROLLED_BACK",
    )


def test_a_stopped_trial_is_read_from_what_the_rollback_stored() -> None:
    # Given what the apply function stores when a rollback alarm stops a trial: the alarm, what the
    # change found (its code among it) and the claim stamped with the alarm event's time
    at = NOW - timedelta(days=29, hours=18)
    applied = NOW - timedelta(days=30, hours=6)
    attrs = {
        "applied_at": applied.isoformat(),
        "rolled_back_by": "lambda-tuner-rollback-fn-1-stop",
        "before": {"kind": "memory", "function": "fn", "memory_mb": 1141, "code_sha256": "sha-a"},
        "rollback_claim": {"alarm": "lambda-tuner-rollback-fn-1-stop", "at": at.isoformat(), "owner": "o"},
    }
    trial = stopped_trial(_experiment(), attrs, NOW - timedelta(days=1))
    assert trial == StoppedTrial(
        function="fn",
        from_mb=1141,
        trial_mb=576,
        stopped_at=at,
        code_sha256="sha-a",
        alarm="lambda-tuner-rollback-fn-1-stop",
        tried_at=applied,
        recommendation_id="rec-9",  # a verdict on it is remembered by it
    )
    # A rollback recorded before claims carried a time is dated by the item's last update
    older = {k: v for k, v in attrs.items() if k != "rollback_claim"}
    assert stopped_trial(_experiment(), older, at).stopped_at == at  # type: ignore[union-attr]
    # A person's revert is no verdict of the guards
    assert stopped_trial(_experiment(), {"reverted_by": "cli", "before": attrs["before"]}) is None


ALARM = "lambda-tuner-rollback-fn-2-p99"


def _rolled_back(at: datetime, memory_mb: int = 1760) -> dict[str, object]:
    """What the apply function stores when a change's alarm rolls it back (rollback_flow.py)."""
    return {
        "applied_at": (at - timedelta(minutes=3)).isoformat(),
        "rolled_back_by": ALARM,
        "before": {"kind": "memory", "function": "fn", "memory_mb": memory_mb, "code_sha256": "sha-a"},
        "rollback_claim": {"alarm": ALARM, "at": at.isoformat(), "owner": "o"},
    }


def _move(
    kind: str = "memory", current: dict[str, object] | None = None, proposed: dict[str, object] | None = None
) -> Recommendation:
    """An ordinary memory change as the agent makes it (`current` also carries the error rate its
    alarms are set from), rolled back."""
    return Recommendation(
        id="rec-2",
        function="fn",
        kind=kind,  # type: ignore[arg-type]
        created_at=NOW - timedelta(days=20),
        current=current or {"memory_mb": 1760, "errors_per_min": 0.0},  # type: ignore[arg-type]
        proposed=proposed or {"memory_mb": 1408},  # type: ignore[arg-type]
        reason=Reason(summary="Change memory 1760 → 1408 MB", observed="", model="", decided_by="cost"),
        status="ROLLED_BACK",
    )


def test_an_ordinary_memory_change_its_guards_rolled_back_is_remembered_like_a_trial() -> None:
    # Given a move from 1,760 to 1,408 MB (the model's best estimate, on all traffic) that its p99
    # alarm rolled back
    at = NOW - timedelta(days=19, hours=23)
    moved = stopped_trial(_move(), _rolled_back(at), NOW - timedelta(days=1))
    # Then it is read back like a stopped trial: from the size in force to the size it set
    assert moved == StoppedTrial(
        function="fn",
        from_mb=1760,
        trial_mb=1408,
        stopped_at=at,
        code_sha256="sha-a",
        alarm=ALARM,
        tried_at=at - timedelta(minutes=3),
        recommendation_id="rec-2",
    )
    # but a person's revert of it judges nothing about the size
    assert stopped_trial(_move(), {"reverted_by": "cli", "before": _rolled_back(at)["before"]}) is None


def test_only_a_memory_change_its_guards_rolled_back_rules_memory_out() -> None:
    # Given changes of other kinds rolled back by an alarm of theirs
    at = NOW - timedelta(days=20)
    attrs = _rolled_back(at)
    pc = _move("provisioned_concurrency", current={"pc": 2}, proposed={"pc": 5})
    schedule_off = _move("provisioned_concurrency", current={"pc": 5}, proposed={"pc_schedule": "[]"})
    # (kinds the agent never applies, whatever memory they name: advice, a template change, a note)
    advice = _move("template_change")
    arm64 = _move("arm64_advice", current={"arch": "x86_64", "memory_mb": 1760},
                  proposed={"arch": "arm64", "memory_mb": 1760})
    keep = _move("keep", proposed={"memory_mb": 1760})
    # Then none of them rules a memory size out
    assert [stopped_trial(r, attrs) for r in (pc, schedule_off, advice, arm64, keep)] == [None] * 5


def test_a_move_its_guards_rolled_back_is_not_made_again_after_the_lookback() -> None:
    # Given the function the agent would move (or try) to 1,760 MB, and such a move, made from 3,008 MB
    # on code sha-a and rolled back by its p99 alarm 20 days ago (its day out of the look-back)
    obs, fn = one_day_at_3008(), function(3008).model_copy(update={"code_sha256": "sha-a"})
    move = _move(current={"memory_mb": 3008, "errors_per_min": 0.0}, proposed={"memory_mb": 1760})
    at = NOW - timedelta(days=20)
    stopped = [s for s in [stopped_trial(move, _rolled_back(at, 3008))] if s is not None]
    decider = Decider(NOW, lambda: "rec-3")
    assert int(decider.decide(fn, obs, {})[0].proposed["memory_mb"] or 0) == 1760
    # When the agent decides again with what the cycle read back
    memory = decider.decide(fn, obs, {}, stopped)[0]
    # Then neither 1,760 MB nor a size near or below it is proposed, and the reason says why
    assert int(memory.proposed["memory_mb"] or 0) > 1760 * 2**0.2, memory.proposed
    said = f"a change to 1760 MB was rolled back by its guards on {at:%Y-%m-%d}"
    assert said in memory.reason.summary, memory.reason


def test_a_stop_inside_the_observations_is_left_to_the_epochs_that_hold_it() -> None:
    # Given a trial at 1,760 MB from 3,008 MB that ran its day and was stopped at its end, inside the
    # window the observations cover (its epoch is there: the model weighs what it measured as it weighs
    # everything else)
    fn = function(3008)
    obs = observe(lambda m: 80.0, [3008, 1760], invocations=40 * 60 * 24)
    day = obs.epochs[1]
    inside = stop(1760).model_copy(update={"tried_at": day.start, "stopped_at": day.end - timedelta(hours=1)})
    free = decide_memory(fn, obs, MemoryPolicy(), PRICES, NOW, "rec-1")
    assert free.proposed["memory_mb"] == 1760
    # Then it rules nothing out: the decision is the one made without it, word for word
    assert decide_memory(fn, obs, MemoryPolicy(), PRICES, NOW, "rec-1", stopped=[inside]) == free
    # And the same stop from before the observations' window does
    before = inside.model_copy(update={"stopped_at": obs.window_start - timedelta(hours=1)})
    ruled = decide_memory(fn, obs, MemoryPolicy(), PRICES, NOW, "rec-1", stopped=[before])
    assert int(ruled.proposed["memory_mb"] or 0) > 1760 * 2**0.2


def test_a_move_rolled_back_within_its_hour_rules_its_ground_out_the_next_day() -> None:
    # Given a move from 3,008 to 1,760 MB its p99 alarm rolled back three minutes after it was made,
    # inside the day the observations cover: the hour it straddles is dropped by collection, so no
    # epoch at 1,760 MB is there to say what it measured
    obs, fn = one_day_at_3008(), function(3008)
    made = obs.window_start + timedelta(hours=6)
    moved = stop(1760).model_copy(update={"tried_at": made, "stopped_at": made + timedelta(minutes=3)})
    assert [e.memory_mb for e in obs.epochs] == [3008]
    assert decide_memory(fn, obs, MemoryPolicy(), PRICES, NOW, "rec-1").proposed["memory_mb"] == 1760
    # When the agent decides again the next day
    again = decide_memory(fn, obs, MemoryPolicy(), PRICES, NOW, "rec-1", stopped=[moved])
    # Then it does not make the same change again (nor one near it, nor to less memory), and says why
    assert int(again.proposed["memory_mb"] or 0) > 1760 * 2**0.2, again.proposed
    assert f"a change to 1760 MB was rolled back by its guards on {made:%Y-%m-%d}" in again.reason.summary
