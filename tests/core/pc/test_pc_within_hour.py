"""Within-hour PC schedules: a function that bursts at the same minutes every hour gets PC only then."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pc_support import NOW, alias, function, observations

from lambda_tuner.core.models import Observations
from lambda_tuner.core.pc_objective import parse_objective
from lambda_tuner.core.pc_policy import decide_pc
from lambda_tuner.core.pc_prices import pc_prices
from lambda_tuner.core.pc_schedule import describe_within_hour, within_hour_actions

X86 = pc_prices("x86_64")
VALUED = parse_objective("usd-per-cold-start=0.05")
DAYS = 3


def burst_obs(minutes: np.ndarray, envs: float = 5.0, mean_ms: float = 30_000.0) -> Observations:
    """`envs` environments busy for one minute at each of `minutes` (minute of the series), idle otherwise."""
    conc = np.zeros(DAYS * 1440)
    conc[minutes] = envs
    return observations(conc, conc * 60_000 / mean_ms, mean_ms)


def cron_job_at(minute: int) -> Observations:
    return burst_obs(np.arange(DAYS * 24) * 60 + minute)


def test_an_hourly_cron_burst_gets_pc_from_a_block_before_it_to_its_end() -> None:
    # Given 5 environments needed at :00 of every hour for 3 days, each a cold start without PC...
    rec = decide_pc(function(), alias(None), cron_job_at(0), VALUED, X86, NOW, "r-1", tz="Europe/Berlin")
    # ...then PC 5 is scheduled from :55 (provisioning takes minutes) to :05, every hour.
    assert rec.kind == "provisioned_concurrency"
    assert [(a.schedule, a.capacity, a.timezone) for a in rec.pc_schedule] == [
        ("cron(5 * * * ? *)", 0, "Europe/Berlin"),
        ("cron(55 * * * ? *)", 5, "Europe/Berlin"),
    ]
    assert json.loads(str(rec.proposed["pc_schedule"]))[1] == {
        "schedule": "cron(55 * * * ? *)", "tz": "Europe/Berlin", "pc": 5,
    }
    assert "5 from :55 to :05, 0 otherwise, every hour (Europe/Berlin)" in rec.reason.summary
    assert "hourly burst at :00" in rec.reason.decided_by
    assert rec.after is not None and rec.before is not None
    assert rec.after.monthly_cost_usd.expected > rec.before.monthly_cost_usd.expected  # PC costs money...
    assert "→ 0 a month" in rec.latency_effect  # ...and buys every cold start away


def test_a_burst_later_in_the_hour_moves_the_schedule_with_it() -> None:
    rec = decide_pc(function(), alias(None), cron_job_at(32), VALUED, X86, NOW, "r-2")
    assert {(a.schedule, a.capacity) for a in rec.pc_schedule} == {
        ("cron(25 * * * ? *)", 5),
        ("cron(35 * * * ? *)", 0),
    }


def test_light_traffic_between_bursts_keeps_one_rise_an_hour_over_a_base_level() -> None:
    # Given the cron burst at :00 and, between bursts, one environment busy every 20 minutes after the
    # keep-alive has lapsed (each a cold start without PC)
    minutes = np.arange(DAYS * 1440)
    conc = np.where(minutes % 60 == 0, 5.0, 0.0)
    conc[(minutes % 60 == 20) | (minutes % 60 == 40)] = 1.0
    obs = observations(conc, conc * 60_000 / 30_000.0, 30_000.0)
    # When PC is planned with cold starts valued
    rec = decide_pc(function(), alias(None), obs, VALUED, X86, NOW, "r-5")
    # Then the schedule rises once an hour, to the burst's level, over a base level for the rest
    assert [(a.schedule, a.capacity) for a in rec.pc_schedule] == [
        ("cron(5 * * * ? *)", 1),
        ("cron(55 * * * ? *)", 5),
    ]
    assert "5 from :55 to :05, 1 otherwise, every hour" in rec.reason.summary


def test_bursts_at_a_different_minute_every_hour_get_no_within_hour_schedule() -> None:
    # Given one burst an hour at a random minute: the blocks of past bursts do not predict the next.
    rng = np.random.default_rng(3)
    obs = burst_obs(np.arange(DAYS * 24) * 60 + rng.integers(0, 60, DAYS * 24))
    rec = decide_pc(function(), alias(None), obs, VALUED, X86, NOW, "r-3")
    assert all("* * * ? *" not in a.schedule for a in rec.pc_schedule)
    assert "every hour" not in rec.reason.summary


def test_an_iac_managed_alias_gets_the_within_hour_schedule_as_a_template_change() -> None:
    fn = function(iac="cloudformation:orders-stack")
    rec = decide_pc(fn, alias(None), cron_job_at(0), VALUED, X86, NOW, "r-4")
    assert rec.kind == "template_change"
    assert len(rec.pc_schedule) == 2


def test_within_hour_actions_change_only_where_the_level_changes() -> None:
    levels = [0, 3, 3, 0, 0, 5, 0, 0, 0, 0, 0, 0]
    actions = within_hour_actions(levels, "UTC", prefix="p")
    assert [(a.name, a.schedule, a.capacity) for a in actions] == [
        ("p-hourly-05", "cron(5 * * * ? *)", 3),
        ("p-hourly-15", "cron(15 * * * ? *)", 0),
        ("p-hourly-25", "cron(25 * * * ? *)", 5),
        ("p-hourly-30", "cron(30 * * * ? *)", 0),
    ]
    assert describe_within_hour(levels, "UTC") == (
        "3 from :05 to :15, 5 from :25 to :30, 0 otherwise, every hour (UTC)"
    )
    assert within_hour_actions([2] * 12, "UTC") == ()
    assert describe_within_hour([2] * 12, "UTC") == "2 at all hours"


@pytest.mark.parametrize("levels", [[], [1] * 7, [1, -1, 0, 0]])
def test_within_hour_levels_that_do_not_divide_the_hour_or_are_negative_are_refused(levels) -> None:
    with pytest.raises(ValueError, match="dividing the hour"):
        within_hour_actions(levels, "UTC")


def test_an_unknown_time_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        within_hour_actions([1, 0, 0, 0], "Mars/Olympus")
