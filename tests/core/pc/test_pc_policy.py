"""decide_pc: what the agent recommends for provisioned concurrency, and why."""

from __future__ import annotations

import json

import numpy as np
from pc_support import NOW, alias, by_minute, function, observations, sparse_calls, steady_traffic

from lambda_tuner.core.models import Observations
from lambda_tuner.core.pc_objective import parse_objective
from lambda_tuner.core.pc_policy import decide_pc
from lambda_tuner.core.pc_prices import pc_prices

X86 = pc_prices("x86_64")
COST = parse_objective(None)


def steady_obs(days: int = 3) -> Observations:
    conc, calls = steady_traffic(days, 8.0, 100.0)  # 8 environments busy all the time
    return observations(conc, calls, 100.0)


def office_hours_obs() -> Observations:
    # Given 8 days where 10 environments are busy 07:00–17:00 UTC (08:00–18:00 in Berlin) on weekdays.
    level = by_minute(8, lambda d, h: 10.0 if d < 5 and 7 <= h < 17 else 0.0)
    return observations(level, level * 600.0, 100.0)


def test_idle_pc_is_removed() -> None:
    # Given PC 10 on an alias that sees one short call every 30 minutes.
    conc, calls = sparse_calls(3, 30)
    rec = decide_pc(function(), alias(10), observations(conc, calls, 100.0), COST, X86, NOW, "r-1")
    assert rec.kind == "provisioned_concurrency"
    assert (rec.current, rec.proposed) == ({"pc": 10}, {"pc": 0})
    assert rec.reason.summary.startswith("Remove idle PC from alias live")
    assert rec.monthly_saving_usd is not None and rec.monthly_saving_usd.expected > 100  # 10 GB of PC a month
    assert rec.qualifier == "live"


def test_steady_high_utilisation_gets_a_static_level_on_cost_alone() -> None:
    rec = decide_pc(function(), alias(None), steady_obs(), COST, X86, NOW, "r-2")
    assert rec.kind == "provisioned_concurrency"
    assert rec.proposed == {"pc": 8}
    assert rec.pc_schedule == ()
    assert "60%" in rec.reason.decided_by
    assert rec.after is not None and rec.before is not None
    assert rec.after.monthly_cost_usd.expected < rec.before.monthly_cost_usd.expected


def test_the_right_level_already_in_place_is_kept() -> None:
    rec = decide_pc(function(), alias(8), steady_obs(), COST, X86, NOW, "r-3")
    assert rec.kind == "keep"
    assert rec.proposed == {"pc": 8}


def test_office_hour_traffic_gets_a_weekly_schedule_in_the_teams_time_zone() -> None:
    rec = decide_pc(function(), alias(None), office_hours_obs(), COST, X86, NOW, "r-4", tz="Europe/Berlin")
    assert rec.kind == "provisioned_concurrency"
    assert [(a.schedule, a.capacity, a.timezone) for a in rec.pc_schedule] == [
        ("cron(0 8 ? * MON-FRI *)", 10, "Europe/Berlin"),
        ("cron(0 18 ? * MON-FRI *)", 0, "Europe/Berlin"),
    ]
    assert json.loads(str(rec.proposed["pc_schedule"]))[0]["tz"] == "Europe/Berlin"
    assert "08:00 MON-FRI" in rec.reason.summary
    assert "busiest" in rec.reason.observed


def test_snapstart_functions_are_told_pc_cannot_be_combined_instead_of_getting_it() -> None:
    rec = decide_pc(function(snapstart=True), alias(None), steady_obs(), COST, X86, NOW, "r-5")
    assert rec.kind == "keep"
    assert rec.proposed == {"pc": 0}
    assert "SnapStart" in rec.reason.summary
    assert "cannot be combined" in rec.reason.decided_by


def test_an_iac_managed_alias_is_never_set_to_zero_but_gets_a_template_change() -> None:
    conc, calls = sparse_calls(3, 30)
    fn = function(iac="cloudformation:orders-stack")
    rec = decide_pc(fn, alias(10), observations(conc, calls, 100.0), COST, X86, NOW, "r-6")
    assert rec.kind == "template_change"
    assert rec.proposed == {"pc": 0}
    assert "cloudformation:orders-stack" in rec.reason.decided_by


def test_an_iac_managed_alias_gets_a_template_change_for_a_schedule_that_reaches_zero() -> None:
    fn = function(iac="cloudformation:orders-stack")
    rec = decide_pc(fn, alias(None), office_hours_obs(), COST, X86, NOW, "r-7", tz="Europe/Berlin")
    assert rec.kind == "template_change"
    assert min(a.capacity for a in rec.pc_schedule) == 0


