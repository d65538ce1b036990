"""Experiments: a guarded trial may go where the latency goal is uncertain, but only for a real upside."""

from __future__ import annotations

import re

import numpy as np
import pytest
from memory_support import NOW, epoch, function, observe

from lambda_tuner.core.exploration import Upside, choose_experiment, experiments_spent
from lambda_tuner.core.fitting import fit_duration
from lambda_tuner.core.guardrails import Guardrails, route
from lambda_tuner.core.models import Observations, Recommendation
from lambda_tuner.core.optimizer import MemoryPolicy, decide_memory, evaluate, usage_from
from lambda_tuner.core.pricing import default_prices

PRICES = default_prices()
PER_DAY_AT_40_A_MINUTE = 40 * 60 * 24


def steep_cpu(m: float) -> float:
    """Single-threaded CPU work that suffers below one vCPU (GC, memory pressure): raising pays for itself."""
    return 5.0 + 300.0 * (1769.0 / min(m, 1769.0)) ** 1.3


def one_day(memory_mb: int, mean_ms: float, *, cpu_ms: float | None = None) -> Recommendation:
    e = epoch(memory_mb, mean_ms, invocations=PER_DAY_AT_40_A_MINUTE, cpu_ms=cpu_ms)
    obs = Observations(function="fn", window_start=e.start, window_end=e.end, epochs=(e,))
    return decide_memory(function(memory_mb), obs, MemoryPolicy(), PRICES, NOW, "rec-1")


def test_an_over_provisioned_io_function_seen_at_one_size_is_asked_to_try_less_memory():
    # Given an I/O-bound function (80 ms whatever its memory) observed only at 3,008 MB, 40 calls a minute
    rec = one_day(3008, 80.0)
    # Then the default strategy does not keep it: it proposes a lower size, as a change or a guarded trial
    assert rec.kind in ("experiment", "memory")
    assert int(rec.proposed["memory_mb"] or 0) < 3008
    # And a trial stops before p99 leaves the allowance of today's p99 (a margin for one day's luck)
    if rec.kind == "experiment":
        today = 80.0 * (1 + 2.33 * 0.15)
        assert today < float(rec.proposed["stop_if_p99_ms_above"] or 0) < 1.1 * today


def test_a_trial_respects_the_step_limit_even_when_the_goal_is_only_uncertain():
    rec = one_day(3008, 80.0)
    assert int(rec.proposed["memory_mb"] or 0) >= 3008 / 2


def test_a_cpu_bound_function_that_insights_shows_is_starved_is_asked_to_try_more_memory():
    # Given a CPU-bound function at 256 MB whose CPU time is all of its wall time (Lambda Insights)
    cpu = 300.0 * (1769.0 / 256) ** 1.3
    rec = one_day(256, steep_cpu(256), cpu_ms=cpu)
    # Then it proposes a larger size, which the truth says is both cheaper and faster
    assert rec.kind in ("experiment", "memory")
    assert int(rec.proposed["memory_mb"] or 0) > 256
    assert steep_cpu(512) * 512 < steep_cpu(256) * 256


def test_no_trial_when_even_the_optimistic_saving_is_below_the_dollar_threshold():
    # Given the same over-provisioned function with little traffic: halving memory saves cents at best
    e = epoch(3008, 80.0, invocations=2_000)
    obs = Observations(function="fn", window_start=e.start, window_end=e.end, epochs=(e,))
    rec = decide_memory(function(3008), obs, MemoryPolicy(), PRICES, NOW, "rec-1")
    # Then nobody is asked to click for it
    assert rec.kind == "keep"
    # While without the dollar threshold the same evidence is worth a trial
    free = decide_memory(function(3008), obs, MemoryPolicy(min_saving_usd_month=0.0), PRICES, NOW, "rec-1")
    assert free.kind == "experiment"


def test_choose_experiment_skips_sizes_whose_upper_saving_misses_the_threshold():
    # Given two candidate sizes that beat the best guess in every draw, one by 0.2 %, one by 30 %
    memory = np.array([128.0, 256.0, 512.0])
    objective = np.tile([0.7, 0.998, 1.0], (50, 1))
    meets = np.ones((50, 3), dtype=bool)
    gain = (objective[:, 2:3] - objective) / 1.0

    def choose(min_fraction: float, allowed: list[bool]) -> int | None:
        upside = Upside(objective_gain=gain, min_fraction=min_fraction)
        got = choose_experiment(
            memory, objective, np.array(allowed), meets, 2, [512], upside=upside,
            threshold=0.001, horizon_days=30, trial_days=0.1,
        )  # fmt: skip
        return None if got is None else got.index

    # Then the large upside is tried, and the small one never clears a 1 % threshold
    assert choose(0.01, [True, True, True]) == 0
    assert choose(0.01, [False, True, True]) is None
    assert choose(0.001, [False, True, True]) == 1


