"""The twin's metric math: arithmetic on query ids, evaluated where every series it reads has a value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lambda_tuner.twin.metricmath import MetricMathError, evaluate, names

T = [datetime(2026, 11, 27, tzinfo=UTC) + timedelta(hours=h) for h in range(4)]


def test_a_ratio_is_taken_where_both_series_have_a_value_and_a_zero_divisor_gives_none() -> None:
    canary = {T[0]: 110.0, T[1]: 120.0, T[2]: 90.0}
    live = {T[0]: 100.0, T[1]: 0.0, T[3]: 100.0}
    assert evaluate("canary / live", {"canary": canary, "live": live}) == {T[0]: pytest.approx(1.1)}


def test_arithmetic_follows_precedence_and_numbers_and_signs_are_allowed() -> None:
    a, b = {T[0]: 2.0}, {T[0]: 3.0}
    assert evaluate("-a + b * 2 / 4 - 1", {"a": a, "b": b}) == {T[0]: pytest.approx(-1.5)}
    assert names("(a - b) / a") == {"a", "b"}


def test_if_and_epoch_keep_only_the_datapoints_since_a_moment() -> None:
    # Given a series with a datapoint each hour, and a change at the start of the third hour
    m = {t: float(i) for i, t in enumerate(T)}
    since = T[2].timestamp()
    # Then IF(EPOCH(m) >= since, m) keeps the datapoints from then on, and drops the others
    assert evaluate(f"IF(EPOCH(m) >= {since:.0f}, m)", {"m": m}) == {T[2]: 2.0, T[3]: 3.0}
    # And with an alternative, IF gives it instead; a comparison alone is 1 or 0
    assert evaluate("IF(m > 1, m, -1)", {"m": m}) == {T[0]: -1.0, T[1]: -1.0, T[2]: 2.0, T[3]: 3.0}
    assert evaluate("1 < m <= 2", {"m": m}) == {T[0]: 0.0, T[1]: 0.0, T[2]: 1.0, T[3]: 0.0}
    assert names("IF(EPOCH(m) >= 0, m)") == {"m"}


@pytest.mark.parametrize(
    ("expression", "match"),
    [
        ("FILL(a, 0)", r"FILL\(...\) is not supported"),
        ("IF(a)", r"IF\(...\) is not supported"),
        ("a ** 2", "Pow is not supported"),
        ("a /", "does not parse"),
        ("a / c", r"unknown ids \['c'\]"),
    ],
)
def test_what_the_twin_does_not_implement_is_a_clear_error(expression: str, match: str) -> None:
    with pytest.raises(MetricMathError, match=match):
        evaluate(expression, {"a": {T[0]: 1.0}})