def test_reserved_concurrency_caps_the_level() -> None:
    rec = decide_pc(function(reserved_concurrency=5), alias(None), steady_obs(), COST, X86, NOW, "r-8")
    assert rec.proposed == {"pc": 5}
    assert "reserved concurrency 5" in rec.reason.decided_by


def test_a_level_above_the_cap_already_in_place_is_brought_down_to_the_cap() -> None:
    rec = decide_pc(function(reserved_concurrency=5), alias(7), steady_obs(), COST, X86, NOW, "r-8b")
    assert (rec.current, rec.proposed) == ({"pc": 7}, {"pc": 5})


def test_the_accounts_unreserved_concurrency_caps_the_level() -> None:
    rec = decide_pc(function(), alias(None), steady_obs(), COST, X86, NOW, "r-9", unreserved_concurrency=103)
    assert rec.proposed == {"pc": 3}
    assert "unreserved" in rec.reason.decided_by


def test_a_cold_start_rate_objective_buys_pc_that_cost_alone_would_not() -> None:
    # Given one call every 15 minutes: with a 10-minute keep-alive every call starts cold.
    conc, calls = sparse_calls(3, 15)
    obs = observations(conc, calls, 100.0)
    assert decide_pc(function(), alias(None), obs, COST, X86, NOW, "r-10").kind == "keep"
    rec = decide_pc(function(), alias(None), obs, parse_objective("max-rate=0.5%"), X86, NOW, "r-11")
    assert rec.proposed == {"pc": 1}
    assert "cold starts at most 0.5 %" in rec.reason.decided_by
    assert "100.00% → 0.00%" in rec.latency_effect
    assert rec.cold_start_rate_after == 0.0  # the same projection, as a number for verification


def test_no_cold_starts_in_business_hours_means_pc_in_business_hours_only() -> None:
    conc, calls = sparse_calls(8, 15)
    objective = parse_objective("none-in-business-hours")
    obs = observations(conc, calls, 100.0)
    rec = decide_pc(function(), alias(None), obs, objective, X86, NOW, "r-12", tz="Europe/Berlin")
    assert rec.kind == "provisioned_concurrency"
    assert {(a.schedule, a.capacity) for a in rec.pc_schedule} == {
        ("cron(0 8 ? * MON-FRI *)", 1),
        ("cron(0 18 ? * MON-FRI *)", 0),
    }


def test_without_an_alias_pc_is_not_proposed_and_the_reason_says_why() -> None:
    rec = decide_pc(function(), None, steady_obs(), COST, X86, NOW, "r-13")
    assert rec.kind == "keep"
    assert "alias" in rec.reason.summary


def test_less_than_a_day_of_data_is_insufficient() -> None:
    conc, calls = steady_traffic(1, 8.0, 100.0)
    obs = observations(conc[:600], calls[:600], 100.0)
    rec = decide_pc(function(), alias(None), obs, COST, X86, NOW, "r-14")
    assert rec.kind == "insufficient_data"
    assert "24" in rec.reason.summary + rec.reason.decided_by


def test_observations_without_durations_are_insufficient() -> None:
    obs = steady_obs().model_copy(update={"epochs": ()})
    assert decide_pc(function(), alias(None), obs, COST, X86, NOW, "r-15").kind == "insufficient_data"


def test_recommendations_are_stamped_with_the_given_time_and_id() -> None:
    rec = decide_pc(function(), alias(None), steady_obs(), COST, X86, NOW, "r-16")
    assert (rec.id, rec.created_at, rec.function, rec.revision_id) == ("r-16", NOW, "orders", "r1")
    assert rec.after is not None
    assert np.isfinite(rec.after.monthly_cost_usd.expected)


def test_five_minute_periods_give_the_same_weekly_schedule() -> None:
    # Given the office-hours traffic as CloudWatch 5-minute periods (max concurrency, summed calls).
    minute = office_hours_obs()
    series = minute.concurrency
    assert series is not None
    conc = np.asarray(series.max_concurrency).reshape(-1, 5).max(axis=1)
    calls = np.asarray(series.invocations).reshape(-1, 5).sum(axis=1)
    coarse = series.model_copy(update={
        "period_s": 300, "max_concurrency": tuple(conc.tolist()), "invocations": tuple(calls.tolist()),
    })
    obs = minute.model_copy(update={"concurrency": coarse})
    rec = decide_pc(function(), alias(None), obs, COST, X86, NOW, "r-17", tz="Europe/Berlin")
    assert [(a.schedule, a.capacity) for a in rec.pc_schedule] == [
        ("cron(0 8 ? * MON-FRI *)", 10),
        ("cron(0 18 ? * MON-FRI *)", 0),
    ]