def test_a_size_that_breaks_the_soft_goal_in_almost_every_draw_is_not_tried():
    memory = np.array([128.0, 512.0])
    objective = np.tile([0.5, 1.0], (100, 1))
    meets = np.ones((100, 2), dtype=bool)
    meets[:95, 0] = False  # 5 % of draws meet the goal at 128 MB: not plausible enough
    upside = Upside(objective_gain=objective[:, 1:2] - objective, min_fraction=0.01)
    kwargs = {"upside": upside, "threshold": 0.001, "horizon_days": 30.0, "trial_days": 0.1}
    hard = np.ones(2, dtype=bool)
    assert choose_experiment(memory, objective, hard, meets, 1, [512], **kwargs) is None  # type: ignore[arg-type]
    meets[:60, 0] = True  # 65 % now: worth a guarded trial
    assert choose_experiment(memory, objective, hard, meets, 1, [512], **kwargs) is not None  # type: ignore[arg-type]


def half_cpu(m: float) -> float:
    return 2000.0 + 2000.0 * 1769.0 / min(m, 1769.0)


def test_a_baseline_day_that_ran_slow_does_not_widen_the_allowance_when_its_size_is_known():
    # Given a function seen at three sizes, several days at its baseline size of 1,024 MB
    obs = observe(half_cpu, [512, 2048, 1024, 1024, 1024])
    true_p99 = half_cpu(1024) * (1 + 2.33 * 0.15)
    policy = MemoryPolicy(min_saving_usd_month=0.0, explore=False)

    def proposed(baseline: float) -> int:
        rec = decide_memory(
            function(1024),
            obs,
            policy,
            PRICES,
            NOW,
            "rec-1",
            baseline_p99_ms=baseline,
            baseline_memory_mb=1024,
        )
        return int(rec.proposed["memory_mb"] or 0)

    # When the stored baseline is one day's p99 that happened to run 8 % slow
    accurate, slow = proposed(true_p99), proposed(1.08 * true_p99)
    # Then the allowance is judged against everything seen at 1,024 MB, not that one day
    assert slow == accurate < 1024
    assert half_cpu(slow) <= 1.1 * half_cpu(1024)


def test_a_function_kept_for_a_small_best_guess_saving_is_still_offered_a_trial_with_a_larger_upside():
    # Given a CPU-starved function seen at three small sizes, now at 272 MB, whose best guess nearby
    # saves less than the $0.50 threshold
    obs = observe(steep_cpu, [128, 136, 272])
    rec = decide_memory(function(272), obs, MemoryPolicy(), PRICES, NOW, "rec-1", baseline_memory_mb=128)
    # Then instead of keeping it forever, it asks to try a size the model has not seen, against staying
    assert rec.kind == "experiment"
    assert int(rec.proposed["memory_mb"] or 0) > 272 and rec.proposed["best_guess_mb"] == 272
    # And the truth agrees that the trial is worth it
    assert steep_cpu(544) * 544 < 0.95 * steep_cpu(272) * 272


def test_experiments_spent_counts_round_extensions_of_the_range_but_not_moves_inside_it():
    # Given a history: start 1,024 MB, a trial at 1,920, back to 1,024, a move to 1,400, the optimizer's
    # move to 2,900 (1 MB resolution, not round), a trial at 576
    sizes = [1024, 1920, 1024, 1400, 2900, 576, 576]
    # Then two were trials: returns, moves inside the range and the optimizer's own moves are not
    assert experiments_spent(sizes, step_factor=2.0) == 2
    assert experiments_spent([1024], step_factor=2.0) == 0


def test_a_move_to_a_size_a_canary_measured_is_not_counted_as_an_experiment():
    # Given three days at 2,048 MB with canaries at 1,216 and 640 MB beside it, then a move to 1,216 MB
    sizes = [2048, 2048, 1216, 2048, 640, 1216]
    beside = [False, False, True, False, True, False]
    # Then the move is to a measured size: no all-traffic experiment (the canaries count by their windows)
    assert experiments_spent(sizes, step_factor=2.0, canary=beside) == 0
    # whereas, without the canaries' days, 1,216 MB would be new ground, a round size: a trial
    assert experiments_spent([2048, 2048, 2048, 1216], step_factor=2.0) == 1
    # and a move past every measured size still counts
    assert experiments_spent([*sizes, 384], step_factor=2.0, canary=[*beside, False]) == 1


def test_a_climb_capped_by_the_step_limit_is_not_counted_as_experiments():
    # Given a function climbing from 128 MB one doubling a day, then a trial at 1,920 MB
    sizes = [128, 256, 512, 1024, 1920]
    # Then only the trial counts: a trial never lands exactly on a step-limit edge
    assert experiments_spent(sizes, step_factor=2.0) == 1


