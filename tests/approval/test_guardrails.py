"""Guardrails: what auto mode may do alone, and how the mode is resolved."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from approval_support import NOW, make_rec

from lambda_tuner.core.guardrails import (
    Guardrails,
    approver,
    in_window,
    resolve_mode,
    resume_holds,
    route,
    step_factor,
    template_change,
)
from lambda_tuner.core.models import FunctionPolicy, Interval, Recommendation

RAILS = Guardrails(max_step_factor=2.0, max_changes_per_cycle=2, change_window_utc=None)


def test_the_function_tag_overrides_the_account_mode() -> None:
    assert resolve_mode("recommend", FunctionPolicy(mode="auto"), kill_switch=False) == "auto"
    assert resolve_mode("auto", FunctionPolicy(), kill_switch=False) == "auto"
    assert resolve_mode("auto", None, kill_switch=False) == "auto"


@pytest.mark.parametrize("mode", ["approve", "auto"])
def test_the_kill_switch_or_a_bad_tag_stops_every_change(mode: str) -> None:
    assert resolve_mode(mode, None, kill_switch=True) == "recommend"  # type: ignore[arg-type]
    assert resolve_mode(mode, FunctionPolicy(errors=("bad p99-ms",)), kill_switch=False) == "recommend"  # type: ignore[arg-type]
    assert resolve_mode("off", None, kill_switch=True) == "off"


def test_step_factor_counts_both_directions_and_from_zero() -> None:
    assert step_factor(make_rec(current=1024, proposed=512)) == 2.0
    assert step_factor(make_rec(current=512, proposed=1536)) == 3.0
    pc = make_rec(kind="provisioned_concurrency", current={"pc": 0}, proposed={"pc": 4})
    assert step_factor(pc) == 4.0


def test_auto_applies_within_the_step_factor_and_asks_beyond_it() -> None:
    small, big = make_rec(rec_id="s", proposed=512), make_rec(rec_id="b", current=2048, proposed=256)
    decisions = route([small, big], {"orders-api": "auto"}, RAILS, NOW)
    assert [(d.recommendation_id, d.route) for d in decisions] == [("s", "apply"), ("b", "approve")]
    assert "exceeds" in decisions[1].reason


def test_auto_makes_an_experiment_within_the_step_factor_its_limits_are_not_settings() -> None:
    # Given a trial 3,008 -> 1,760 MB (1.7x) as the optimizer proposes it, with its limits beside the size
    limits = {"max_days": 1, "max_extra_cost_usd": 0.13, "stop_if_p99_ms_above": 150.0,
              "stop_if_error_rate_above": 0.0, "best_guess_mb": 3008, "stop_if_mean_ms_above": 120.0}
    trial = make_rec(kind="experiment", current=3008, proposed={"memory_mb": 1760, **limits})
    on_alias = {"canary_weight": 0.1, "stop_if_p99_ratio_above": 1.05}
    canary = make_rec(rec_id="c", kind="experiment", current=3008,
                      proposed={"memory_mb": 1760, **on_alias, **limits})
    # Then auto mode makes it (one bounded step), as it makes a memory change of that size
    assert step_factor(trial) == step_factor(canary) == 3008 / 1760
    decisions = route([trial, canary], {"orders-api": "auto"}, RAILS, NOW)
    assert [d.route for d in decisions] == ["apply", "apply"], decisions


def _measured_at(rec: Recommendation, *sizes: int) -> Recommendation:
    """`rec` with its chart marking `sizes` as measured, as the decision's chart marks the fit's sizes."""
    points = [p.model_copy(update={"observed": p.memory_mb in sizes}) for p in rec.chart]
    points += [rec.chart[0].model_copy(update={"memory_mb": m, "observed": True}) for m in sizes]
    return rec.model_copy(update={"chart": tuple({p.memory_mb: p for p in points}.values())})


def test_auto_counts_a_canary_from_the_sizes_measured_as_the_optimizer_bounds_it() -> None:
    # Given a function at 3,008 MB behind an alias whose last canary measured 1,760 MB
    limits = {"max_days": 1, "stop_if_p99_ms_above": 150.0, "stop_if_error_rate_above": 0.0}
    canary = {"canary_weight": 0.1, "stop_if_p99_ratio_above": 1.05, **limits}

    def trial(rec_id: str, size: int, extra: dict[str, Any], kind: str = "experiment") -> Recommendation:
        new = {"memory_mb": size, **extra}
        rec = make_rec(rec_id=rec_id, kind=kind, current=3008, proposed=new, qualifier="live")
        return _measured_at(rec, 3008, 1760)

    # A canary at 1,408 MB is 2.14x from the size in force but 1.25x from the size measured: the
    # optimizer proposes it (one step beyond the sizes measured), and auto mode used to ask for it
    near = trial("near", 1408, canary)
    assert step_factor(near) == 1760 / 1408
    # one at 864 MB is 2.04x beyond the sizes measured; inside their range a canary is no step at all
    far, inside = trial("far", 864, canary), trial("inside", 2048, canary)
    assert step_factor(inside) == 1.0
    # Then auto mode makes the one within a step of what was measured, and asks for the one beyond
    rails = RAILS.model_copy(update={"max_changes_per_cycle": 5})
    decisions = route([near, far, inside], {"orders-api": "auto"}, rails, NOW)
    assert [d.route for d in decisions] == ["apply", "approve", "apply"], decisions
    beyond = "a canary 2.04× from the nearest size measured or in force exceeds the auto limit 2×"
    assert decisions[1].reason == beyond
    # And what moves the size in force is still counted from it: the same size on all traffic, or as a
    # change, and a canary with no alias to split (an all-traffic trial)
    on_all_traffic = trial("all", 1408, limits)
    change = trial("change", 1408, {}, kind="memory")
    no_alias = near.model_copy(update={"id": "no-alias", "qualifier": None})
    for rec in (on_all_traffic, change, no_alias):
        assert step_factor(rec) == 3008 / 1408
        [decision] = route([rec], {"orders-api": "auto"}, RAILS, NOW)
        assert (decision.route, decision.reason) == ("approve", "step 2.14× exceeds the auto limit 2×")
    # while approve mode asks a person for each, as before
    assert {d.route for d in route([near, far, inside], {"orders-api": "approve"}, RAILS, NOW)} == {"approve"}


def test_a_canary_whose_decision_marks_no_size_measured_counts_from_the_size_in_force() -> None:
    canary = make_rec(kind="experiment", current=3008, proposed={"memory_mb": 1408, "canary_weight": 0.1},
                      qualifier="live")  # fmt: skip
    unmarked = canary.model_copy(update={"chart": ()})
    assert step_factor(unmarked) == 3008 / 1408
    [decision] = route([unmarked], {"orders-api": "auto"}, RAILS, NOW)
    assert decision.route == "approve", decision


def test_auto_asks_for_a_pc_schedule_and_says_why_in_words() -> None:
    actions = '[{"schedule":"cron(55 * * * ? *)","pc":29}]'
    schedule = make_rec(kind="provisioned_concurrency", current={"pc": 5},
                        proposed={"pc_schedule": actions}, qualifier="live")
    [decision] = route([schedule], {"orders-api": "auto"}, RAILS, NOW)
    assert decision.route == "approve" and "inf" not in decision.reason, decision.reason


def test_the_per_cycle_budget_goes_to_the_biggest_savings_first() -> None:
    recs = [
        make_rec(rec_id=f"r{i}", monthly_saving_usd=Interval(expected=i, low=i, high=i)) for i in range(4)
    ]
    decisions = {d.recommendation_id: d.route for d in route(recs, {"orders-api": "auto"}, RAILS, NOW)}
    assert decisions == {"r3": "apply", "r2": "apply", "r1": "approve", "r0": "approve"}


def test_outside_the_change_window_auto_changes_become_approval_requests() -> None:
    rails = Guardrails(change_window_utc="02:00-05:00")
    assert route([make_rec()], {"orders-api": "auto"}, rails, NOW)[0].route == "approve"  # 09:00
    assert route([make_rec()], {"orders-api": "auto"}, rails, NOW.replace(hour=3))[0].route == "apply"


def test_a_window_may_wrap_midnight_and_is_read_in_utc() -> None:
    assert in_window("22:00-02:00", NOW.replace(hour=23))
    assert in_window("22:00-02:00", NOW.replace(hour=1))
    assert not in_window("22:00-02:00", NOW.replace(hour=12))
    tokyo = datetime(2026, 11, 26, 11, 0, tzinfo=timezone(timedelta(hours=9)))  # 02:00 UTC
    assert in_window("01:30-02:30", tokyo)


@pytest.mark.parametrize("bad", ["2-5", "02:00", "25:00-01:00", "03:00-03:00"])
def test_a_malformed_window_is_a_clear_error(bad: str) -> None:
    with pytest.raises(ValueError, match="window"):
        in_window(bad, NOW)


def test_modes_other_than_auto_never_apply() -> None:
    rec, keep = make_rec(), make_rec(rec_id="k", kind="keep", proposed={})
    assert route([rec], {"orders-api": "approve"}, RAILS, NOW)[0].route == "approve"
    assert route([rec], {"orders-api": "recommend"}, RAILS, NOW)[0].route == "record"
    assert route([rec], {"orders-api": "off"}, RAILS, NOW)[0].route == "skip"
    assert route([keep], {"orders-api": "auto"}, RAILS, NOW)[0].route == "record"


def test_the_template_change_names_the_property_and_value() -> None:
    text = template_change("sam:shop", make_rec())
    assert "MemorySize = 512" in text and "stack shop" in text
    assert "memory_size = 512" in template_change("terraform", make_rec())


@pytest.mark.parametrize(
    ("current", "proposed", "shown"), [(3008, 1472, "2.05"), (3008, 1503, "2.01"), (1024, 4505, "4.4")]
)
def test_a_step_past_the_limit_does_not_read_as_the_limit(current: int, proposed: int, shown: str) -> None:
    # 3,008 -> 1,472 MB is 2.04x: it used to read "step 2× exceeds the auto limit 2×"
    [decision] = route([make_rec(current=current, proposed=proposed)], {"orders-api": "auto"}, RAILS, NOW)
    assert decision.route == "approve"
    assert decision.reason == f"step {shown}× exceeds the auto limit 2×"


def _saving(rec_id: str, usd: float) -> Recommendation:
    saving = Interval(expected=usd, low=usd, high=usd)
    return make_rec(rec_id=rec_id, status="APPROVED", monthly_saving_usd=saving)


def test_the_agents_own_changes_sent_again_keep_to_the_window_and_the_budget_a_persons_do_not() -> None:
    # Given three approved changes whose first hand-over failed: two the agent's own, one a person's
    small, large, persons = _saving("small", 1.0), _saving("large", 9.0), _saving("person", 0.5)
    approvers = {"small": "agent", "large": "agent", "person": approver({"decided_by": {"token_id": "t"}})}
    recs = [small, large, persons]
    # Outside the change window, the agent's wait and the person's goes
    window = Guardrails(change_window_utc="02:00-03:00")
    held = resume_holds(recs, approvers, window, NOW)
    assert held == dict.fromkeys(["small", "large"], "outside the change window 02:00-03:00 UTC")
    # Inside it, with a budget of one, the larger saving goes first, the other waits; the person's goes
    one = Guardrails(max_changes_per_cycle=1)
    assert resume_holds(recs, approvers, one, NOW) == {
        "small": "over the budget of 1 automatic changes per cycle"
    }
    # and the cycle's new automatic changes get what is left of the budget
    fresh = make_rec(rec_id="new", proposed=512)
    [decision] = route([fresh], {"orders-api": "auto"}, one, NOW, made=1)
    assert decision.route == "approve" and decision.reason.startswith("over the budget of 1"), decision


def test_who_approved_a_change_is_read_from_its_item() -> None:
    assert approver({"decided_by": {"token_id": "t"}}) == "approval"  # the approval page: a person
    assert approver({"approved_by": "agent"}) == "agent"  # auto mode approved its own pending change
    assert approver({}) == "agent"  # stored APPROVED by the cycle in auto mode
