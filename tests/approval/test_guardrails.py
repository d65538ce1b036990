"""Guardrails: what auto mode may do alone, and how the mode is resolved."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from approval_support import NOW, make_rec

from lambda_tuner.core.guardrails import (
    Guardrails,
    in_window,
    resolve_mode,
    route,
    step_factor,
    template_change,
)
from lambda_tuner.core.models import FunctionPolicy, Interval

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
