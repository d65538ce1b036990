"""Sizes measured side by side in one window (a canary day) are compared without the day's drift."""

from __future__ import annotations

import math
from datetime import timedelta
from statistics import NormalDist

import numpy as np
import pytest
from memory_support import NOW, cpu_bound, epoch, function, io_bound

from lambda_tuner.core.decide import CANARY_WEIGHT, Decider
from lambda_tuner.core.fitting import epoch_rel_se, fit_duration
from lambda_tuner.core.fitting_draws import sample
from lambda_tuner.core.models import Epoch, Observations, Recommendation
from lambda_tuner.core.optimizer import MemoryPolicy, decide_memory, evaluate, usage_from
from lambda_tuner.core.pricing import default_prices
from lambda_tuner.core.same_day import shared_window_contrasts

PRICES = default_prices()


def canary(main: Epoch, memory_mb: int, mean_ms: float, share: float = 0.1) -> tuple[Epoch, Epoch]:
    """The main traffic and a canary of `share` of it, over the very same window."""
    calls = main.invocations
    kept = main.model_copy(update={"invocations": round(calls * (1 - share))})
    tried = epoch(memory_mb, mean_ms, invocations=round(calls * share)).model_copy(
        update={"start": main.start, "end": main.end}
    )
    return kept, tried


def test_a_canary_beside_the_reference_gives_that_windows_ratio_with_only_sampling_error():
    # Given day 0 at 1,024 MB, then day 1 with a canary at 512 MB beside 1,024 MB, the whole day 4 % slow
    main, tried = canary(epoch(1024, 416.0, day=1), 512, 416.0 * 1.08)
    epochs = [epoch(1024, 400.0, day=0), main, tried]
    se = [0.002, 0.002, 0.006]
    (c,) = shared_window_contrasts(epochs, 1024, day_sd=0.03, rel_se=se)
    # Then the ratio is the one measured within day 1 (the slow day cancels), as sure as its sampling
    assert c.memory_mb == 512
    assert c.log_ratio == pytest.approx(math.log(1.08), abs=0.002)
    assert c.sd < 0.0075 < 0.03 * math.sqrt(2)


def test_sizes_never_measured_in_a_shared_window_are_left_to_the_model():
    epochs = [epoch(1024, 400.0, day=0), epoch(512, 430.0, day=1)]
    assert shared_window_contrasts(epochs, 1024, day_sd=0.03, rel_se=[0.002, 0.002]) == []


def test_canaries_chain_from_one_size_to_the_next():
    # Given 1,024 beside 768 on day 0, then 768 beside 512 on day 1
    a, b = canary(epoch(1024, 400.0, day=0), 768, 410.0)
    c, d = canary(epoch(768, 420.0, day=1), 512, 441.0)
    contrasts = {x.memory_mb: x for x in shared_window_contrasts([a, b, c, d], 1024, 0.03, [0.002] * 4)}
    # Then 512 MB is known against 1,024 MB through 768 MB, with no day drift in it
    assert contrasts[512].log_ratio == pytest.approx(math.log(410 / 400 * 441 / 420), abs=0.003)
    assert contrasts[512].sd < 0.01


def allowance_decision(same_window: bool) -> str:
    """`default` at 1,024 MB (baseline) with a 512 MB canary whose p99 is 8 % above: inside the 10 %
    allowance by less than two days' drift, but by many times the within-window error."""
    base, main = epoch(1024, 400.0, day=0), epoch(1024, 400.0, day=1)
    main, tried = canary(main, 512, 432.0)
    if not same_window:
        tried = tried.model_copy(
            update={"start": main.start + timedelta(days=1), "end": main.end + timedelta(days=1)}
        )
    epochs = (base, main, tried)
    obs = Observations(function="fn", window_start=base.start, window_end=tried.end, epochs=epochs)
    rec = decide_memory(
        function(1024),
        obs,
        MemoryPolicy(min_saving_usd_month=0.0, explore=False, canary_weight=0.1),
        PRICES,
        NOW,
        "rec-1",
        baseline_p99_ms=base.duration_p99_ms,
        baseline_memory_mb=1024,
    )
    return str(rec.proposed["memory_mb"])


