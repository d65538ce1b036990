"""Hourly PC levels become Application Auto Scaling scheduled actions with cron and a time zone."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from lambda_tuner.core.pc_schedule import (
    cron_days,
    describe,
    local_hour_of_week,
    schedule_json,
    scheduled_actions,
)


def office_week(level: int) -> list[int]:
    week = [0] * 168
    for day in range(5):
        week[day * 24 + 8 : day * 24 + 18] = [level] * 10
    return week


def test_weekday_office_hours_become_two_actions_with_the_time_zone() -> None:
    actions = scheduled_actions(office_week(8), "Europe/Berlin")
    assert [(a.schedule, a.capacity, a.timezone) for a in actions] == [
        ("cron(0 8 ? * MON-FRI *)", 8, "Europe/Berlin"),
        ("cron(0 18 ? * MON-FRI *)", 0, "Europe/Berlin"),
    ]
    assert len({a.name for a in actions}) == 2


def test_a_daily_schedule_repeats_every_day() -> None:
    day = [1] * 8 + [4] * 12 + [1] * 4
    actions = scheduled_actions(day, "UTC")
    assert sorted(a.schedule for a in actions) == ["cron(0 20 ? * * *)", "cron(0 8 ? * * *)"]
    assert describe(day, "UTC") == "4 from 08:00 daily, 1 from 20:00 daily (UTC)"


def test_a_constant_level_needs_no_scheduled_action() -> None:
    assert scheduled_actions([3] * 24, "UTC") == ()
    assert describe([3] * 24, "UTC") == "3 at all hours"


def test_the_compact_json_carries_schedule_zone_and_level() -> None:
    parsed = json.loads(schedule_json(scheduled_actions(office_week(2), "America/New_York")))
    assert parsed[0] == {"schedule": "cron(0 8 ? * MON-FRI *)", "tz": "America/New_York", "pc": 2}


@pytest.mark.parametrize(
    ("days", "text"),
    [
        ([0, 1, 2, 3, 4, 5, 6], "*"),
        ([0, 1, 2, 3, 4], "MON-FRI"),
        ([5, 6], "SAT,SUN"),  # cron counts SUN as 1: SAT-SUN would be a range that wraps
        ([4, 5, 6], "FRI-SAT,SUN"),
        ([0, 2, 3, 4], "MON,WED-FRI"),
    ],
)
def test_days_are_written_as_cron_ranges(days: list[int], text: str) -> None:
    assert cron_days(days) == text


def test_hour_of_week_is_local_to_the_time_zone() -> None:
    # Monday 07:30 UTC in November is Monday 08:30 in Berlin (CET, UTC+1).
    at = datetime(2026, 11, 2, 7, 30, tzinfo=UTC)
    assert local_hour_of_week(at, "UTC") == 7
    assert local_hour_of_week(at, "Europe/Berlin") == 8


def test_unknown_zones_wrong_lengths_and_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="IANA"):
        scheduled_actions([0] * 24, "Mars/Olympus")
    with pytest.raises(ValueError, match="24 or 168"):
        scheduled_actions([0] * 25, "UTC")
    with pytest.raises(ValueError, match="negative"):
        scheduled_actions([-1] + [0] * 23, "UTC")
    with pytest.raises(ValueError, match="timezone-aware"):
        local_hour_of_week(datetime(2026, 11, 2, 7, 30), "UTC")  # a naive time
