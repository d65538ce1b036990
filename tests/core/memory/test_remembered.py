"""What a size measured outlives the look-back (remembered.py): the agent keeps, per size the function no
longer runs at, the last stretch it ran there, and the model sees it again once collection no longer
does; the decision after the look-back is then the one made inside it."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from memory_support import T0, cpu_bound, epoch, function

from lambda_tuner.core.decide import Decider
from lambda_tuner.core.models import Epoch, Observations
from lambda_tuner.core.remembered import REMEMBERED_FOR, recall, remember

DAY = timedelta(days=1)


def window(*epochs: Epoch, start_day: int | None = None) -> Observations:
    start = T0 + DAY * start_day if start_day is not None else min(e.start for e in epochs)
    return Observations(
        function="fn", window_start=start, window_end=max(e.end for e in epochs), epochs=epochs
    )


def stored(state: object) -> Any:
    """The state as the table gives it back (JSON)."""
    return json.loads(json.dumps(state))


def test_a_size_left_is_remembered_and_seen_again_once_the_lookback_no_longer_holds_it() -> None:
    # Given a function that ran at 256 MB, then at 512 MB (in force now)
    fn = function(512).model_copy(update={"code_sha256": "sha-a"})
    first = window(epoch(256, cpu_bound(256), day=0), epoch(512, cpu_bound(512), day=1))
    state = stored(remember(None, fn, first, T0 + 2 * DAY))
    # Then 256 MB is remembered (the size in force is not: every look-back holds it)
    assert [g["epochs"][0]["memory_mb"] for g in state] == [256]
    # and while the look-back holds 256 MB nothing is recalled; once it does not, its day is
    assert recall(state, fn, first, T0 + 2 * DAY) == []
    later = window(epoch(512, cpu_bound(512), day=5), start_day=5)
    assert [(e.memory_mb, e.start) for e in recall(state, fn, later, T0 + 6 * DAY)] == [(256, T0)]
    # but not after REMEMBERED_FOR, nor on other code
    assert recall(state, fn, later, T0 + DAY + REMEMBERED_FOR) == []
    assert recall(state, fn.model_copy(update={"code_sha256": "sha-b"}), later, T0 + 6 * DAY) == []


def test_the_stretch_the_lookback_cuts_does_not_replace_its_whole_self_and_a_newer_one_does() -> None:
    fn = function(512)
    whole = epoch(256, cpu_bound(256), day=0)
    state = stored(remember(None, fn, window(whole, epoch(512, 100.0, day=1)), T0 + 2 * DAY))
    # the look-back's start cuts the day at 256 MB: the state stays as it was (no write)
    cut = whole.model_copy(update={"start": T0 + timedelta(hours=12), "periods": 12})
    again = remember(state, fn, window(cut, epoch(512, 100.0, day=1)), T0 + 3 * DAY)
    assert stored(again) == state
    # a newer day at 256 MB (a trial) replaces it
    newer = epoch(256, cpu_bound(256) * 1.01, day=4)
    got = stored(remember(state, fn, window(newer, epoch(512, 100.0, day=5)), T0 + 6 * DAY))
    assert [g["epochs"][0]["start"] for g in got] == ["2026-03-06T00:00:00Z"]


def test_a_canary_window_is_remembered_with_the_size_in_force_beside_it() -> None:
    fn = function(1024)
    live = epoch(1024, 100.0, day=3)
    trial = epoch(544, 130.0, day=3, invocations=2000).model_copy(update={"canary": True})
    state = stored(remember(None, fn, window(epoch(1024, 100.0, day=0), live, trial), T0 + 4 * DAY))
    later = window(epoch(1024, 100.0, day=10), start_day=10)
    got = recall(state, fn, later, T0 + 11 * DAY)
    # both sizes of the shared day come back (the same-day comparison), the live one without its REPORT
    # facts (the look-back's own speak for the size in force)
    assert [(e.memory_mb, e.canary, e.reports is None) for e in got] == [
        (544, True, False),
        (1024, False, True),
    ]


def test_the_decider_keeps_what_it_measured_and_its_model_sees_it_after_the_lookback() -> None:
    # Given a CPU-bound function (faster and cheaper with more memory up to one vCPU) moved from 256 MB
    # to 1,024 MB, and the days at 256 MB gone from the look-back since
    fn = function(1024)
    inside = window(
        *(epoch(256, cpu_bound(256), day=d) for d in range(2)),
        *(epoch(1024, cpu_bound(1024), day=d) for d in range(2, 4)),
    )
    state = stored(Decider(T0 + 4 * DAY, lambda: "id").updated_state(fn, inside, {}))
    later = window(*(epoch(1024, cpu_bound(1024), day=d) for d in range(2, 18)), start_day=4)
    after = Decider(T0 + 18 * DAY, lambda: "id")

    def measured(state: Any) -> list[int]:
        [rec] = [r for r in after.decide(fn, later, state) if r.kind in ("keep", "memory", "experiment")]
        return [p.memory_mb for p in rec.chart if p.observed]

    # Then the model sees 256 MB measured, as inside the look-back; without the state it would not
    assert measured(state) == [256, 1024]
    assert measured({}) == [1024]