def test_the_default_allowance_admits_a_size_proven_beside_the_baseline_that_separate_days_cannot():
    assert allowance_decision(same_window=True) == "512"
    assert allowance_decision(same_window=False) != "512"


def test_an_experiment_behind_an_alias_is_a_canary_and_says_so():
    # Given an I/O-bound function seen at one size, the obvious case for trying less memory
    epochs = tuple(epoch(2048, io_bound(2048), day=d) for d in range(3))
    decider = Decider(NOW, lambda: "rec-1")
    for qualifier, weight in (("live", CANARY_WEIGHT), (None, None)):
        obs = Observations(
            function="fn",
            window_start=epochs[0].start,
            window_end=epochs[-1].end,
            epochs=epochs,
            qualifier=qualifier,
        )
        rec = decider.decide(function(2048), obs, {})[0]
        assert rec.kind == "experiment"
        assert rec.proposed.get("canary_weight") == weight
        expected = f"as a canary on 10% of alias {qualifier}'s traffic" if qualifier else "on all traffic"
        assert expected in rec.reason.summary


def test_a_canary_may_reach_one_step_beyond_the_sizes_measured_but_an_all_traffic_trial_may_not():
    # Given a function held at 128 MB that has already tried 224 MB beside it, and ran much faster there
    main, tried = canary(epoch(128, 20_000.0, day=1), 224, 9_000.0)
    epochs = (epoch(128, 20_000.0, day=0), main, tried)
    obs = Observations(function="fn", window_start=epochs[0].start, window_end=tried.end, epochs=epochs)

    def trial(weight: float | None) -> int | None:
        policy = MemoryPolicy(strategy="cost", min_saving_usd_month=0.0, canary_weight=weight)
        rec = decide_memory(function(128, timeout_s=900), obs, policy, PRICES, NOW, "rec-1")
        return int(rec.proposed["memory_mb"] or 0) if rec.kind == "experiment" else None

    # Then only the canary may try above 256 MB (two steps from 128 MB, one from 224 MB)
    canary_size = trial(0.1)
    assert canary_size is not None and 256 < canary_size <= 448
    step_size = trial(None)
    assert step_size is None or step_size <= 256


def test_behind_an_alias_the_default_strategy_measures_a_size_before_moving_there():
    # Given an I/O-bound function at 2,048 MB, seen there for three days with Lambda Insights showing
    # almost no CPU time: the model alone is sure enough of the allowance to shrink it at once
    epochs = tuple(epoch(2048, io_bound(2048), day=d, cpu_ms=2.0) for d in range(3))
    obs = Observations(function="fn", window_start=epochs[0].start, window_end=epochs[-1].end, epochs=epochs)

    def decide(weight: float | None) -> tuple[str, int]:
        # (without an alias, trials off: an all-traffic trial is what a less sure model would choose)
        policy = MemoryPolicy(min_saving_usd_month=0.0, canary_weight=weight, explore=weight is not None)
        rec = decide_memory(
            function(2048), obs, policy, PRICES, NOW, "rec-1", baseline_p99_ms=epochs[0].duration_p99_ms,
            baseline_memory_mb=2048,
        )  # fmt: skip
        return rec.kind, int(rec.proposed["memory_mb"] or 0)

    # Then without an alias it moves on the model's word; behind one it first runs a canary, bolder still
    kind, moved_to = decide(None)
    assert kind == "memory" and moved_to < 2048
    kind, tried = decide(0.1)
    assert kind == "experiment" and tried < moved_to