def test_a_trial_never_lands_exactly_on_a_step_limit_edge():
    rec = one_day(3008, 80.0)
    assert rec.kind == "experiment"
    assert int(rec.proposed["memory_mb"] or 0) not in (1504, 6016)
    assert int(rec.proposed["memory_mb"] or 0) % 32 == 0


def test_no_trial_once_the_experiment_budget_is_spent():
    # Given the over-provisioned I/O function that is offered a trial on its first day
    e = epoch(3008, 80.0, invocations=PER_DAY_AT_40_A_MINUTE)
    obs = Observations(function="fn", window_start=e.start, window_end=e.end, epochs=(e,))
    assert decide_memory(function(3008), obs, MemoryPolicy(), PRICES, NOW, "rec-1").kind == "experiment"
    # When its budget allows no (further) experiment
    rec = decide_memory(function(3008), obs, MemoryPolicy(max_experiments=0), PRICES, NOW, "rec-1")
    # Then it is not asked to try anything: it moves on what it knows, or keeps
    assert rec.kind != "experiment"


def _canary(calls_per_day: int) -> Recommendation:
    e = epoch(3008, 80.0, invocations=calls_per_day)
    obs = Observations(function="fn", window_start=e.start, window_end=e.end, epochs=(e,), qualifier="live")
    settings = MemoryPolicy(min_saving_usd_month=0.0, canary_weight=0.1)
    return decide_memory(function(3008), obs, settings, PRICES, NOW, "rec-1", baseline_memory_mb=3008)


