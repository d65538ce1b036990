"""The pure rules behind `Twin.advance`: when scheduled actions fire, what state an alarm window implies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from lambda_tuner.twin.alarms import decide
from lambda_tuner.twin.schedules import fire_times

DAY = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday


def action(schedule: str, timezone: str = "UTC", start: object = None, end: object = None) -> SimpleNamespace:
    return SimpleNamespace(schedule=schedule, timezone=timezone, start_time=start, end_time=end)


def test_a_weekday_cron_fires_once_per_weekday_in_its_time_zone() -> None:
    times = fire_times(action("cron(30 8 ? * MON-FRI *)", "Europe/Paris"), DAY, DAY + timedelta(days=7), DAY)
    assert len(times) == 5
    assert times[0] == datetime(2026, 11, 2, 7, 30, tzinfo=UTC)  # 08:30 in Paris is 07:30 UTC in November


def test_cron_steps_and_lists_expand() -> None:
    times = fire_times(action("cron(0/20 6,18 * * ? *)"), DAY, DAY + timedelta(days=1), DAY)
    assert [t.strftime("%H:%M") for t in times] == ["06:00", "06:20", "06:40", "18:00", "18:20", "18:40"]


def test_at_and_rate_schedules_respect_the_interval_and_end_time() -> None:
    once = fire_times(action("at(2026-11-02T12:00:00)"), DAY, DAY + timedelta(days=1), DAY)
    hourly = fire_times(
        action("rate(6 hours)", end=DAY + timedelta(hours=13)), DAY, DAY + timedelta(days=1), DAY
    )
    assert once == [DAY + timedelta(hours=12)]
    assert hourly == [DAY + timedelta(hours=6), DAY + timedelta(hours=12)]  # DAY itself is not after `since`


def test_unsupported_cron_features_are_refused_clearly() -> None:
    with pytest.raises(ValueError, match="not simulated"):
        fire_times(action("cron(0 8 L * ? *)"), DAY, DAY + timedelta(days=1), DAY)
    with pytest.raises(ValueError, match="6 fields"):
        fire_times(action("cron(0 8 * *)"), DAY, DAY + timedelta(days=1), DAY)


def alarm(treat: str = "missing", needed: int = 2) -> SimpleNamespace:
    return SimpleNamespace(
        treat_missing_data=treat,
        comparison_operator="GreaterThanThreshold",
        threshold=100.0,
        datapoints_to_alarm=needed,
        evaluation_periods=3,
    )


@pytest.mark.parametrize(
    ("treat", "window", "state"),
    [
        ("missing", [150.0, 50.0, 150.0], "ALARM"),  # 2 of 3 breaching
        ("missing", [150.0, 50.0, 50.0], "OK"),
        ("missing", [None, None, None], "INSUFFICIENT_DATA"),
        ("ignore", [None, None, None], None),  # keep the current state
        ("breaching", [150.0, None, None], "ALARM"),
        ("notBreaching", [150.0, None, None], "OK"),
    ],
)
def test_treat_missing_data_decides_the_state_like_cloudwatch(
    treat: str, window: list[float | None], state: str | None
) -> None:
    assert decide(alarm(treat), window) == state