def test_a_size_measured_beside_the_baseline_and_within_the_allowance_is_where_the_default_strategy_moves():
    # Given an I/O-bound function at 2,048 MB whose canary at 1,024 MB ran as fast on the same day
    base = epoch(2048, io_bound(2048), day=0)
    main, tried = canary(epoch(2048, io_bound(2048), day=1), 1024, io_bound(1024))
    epochs = (base, main, tried)
    obs = Observations(
        function="fn", window_start=base.start, window_end=tried.end, epochs=epochs, qualifier="live"
    )
    policy = MemoryPolicy(min_saving_usd_month=0.0, canary_weight=0.1, explore=False)
    rec = decide_memory(
        function(2048), obs, policy, PRICES, NOW, "rec-1", baseline_p99_ms=base.duration_p99_ms,
        baseline_memory_mb=2048,
    )  # fmt: skip
    # Then it moves to the measured size (not to an unmeasured one a few megabytes from it)
    assert rec.kind == "memory" and rec.proposed["memory_mb"] == 1024


def test_a_canary_of_a_quiet_function_takes_a_larger_share_so_it_gets_enough_calls_to_measure():
    policy = MemoryPolicy(canary_weight=0.1)
    assert policy.canary_share(50_000) == 0.1  # plenty: the least share
    assert policy.canary_share(4_000) == 0.25  # 1,000 calls a day
    assert policy.canary_share(300) == 0.5  # never more than half
    assert MemoryPolicy().canary_share(4_000) is None  # no alias, no canary


def test_the_size_in_force_keeps_its_place_in_the_allowance_while_likely_inside_it():
    # Given an I/O-bound function kept at 2,048 MB for two days, then a canary at 1,024 MB whose ratio
    # sits just inside the 10 % allowance: likely inside, not 98 % sure
    days = [epoch(2048, 400.0, day=d) for d in range(2)]
    main, tried = canary(epoch(2048, 400.0, day=2), 1024, 400.0 * 1.094)
    after = epoch(1024, 400.0 * 1.094, day=3)
    history = (*days, main, tried, after)
    rel_se = [epoch_rel_se(e, float(e.duration_avg_ms or 1.0)) for e in history]
    fit = fit_duration("fn", "x86_64", history)
    (c,) = shared_window_contrasts(history, 2048, fit.rel_noise, rel_se)
    inside = NormalDist(c.log_ratio, c.sd).cdf(math.log(1.10))
    assert 0.9 < inside < 0.98

    def decide(at: int, epochs: tuple[Epoch, ...]) -> tuple[str, int]:
        obs = Observations(
            function="fn", window_start=epochs[0].start, window_end=epochs[-1].end, epochs=epochs,
            qualifier="live",
        )  # fmt: skip
        policy = MemoryPolicy(min_saving_usd_month=0.0, canary_weight=0.1, explore=False)
        rec = decide_memory(
            function(at), obs, policy, PRICES, NOW, "rec-1", baseline_p99_ms=days[0].duration_p99_ms,
            baseline_memory_mb=2048,
        )  # fmt: skip
        return rec.kind, int(rec.proposed["memory_mb"] or 0)

    # Then a function at 2,048 MB does not move to 1,024 MB on that evidence ...
    kind, size = decide(2048, history[:-1])
    assert not (kind == "memory" and size == 1024)
    # ... but one already at 1,024 MB stays there: a day of noise at the edge does not move it back
    assert decide(1024, history) == ("keep", 1024)


def _io_function_with_canaries(sizes: list[int]) -> tuple[Epoch, ...]:
    """An I/O-bound function at 2,048 MB for three days, then one canary day per size in `sizes`."""
    days = [epoch(2048, io_bound(2048), day=d) for d in range(3)]
    canaries = [
        canary(epoch(2048, io_bound(2048), day=3 + i), mb, io_bound(mb)) for i, mb in enumerate(sizes)
    ]
    return (*days, *(e for pair in canaries for e in pair))


