"""The agent keeps to its share of the Lambda control-plane quota (fake clock, no real waiting)."""

from __future__ import annotations

import pytest

from lambda_tuner.adapters.pacing import TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.mark.parametrize("n", [1, 7, 50])
def test_n_calls_at_5_per_second_take_at_least_n_fifths_of_a_second(n):
    clock = FakeClock()
    bucket = TokenBucket(5.0, monotonic=clock.monotonic, sleep=clock.sleep)
    for _ in range(n):
        bucket.acquire()
    assert clock.now >= n / 5 - 1e-9
    assert bucket.acquired == n


def test_time_already_passed_between_calls_is_not_waited_again():
    clock = FakeClock()
    bucket = TokenBucket(5.0, monotonic=clock.monotonic, sleep=clock.sleep)
    bucket.acquire()
    clock.now += 10.0  # the caller was busy elsewhere
    bucket.acquire()
    assert clock.sleeps == [pytest.approx(0.2)]


def test_a_sleep_that_does_not_move_the_clock_still_accounts_the_wait():
    # Given a virtual clock that never advances (as in the benchmark)
    waited: list[float] = []
    bucket = TokenBucket(5.0, monotonic=lambda: 100.0, sleep=waited.append)
    for _ in range(10):
        bucket.acquire()
    # Then the waits add up to the time the share requires
    assert sum(waited) == pytest.approx(2.0)
    assert bucket.waited_s == pytest.approx(2.0)


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (5, 0.5)])
def test_nonsense_rates_are_refused(rate, burst):
    with pytest.raises(ValueError, match="rate must be"):
        TokenBucket(rate, burst)
