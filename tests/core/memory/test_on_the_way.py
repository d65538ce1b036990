"""A move towards a better size beyond the step limit, when the best size within it is a dip of the
model's curve next to the current size."""

from __future__ import annotations

import numpy as np

from lambda_tuner.core.fitting_draws import Draws
from lambda_tuner.core.memory_types import Evaluation
from lambda_tuner.core.optimizer import MemoryPolicy, _decide_on

SIZES = np.array([128.0, 256.0, 512.0, 1024.0, 1769.0, 2048.0, 3008.0])
CURRENT = 4  # 1,769 MB: the step limit (2 x) reaches 1,024 to 3,008 MB


def _evaluation(objective: list[float], *, soft_ok: list[int] | None = None) -> Evaluation:
    """Expected monthly cost `objective` per size (the same in every draw); every constraint met but
    the step limit, and `soft_ok` for the latency goal when given."""
    n, k = 8, SIZES.size
    obj = np.tile(10 * np.array(objective, dtype=float), (n, 1))  # $100 a month now
    ones = np.ones((n, k))
    draws = Draws(SIZES, ones, ones, ones, ones, np.ones((n, 1)))
    step = np.abs(np.log2(SIZES / SIZES[CURRENT])) <= 1  # within 2 x of the current size
    soft = {} if soft_ok is None else {"p99 allowance": np.array(soft_ok, dtype=bool)}
    return Evaluation(
        memory_mb=SIZES, draws=draws, cost=obj, cost_noisy=obj, current=CURRENT,
        masks={"step limit": step, "bounds": np.ones(k, dtype=bool)}, soft=soft,
        meets=np.ones((n, k), dtype=bool), objective=obj, baseline_p99_ms=100.0, stop_p99_ms=110.0,
        invocations_per_month=1e6,
    )  # fmt: skip


POLICY = MemoryPolicy(strategy="cost")


def test_out_of_a_dip_towards_a_size_three_per_cent_cheaper_two_steps_away() -> None:
    # Given a model whose cheapest size within reach is the current one (a dip at 1,769 MB: 1,024 MB
    # costs 0.5 % more), while 256 MB, beyond the step limit, costs 3 % less
    ev = _evaluation([10.0, 9.7, 9.8, 10.05, 10.0, 10.02, 10.1])
    best, decider, forced, kind, _ = _decide_on(ev, POLICY)
    # Then it moves as far towards 256 MB as the step limit allows, judged by where that leads
    assert (int(SIZES[best]), kind, forced) == (1024, "memory", False)
    assert decider == "step limit (on the way to 256 MB, expected 3.0% better)"


def test_not_when_the_detour_costs_more_for_a_cycle_than_the_destination_saves_in_one() -> None:
    # Given the same, but 1,024 MB costs 4 % more: more than 256 MB would save
    ev = _evaluation([10.0, 9.7, 9.8, 10.4, 10.0, 10.02, 10.1])
    best, _, _, kind, why_keep = _decide_on(ev, POLICY)
    # Then it stays: the model may be wrong about 256 MB, and a wrong heading must not cost more than it
    # promised
    assert (int(SIZES[best]), kind) == (1769, "keep")
    assert why_keep is None


def test_not_for_a_gain_below_the_threshold_nor_through_a_size_the_latency_goal_rules_out() -> None:
    # A destination only 0.5 % cheaper is no reason to move
    small = _evaluation([10.0, 9.95, 9.98, 10.01, 10.0, 10.02, 10.1])
    assert _decide_on(small, POLICY)[3] == "keep"
    # Nor is one whose only way passes a size the latency goal rules out
    blocked = _evaluation([10.0, 9.7, 9.8, 10.05, 10.0, 10.02, 10.1], soft_ok=[1, 1, 1, 0, 1, 1, 1])
    best, _, _, kind, _ = _decide_on(blocked, MemoryPolicy(strategy="cost"))
    assert (int(SIZES[best]), kind) == (1769, "keep")


def test_a_move_within_reach_is_left_to_the_step_limit_alone() -> None:
    # Given the best size within reach already heading the same way (512 MB, within reach from 1,024 MB)
    ev = _evaluation([10.0, 9.7, 9.8, 9.95, 10.0, 10.02, 10.1])
    best, decider, _, kind, _ = _decide_on(ev, POLICY)
    # Then the usual choice stands: the best within the limit, 1,024 MB, judged by where it leads
    assert (int(SIZES[best]), kind) == (1024, "memory") and decider == "step limit"