def _decide_default_behind_alias(
    epochs: tuple[Epoch, ...], *, timeout_s: int = 30, max_step_factor: float = 2.0
) -> Recommendation:
    """`default` behind alias live, at the first epoch's size, which is also the baseline's."""
    obs = Observations(
        function="fn",
        window_start=epochs[0].start,
        window_end=epochs[-1].end,
        epochs=epochs,
        qualifier="live",
    )
    policy = MemoryPolicy(min_saving_usd_month=0.0, canary_weight=0.1, max_step_factor=max_step_factor)
    at = epochs[0].memory_mb
    return decide_memory(
        function(at, timeout_s=timeout_s), obs, policy, PRICES, NOW, "rec-1",
        baseline_p99_ms=epochs[0].duration_p99_ms, baseline_memory_mb=at,
    )  # fmt: skip


def test_with_no_trial_left_a_move_to_an_unmeasured_size_is_first_confirmed_by_a_canary_there():
    # Given the three exploration canaries spent near 2,048 MB (round sizes), and the model wanting a
    # smaller size that nobody measured beside the baseline
    rec = _decide_default_behind_alias(_io_function_with_canaries([1984, 1920, 1856]))
    # Then the move is measured first: a canary at the best guess itself (never a round size: those are
    # how exploration trials are counted), which is not exploration
    size = rec.proposed["memory_mb"]
    assert rec.kind == "experiment" and rec.proposed["canary_weight"] is not None
    assert size == rec.proposed["best_guess_mb"] and isinstance(size, int) and size % 32 and size < 1856
    assert rec.reason.decided_by.startswith(f"confirmation: {size} MB")
    # And once three confirmations are spent too (non-round canaries), the model's word decides
    spent = _decide_default_behind_alias(_io_function_with_canaries([1984, 1920, 1856, 2047, 2045, 2043]))
    assert spent.kind == "memory" and spent.proposed["memory_mb"] < 1856


def _pressed(m: float) -> float:
    """CPU-bound, and up to 80 % slower below 512 MB (memory pressure)."""
    return cpu_bound(m) * (1 + 0.8 * max(0.0, (512 - m) / 384))


def _decide_at_128_mb_behind_alias(sizes: list[int]) -> Recommendation:
    """At 128 MB (three days), then one canary day beside 128 MB per size in `sizes`."""
    days = [epoch(128, _pressed(128), day=d) for d in range(3)]
    pairs = [canary(epoch(128, _pressed(128), day=3 + i), mb, _pressed(mb)) for i, mb in enumerate(sizes)]
    return _decide_default_behind_alias((*days, *(e for pair in pairs for e in pair)), timeout_s=900)


def test_a_confirmation_lands_where_the_step_limited_move_can_follow_and_is_not_repeated():
    # Given a function at 128 MB whose three trials (224, 448, 384 MB) say far more memory is cheaper:
    # the move is capped by the step limit at 256 MB, a round size (those are exploration's)
    first = _decide_at_128_mb_behind_alias([224, 448, 384])
    # Then the confirmation goes 1 MB towards the current size, inside the step limit (257 MB would be
    # a size the capped move can never land on, so it would be confirmed again and again)
    assert first.kind == "experiment" and first.reason.decided_by.startswith("confirmation: 255 MB")
    # And once 255 MB was measured beside 128 MB, the function moves there: no second confirmation
    second = _decide_at_128_mb_behind_alias([224, 448, 384, 255])
    assert (second.kind, second.proposed["memory_mb"]) == ("memory", 255)


