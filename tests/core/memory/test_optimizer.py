"""Every constraint and strategy decides at least one case; keeping is a recommendation with a reason."""

from __future__ import annotations

import numpy as np
import pytest
from memory_support import NOW, cpu_bound, epoch, function, io_bound, observe

from lambda_tuner.core.cost import invocation_cost
from lambda_tuner.core.fitting import fit_duration
from lambda_tuner.core.models import Observations
from lambda_tuner.core.optimizer import MemoryPolicy, decide_memory, evaluate, usage_from
from lambda_tuner.core.pricing import default_prices

PRICES = default_prices()


def half_cpu(m: float) -> float:
    """Two seconds of I/O plus two seconds of single-threaded CPU at one vCPU."""
    return 2000.0 + 2000.0 * 1769.0 / min(m, 1769.0)


def decide(memory_mb, curve, sizes, *, timeout_s=30, obs_kwargs=None, baseline=None, **policy):
    obs = observe(curve, sizes, **(obs_kwargs or {}))
    settings = {"min_saving_usd_month": 0.0, "explore": False, **policy}
    return decide_memory(
        function(memory_mb, timeout_s=timeout_s),
        obs,
        MemoryPolicy(**settings),
        PRICES,
        NOW,
        "rec-1",
        baseline_p99_ms=baseline,
    )


def test_too_little_traffic_is_insufficient_data_and_changes_nothing():
    rec = decide(1024, io_bound, [1024], obs_kwargs={"invocations": 50}, strategy="cost")
    assert rec.kind == "insufficient_data"
    assert rec.proposed == rec.current == {"memory_mb": 1024}
    assert "min_invocations" in rec.reason.decided_by


def test_the_memory_floor_raises_a_function_close_to_running_out_of_memory():
    # Given 900 MB used at 1,024 MB configured, an I/O-bound function the cost strategy would shrink
    rec = decide(1024, io_bound, [1024], obs_kwargs={"used_mb": 900.0}, strategy="cost")
    # Then it goes up to 900 x 1.25 instead
    assert rec.kind == "memory"
    assert rec.proposed["memory_mb"] >= 1125
    assert rec.reason.decided_by == "memory floor"


@pytest.mark.parametrize(("used_mb", "moves"), [(825.0, False), (845.0, True)])
def test_a_floor_a_little_above_the_size_in_force_leaves_it_a_larger_one_raises_it(used_mb, moves):
    # Given 1,024 MB configured and a floor (used x 1.25) of 1,031 MB (0.7 % above) or 1,056 MB (3 %)
    rec = decide(1024, io_bound, [1024], obs_kwargs={"used_mb": used_mb}, strategy="cost")
    # Then a floor that rose by a few MB does not make a change of its own (22 % headroom is left);
    # one that rose further raises the size to it, as the floor always does
    if moves:
        assert rec.kind == "memory" and rec.proposed["memory_mb"] >= used_mb * 1.25, rec.proposed
        assert rec.reason.decided_by == "memory floor"
    else:
        assert rec.kind == "keep" and rec.proposed["memory_mb"] == 1024, (rec.kind, rec.reason.summary)


def test_the_step_limit_halves_at_most_per_cycle():
    rec = decide(4096, io_bound, [4096], strategy="cost")
    assert 2048 <= rec.proposed["memory_mb"] < 4096
    assert rec.reason.decided_by == "step limit"


def test_user_bounds_win_over_the_cheapest_size():
    rec = decide(1024, io_bound, [1024], strategy="cost", min_mb=2048)
    assert rec.proposed["memory_mb"] == 2048
    assert rec.reason.decided_by == "bounds"


def test_the_timeout_margin_stops_a_cheaper_but_too_slow_size():
    # Given p99 of about 7.4 s at 1,024 MB and a 11 s timeout (margin 8.8 s): half the memory would time out
    rec = decide(1024, half_cpu, [1024, 1536], timeout_s=11, strategy="cost")
    assert rec.reason.decided_by == "timeout margin"
    assert 800 < rec.proposed["memory_mb"] < 1024
    assert rec.after is not None and rec.after.p99_ms.high < 0.8 * 11_000 * 1.1


def test_a_timeout_at_risk_everywhere_moves_to_the_fastest_size_within_reach():
    rec = decide(128, cpu_bound, [128], timeout_s=30, strategy="cost")
    assert rec.proposed["memory_mb"] == 256
    assert "timeout" in rec.reason.decided_by