def test_a_canarys_stop_is_a_ratio_to_the_live_version_inside_the_allowance_by_its_sampling_error():
    # Given the over-provisioned I/O function behind an alias, at two traffic levels
    busy, quiet = _canary(PER_DAY_AT_40_A_MINUTE), _canary(PER_DAY_AT_40_A_MINUTE // 20)
    assert busy.kind == quiet.kind == "experiment"
    ratios = [float(r.proposed["stop_if_p99_ratio_above"] or 0) for r in (busy, quiet)]
    # Then each canary stops when its p99 passes a ratio to the live version's inside the 10 % allowance
    assert all(1.0 < r < 1.1 for r in ratios)
    # And the fewer calls the two p99s rest on, the further inside (a day's p99 of few calls is noisy)
    assert ratios[1] < ratios[0]
    # While a trial on all traffic (no alias) has no live version to compare with: its stop stays fixed
    alone = one_day(3008, 80.0)
    assert alone.kind == "experiment" and "stop_if_p99_ratio_above" not in alone.proposed


def test_a_canarys_ratio_stop_is_the_allowance_over_the_baselines_p99_not_the_size_in_forces():
    # Given a function moved from its baseline, 3,008 MB (80 ms), to 1,536 MB, 5 % slower
    first, moved = epoch(3008, 80.0, invocations=PER_DAY_AT_40_A_MINUTE), epoch(1536, 84.0, day=1)
    epochs = [first, moved]
    policy = MemoryPolicy(min_saving_usd_month=0.0, canary_weight=0.1)

    def stop(baseline_mb: int | None) -> float | None:
        ev = evaluate(
            function(1536), fit_duration("fn", "x86_64", epochs), usage_from(epochs, policy.memory_headroom),
            policy=policy, prices=PRICES, baseline_p99_ms=None, baseline_memory_mb=baseline_mb,
        )  # fmt: skip
        return ev.stop_p99_ratio

    # Then a canary beside 1,536 MB may be 1.1 / 1.05 x it: the allowance is on the baseline's p99
    from_baseline, from_here = stop(3008), stop(1536)
    assert from_baseline is not None and from_here is not None
    assert from_baseline / from_here == pytest.approx(80.0 / 84.0, rel=1e-6)
    assert from_here < 1.1  # the sampling margin, inside the allowance


def test_an_exploration_says_how_likely_the_model_thinks_it_keeps_the_latency_goal():
    # Given a CPU-starved function at 256 MB (its duration halves with twice the memory), seen at one
    # size only, and `default`'s p99 allowance: a trial below it is cheaper only if it is not CPU-bound
    rec = one_day(256, 300.0 * 1769.0 / 256)
    assert rec.kind == "experiment" and int(rec.proposed["memory_mb"] or 0) < 256, rec.reason.decided_by
    # Then the reason says what chance the model gives it of keeping the allowance (its p99 stop ends it
    # otherwise), a person approving it then knows it is likely to be stopped
    odds = r"; (\d+)% chance it keeps the p99 allowance, its stops end it if not\)"
    match = re.search(odds, rec.reason.decided_by)
    assert match, rec.reason.decided_by
    assert 10 <= int(match.group(1)) < 90


def test_a_trial_worth_its_cost_is_made_even_when_its_expected_improvement_is_small():
    # Given a function behind an alias measured at 2,048, 1,024, 665 (two days) and 1,159 MB, whose cost
    # is about flat from 1 to 1.5 GB: nothing measured between 1,159 and 2,048 MB
    days = [(2048, 537.0), (1024, 891.5), (665, 1534.6), (665, 1527.5), (1159, 803.5)]
    eps = tuple(epoch(m, ms, day=i, invocations=9000, cv=0.12) for i, (m, ms) in enumerate(days))
    obs = Observations(
        function="fn", window_start=eps[0].start, window_end=eps[-1].end, epochs=eps, qualifier="live"
    )

    def decide(**policy: float) -> Recommendation:
        pol = MemoryPolicy(strategy="cost", canary_weight=0.1, min_saving_usd_month=0.0, **policy)
        return decide_memory(function(1159), obs, pol, PRICES, NOW, "rec-1")

    # When the cost strategy decides under the default policy
    rec = decide()
    # Then it tries a size in that gap as a canary: the model expects little (a fraction of a percent),
    # but a day of a tenth of the traffic costs less than what a month there could save, and a size
    # nobody measured may hold a dip that only a measurement finds
    assert rec.kind == "experiment"
    assert 1159 < int(rec.proposed["memory_mb"] or 0) < 2048
    assert rec.proposed.get("canary_weight")
    why = rec.reason.decided_by
    said = re.search(r"a (\d+)% chance it is cheaper, by ([\d.]+)% on average if it is", why)
    assert said is not None, why
    assert int(said.group(1)) / 100 * float(said.group(2)) < 0.5  # the expected improvement
    # And a user who sets a floor on the expected improvement above it keeps the size instead
    assert decide(explore_threshold=0.005).kind == "keep"


def test_a_canary_the_optimizer_proposes_beyond_2x_from_the_size_in_force_is_one_auto_mode_makes():
    # Given a function at 3,008 MB behind an alias (80 ms whatever its memory) whose canary measured
    # 1,760 MB beside it on its last day
    calls = PER_DAY_AT_40_A_MINUTE
    days = [epoch(3008, 80.0, day=d, invocations=calls) for d in range(13)]
    live = epoch(3008, 80.0, day=13, invocations=calls * 9 // 10)
    canary = epoch(1760, 80.5, day=13, invocations=calls // 10).model_copy(update={"canary": True})
    eps = (*days, live, canary)
    obs = Observations(
        function="fn", window_start=eps[0].start, window_end=eps[-1].end, epochs=eps, qualifier="live"
    )
    policy = MemoryPolicy(canary_weight=0.1)
    rec = decide_memory(function(3008), obs, policy, PRICES, NOW, "rec-1", baseline_memory_mb=3008)
    # When the optimizer proposes a canary one step beyond the size measured, more than 2x from the size
    # in force
    size = int(rec.proposed["memory_mb"] or 0)
    assert rec.kind == "experiment" and rec.proposed.get("canary_weight"), rec.reason.decided_by
    assert 3008 / size > policy.max_step_factor and 1760 / size <= policy.max_step_factor, size
    # Then auto mode's rails, at the same step factor, make it rather than ask a person for it every time
    rails = Guardrails(max_step_factor=policy.max_step_factor)
    [decision] = route([rec], {"fn": "auto"}, rails, NOW)
    assert decision.route == "apply", decision.reason


def test_an_exploration_says_its_chance_of_being_better_not_an_expected_improvement_its_projection_denies():
    # Given a single-threaded function under `speed` measured flat from 1,993 to 3,855 MB, at 3,855 MB
    def flat(m: float) -> float:
        return 250.0 * 1769.0 / min(m, 1769.0)

    sizes = [512, 1024, 1993, 3855]
    eps = tuple(epoch(m, flat(m), day=i, invocations=8600) for i, m in enumerate(sizes))
    obs = Observations(function="fn", window_start=eps[0].start, window_end=eps[-1].end, epochs=eps)
    policy = MemoryPolicy(strategy="speed", p99_objective_ms=400)
    rec = decide_memory(function(3855), obs, policy, PRICES, NOW, "rec-1")
    # When it proposes to try a larger size the model expects no faster (its projection: p99 up)
    assert rec.kind == "experiment" and int(rec.proposed["memory_mb"] or 0) > 3855
    assert rec.after is not None and rec.before is not None
    assert rec.after.p99_ms.expected >= rec.before.p99_ms.expected
    # Then its reason gives the odds and what it gains when it wins, both positive and honest about a
    # coin flip; not an "expected improvement" a reader would take against that projection
    why = rec.reason.decided_by
    said = re.search(r"a (\d+)% chance it is faster, by ([\d.]+)% on average if it is", why)
    assert said is not None, why
    assert 0 < int(said.group(1)) < 100 and float(said.group(2)) > 0
    assert "expected improvement" not in why and "expected improvement" not in rec.reason.summary