def test_a_size_near_one_measured_beside_the_baseline_is_read_from_that_measurement():
    # Given an I/O-bound function at 2,048 MB whose days drift by 6 %, and a canary at 1,024 MB that
    # ran as fast as 2,048 MB on the same day
    days = [epoch(2048, io_bound(2048) * f, day=d) for d, f in enumerate((1.0, 1.06, 0.94))]
    main, tried = canary(epoch(2048, io_bound(2048) * 1.03, day=3), 1024, io_bound(1024) * 1.03)
    policy = MemoryPolicy(min_saving_usd_month=0.0, canary_weight=0.1)

    def allowed_mb(epochs: tuple[Epoch, ...], chain: bool) -> set[int]:
        ev = evaluate(
            function(2048), fit_duration("fn", "x86_64", list(epochs)),
            usage_from(list(epochs), policy.memory_headroom), policy=policy, prices=PRICES,
            baseline_p99_ms=days[0].duration_p99_ms, baseline_memory_mb=2048, epochs=epochs, chain=chain,
        )  # fmt: skip
        return {int(mb) for mb in ev.memory_mb[ev.soft["p99 allowance"]]}

    # Then 960 MB, 6 % below the measured size, is inside the allowance on the same-day measurement
    # and the model's shape over that short distance, and on the model alone, which is conditioned on
    # the canary day's contrast too
    side_by_side = (*days, main, tried)
    assert {1024, 960} <= allowed_mb(side_by_side, chain=True)
    assert {1024, 960} <= allowed_mb(side_by_side, chain=False)
    # While the same reading at 1,024 MB on a day of its own carries the drift of the days it is compared
    # with: neither it nor 960 MB is surely inside then
    alone = tried.model_copy(update={"start": main.end, "end": main.end + timedelta(days=1)})
    apart = allowed_mb((*days, main, alone), chain=False)
    assert not {1024, 960} & apart


def _io_canaried_at_1024(sizes: list[int]) -> Recommendation:
    """I/O-bound at 2,048 MB over drifting days; a canary at 1,024 MB, then one beside 2,048 MB per size."""
    days = [epoch(2048, io_bound(2048) * f, day=d) for d, f in enumerate((1.0, 1.06, 0.94))]
    pairs = [canary(epoch(2048, io_bound(2048) * 1.03, day=3), 1024, io_bound(1024) * 1.03)]
    pairs += [canary(epoch(2048, io_bound(2048), day=4 + i), mb, io_bound(mb)) for i, mb in enumerate(sizes)]
    return _decide_default_behind_alias((*days, *(e for pair in pairs for e in pair)), max_step_factor=4.0)


def test_the_reading_from_a_measured_size_chooses_what_to_measure_not_where_to_move_unmeasured():
    # Given the three trials spent (1,024, 1,536 and 1,792 MB): the reading from 1,024 MB makes a
    # smaller size the best guess, and a confirmation canary measures it
    rec = _io_canaried_at_1024([1536, 1792])
    assert rec.kind == "experiment" and rec.reason.decided_by.startswith("confirmation")
    assert int(rec.proposed["memory_mb"] or 0) < 1024
    # And with the confirmations spent too (non-round canaries), the move rests on the model's word,
    # read from the baseline without the chained reading; the model follows the canary day's contrast
    # (the function is I/O-bound: 1,024 MB ran as fast as 2,048 MB beside it), so it goes below the
    # measured 1,024 MB, to a size whose true p99 is within 1 % of the baseline's
    spent = _io_canaried_at_1024([1536, 1792, 2047, 2045, 2043])
    moved = int(spent.proposed["memory_mb"] or 0)
    assert spent.kind == "memory" and moved < 1024
    assert io_bound(moved) / io_bound(2048) < 1.01


def test_the_projection_follows_a_canary_days_contrast_not_that_days_drift():
    # Given four days at 1,024 MB (about 400 ms), then a day 6 % slow for everything, on which a canary
    # at 768 MB read 4 % above the main traffic beside it
    days = [epoch(1024, ms, day=d) for d, ms in enumerate((400.0, 404.0, 397.0, 401.0))]
    main, tried = canary(epoch(1024, 400.5 * 1.06, day=4), 768, 400.5 * 1.06 * 1.04, share=0.5)
    fit = fit_duration("fn", "x86_64", [*days, main, tried])
    mean = sample(fit, 4000).at([768, 1024]).mean
    projected = float(np.median(mean[:, 0] / mean[:, 1]))
    # Then the projected ratio is the one measured side by side (1.04), not the canary's reading against
    # the pooled days at 1,024 MB (about 1.04 x 1.06 / 1.01 = 1.09): the day's drift cancels
    assert projected == pytest.approx(1.04, abs=0.01)