def test_a_p99_objective_from_tags_picks_the_cheapest_size_that_meets_it():
    rec = decide(512, cpu_bound, [768, 512], strategy="cost", p99_objective_ms=5000)
    assert rec.reason.decided_by == "p99 objective"
    assert rec.after is not None and rec.after.p99_ms.expected <= 5000
    assert rec.proposed["memory_mb"] < 1100


def test_the_default_strategy_saves_only_within_the_p99_allowance():
    # Given a half-CPU function observed at three sizes, now at 1,024 MB
    rec = decide(1024, half_cpu, [512, 2048, 1024], strategy="default", min_saving_fraction=0.001)
    # Then it shrinks a little, keeping p99 within 10 % of now
    assert rec.kind == "memory"
    assert rec.reason.decided_by == "p99 allowance"
    assert rec.after is not None and rec.before is not None
    assert rec.after.p99_ms.expected <= 1.1 * rec.before.p99_ms.expected
    assert rec.monthly_saving_usd is not None and rec.monthly_saving_usd.expected > 0


def test_a_stored_baseline_keeps_the_allowance_from_compounding_over_cycles():
    # Given the p99 of the first configuration (1,536 MB) was stored; the function now runs at 1,024 MB
    first_p99 = half_cpu(1536) * (1 + 2.33 * 0.15)
    rec = decide(1024, half_cpu, [1536, 2048, 1024], strategy="default", baseline=first_p99)
    # Then "now" is that first p99: the allowance does not restart from today's slower p99
    assert rec.proposed["memory_mb"] > 1024
    assert rec.after is not None and rec.after.p99_ms.expected <= 1.1 * first_p99


def test_a_change_that_costs_more_says_what_it_costs_not_a_negative_saving():
    # Given a half-CPU function at 512 MB under `speed`: faster sizes cost more
    rec = decide(512, half_cpu, [512, 1024, 2048], strategy="speed")
    assert rec.kind == "memory" and rec.proposed["memory_mb"] > 512
    # Then the reason says what the change costs, with any sign in front of the dollar sign
    assert ": costs $" in rec.reason.summary and "/month more (90 %: " in rec.reason.summary
    assert "$-" not in rec.reason.summary and "saves" not in rec.reason.summary


def test_a_saving_below_the_threshold_keeps_the_size_and_says_why():
    rec = decide(1024, half_cpu, [512, 2048, 1024], strategy="cost", min_saving_fraction=0.5)
    assert rec.kind == "keep"
    assert rec.proposed == {"memory_mb": 1024}
    assert "below the 50.0% threshold" in rec.reason.decided_by
    assert rec.reason.summary.startswith("Keep 1024 MB")
    assert rec.status == "RECORDED"


def test_a_dollar_threshold_keeps_small_savings():
    rec = decide(1024, half_cpu, [512, 2048, 1024], strategy="cost", min_saving_usd_month=10_000.0)
    assert rec.kind == "keep"
    assert "/month below" in rec.reason.decided_by


def test_keeping_the_cheapest_size_is_a_recommendation_with_its_reason():
    rec = decide(128, io_bound, [256, 128], strategy="cost")
    assert rec.kind == "keep"
    assert rec.reason.decided_by == "lowest expected cost"


def test_speed_buys_duration_and_balanced_lands_in_between():
    speed = decide(1024, cpu_bound, [512, 1024], strategy="speed")
    balanced = decide(1024, cpu_bound, [512, 1024], strategy="balanced")
    cost = decide(1024, cpu_bound, [512, 1024], strategy="cost")
    assert speed.proposed["memory_mb"] > 1024
    assert cost.proposed["memory_mb"] <= balanced.proposed["memory_mb"] <= speed.proposed["memory_mb"]


def test_an_uncertain_edge_proposes_a_bounded_experiment_on_real_traffic():
    # Given one observation at the smallest size of a long CPU-heavy function
    rec = decide(128, cpu_bound, [128], timeout_s=900, strategy="cost", explore=True)
    # Then it asks to try a round size (32 MB steps) beyond the observed range, within the step limit
    # but short of its edge (where capped moves land), for one day, with guards, on all traffic (what
    # the apply flow does, so the whole day's extra cost is weighed against the gain)
    assert rec.kind == "experiment"
    assert rec.proposed["memory_mb"] in (160, 192, 224)
    assert "routing_weight" not in rec.proposed
    assert rec.proposed["max_days"] == 1
    assert rec.proposed["stop_if_p99_ms_above"] is not None
    assert rec.proposed["best_guess_mb"] == 128


