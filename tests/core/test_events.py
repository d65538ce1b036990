"""A scheduled tick's time is the cycle's clock, so one far from the wall clock runs no cycle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lambda_tuner.core.events import untimely

WALL = datetime(2026, 11, 27, 3, 0, 5, tzinfo=UTC)
MAX_AGE = timedelta(seconds=4500)


@pytest.mark.parametrize(
    ("time", "fragment"),
    [
        (datetime(1970, 1, 1, tzinfo=UTC), "event time 1970-01-01T00:00:00Z is older than 1:15:00"),
        (WALL - MAX_AGE - timedelta(seconds=1), "a stale or hand-made event"),
        (WALL + timedelta(minutes=6), "is ahead of now"),
    ],
)
def test_a_tick_far_from_the_clock_is_refused_with_its_time(time, fragment):
    why = untimely(time, WALL, MAX_AGE)
    assert why is not None and fragment in why


@pytest.mark.parametrize(
    "time",
    [
        WALL - timedelta(seconds=5),  # on time: EventBridge delivers within seconds
        WALL - MAX_AGE,  # waited as long as the agent's event-invoke config lets an event wait, and more
        WALL + timedelta(minutes=4),  # a clock a little behind the scheduler's
    ],
)
def test_a_tick_within_its_delivery_window_runs(time):
    assert untimely(time, WALL, MAX_AGE) is None


def test_without_a_bound_any_time_runs_for_simulated_clocks():
    assert untimely(datetime(1970, 1, 1, tzinfo=UTC), WALL, None) is None
    assert untimely(WALL + timedelta(days=400), WALL, None) is None