def test_a_recommendation_carries_projections_a_latency_phrase_and_a_structured_reason():
    rec = decide(1024, half_cpu, [512, 2048, 1024], strategy="default")
    assert rec.before is not None and rec.after is not None and rec.monthly_saving_usd is not None
    for interval in (
        rec.after.duration_ms,
        rec.after.p99_ms,
        rec.after.monthly_cost_usd,
        rec.monthly_saving_usd,
    ):
        assert interval.low <= interval.expected <= interval.high
    assert rec.latency_effect.startswith("p99 ") and " → " in rec.latency_effect
    assert "512 MB" in rec.reason.observed and "2048 MB" in rec.reason.observed
    assert "single_thread" in rec.reason.model
    assert len(rec.reason.alternatives) >= 3
    assert rec.confidence in ("low", "medium", "high")


def test_the_chart_spans_the_allowed_range_with_intervals_and_flags_observed_sizes():
    rec = decide(1024, half_cpu, [512, 2048, 1024], strategy="cost", min_mb=256, max_mb=4096)
    sizes = [p.memory_mb for p in rec.chart]
    assert sizes == sorted(sizes) and sizes[0] == 256 and sizes[-1] == 4096
    assert len(rec.chart) >= 30
    assert {p.memory_mb for p in rec.chart if p.observed} == {512, 1024, 2048}
    assert all(p.duration_low_ms <= p.duration_ms <= p.duration_high_ms for p in rec.chart)


def test_the_vectorised_cost_is_the_scalar_cost_model():
    obs = observe(half_cpu, [512, 1024])
    fn = function(1024)
    fit = fit_duration("fn", "x86_64", obs.epochs)
    usage = usage_from(list(obs.epochs), 1.25)
    ev = evaluate(fn, fit, usage, policy=MemoryPolicy(), prices=PRICES, baseline_p99_ms=None)
    i = int(np.searchsorted(ev.memory_mb, 700))
    expected = invocation_cost(
        PRICES,
        "x86_64",
        float(ev.memory_mb[i]),
        float(ev.draws.mean[0, i]),
        cold_start_rate=usage.cold_start_rate,
        init_ms=usage.init_ms,
    )
    assert ev.cost[0, i] == pytest.approx(expected * usage.invocations_per_month, rel=1e-9)


@pytest.mark.parametrize(
    "bad",
    [
        {"balanced_weight": 1.5},
        {"memory_headroom": 0.9},
        {"min_mb": 64},
        {"strategy": "fastest"},
        {"timeout_margin": 1.2},
    ],
)
def test_a_bad_policy_is_refused_with_a_clear_error(bad):
    with pytest.raises(ValueError):
        MemoryPolicy(**bad)


def test_memory_used_at_the_configured_size_doubles_the_floor_until_a_larger_size_shows_the_real_need():
    # Given the function used all of its 256 MB (the reading is capped: the real need is unknown)
    capped = decide(256, io_bound, [256], obs_kwargs={"used_mb": 256.0}, strategy="cost")
    assert capped.proposed["memory_mb"] == 512
    assert capped.reason.decided_by == "memory floor"
    # When 512 MB then shows 300 MB used, the floor is 300 x 1.25 and the old capped reading is superseded
    epochs = (epoch(256, io_bound(256), used_mb=256.0), epoch(512, io_bound(512), day=1, used_mb=300.0))
    obs = Observations(function="fn", window_start=epochs[0].start, window_end=epochs[1].end, epochs=epochs)
    later = decide_memory(
        function(512),
        obs,
        MemoryPolicy(strategy="cost", min_saving_usd_month=0.0, explore=False),
        PRICES,
        NOW,
        "rec-2",
    )
    assert 375 <= later.proposed["memory_mb"] < 512


def single_thread(m: float) -> float:
    """Single-threaded CPU work: 250 ms at one vCPU (1,769 MB); more memory adds only idle vCPUs."""
    return 250.0 * 1769.0 / min(m, 1769.0)


@pytest.mark.parametrize(("current", "sizes"), [(4096, [1024, 2048, 4096]), (3855, [512, 1024, 1993, 3855])])
def test_speed_leaves_a_size_measured_no_faster_than_a_cheaper_one(current, sizes):
    # Given a single-threaded function under `speed`, measured as fast at about half its size in force
    rec = decide(current, single_thread, sizes, strategy="speed")
    # Then it moves to the cheapest of the near-fastest sizes, not kept at twice the memory for nothing
    assert rec.kind == "memory", rec.reason.summary
    assert 1769 * 0.98 <= rec.proposed["memory_mb"] < current
    assert rec.monthly_saving_usd is not None and rec.monthly_saving_usd.low > 0
    assert rec.after is not None and rec.before is not None
    assert rec.after.duration_ms.expected <= rec.before.duration_ms.expected * 1.005
