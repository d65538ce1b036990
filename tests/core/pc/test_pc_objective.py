"""The cold-start objective tag: accepted forms, and clear errors for everything else."""

from __future__ import annotations

import pytest

from lambda_tuner.core.pc_objective import BUSINESS_HOURS_LAMBDA, ObjectiveError, parse_objective


@pytest.mark.parametrize("value", [None, "", "cost", "none", "  Cost "])
def test_absent_or_cost_means_cost_only(value: str | None) -> None:
    objective = parse_objective(value)
    assert objective.kind == "cost"
    assert objective.lambdas(0.0) == [0.0] * 168


def test_max_rate_is_read_as_a_fraction_of_calls() -> None:
    # the fraction is what a Lambda tag value can hold (no `%`); a per cent reads the same
    assert parse_objective("max-rate=0.005").max_rate == pytest.approx(0.005)
    assert parse_objective("max-rate=0.5%").max_rate == pytest.approx(0.005)


def test_dollars_per_cold_start_are_used_as_lambda() -> None:
    objective = parse_objective("usd-per-cold-start=0.01")
    assert (objective.kind, objective.usd_per_cold_start) == ("usd", 0.01)


def test_business_hours_weigh_only_weekday_office_hours() -> None:
    objective = parse_objective("none-in-business-hours")
    lambdas = objective.lambdas(0.0)
    # Monday 09:00 is hour 9 of the week; Saturday 09:00 is hour 5 × 24 + 9.
    assert lambdas[9] == BUSINESS_HOURS_LAMBDA
    assert lambdas[7] == 0.0
    assert lambdas[5 * 24 + 9] == 0.0


def test_business_hours_can_be_given_explicitly() -> None:
    objective = parse_objective("none-in-business-hours=MON-SAT/07-20")
    assert objective.business_days == (0, 1, 2, 3, 4, 5)
    assert objective.business_hours == (7, 20)
    assert objective.in_business_hours(5 * 24 + 19)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("max-rate=abc", "not a number"),
        ("max-rate=0", "at most 0.2"),
        ("max-rate=5", "at most 0.2"),  # 5 % is 0.05; five cold starts a call is no rate
        ("max-rate=0.5", "reads like a per cent"),  # half a per cent, written as 0.5? refused
        ("max-rate=150%", "at most 0.2"),
        ("max-rate=nan%", "finite"),
        ("usd-per-cold-start=-1", "negative"),
        ("none-in-business-hours=FRI-MON/08-18", "out of order"),
        ("none-in-business-hours=weekdays", "MON-FRI/08-18"),
        ("fast please", "not understood"),
    ],
)
def test_unreadable_values_raise_an_error_naming_the_accepted_forms(value: str, fragment: str) -> None:
    with pytest.raises(ObjectiveError) as info:
        parse_objective(value)
    assert fragment in str(info.value)
    assert "accepted:" in str(info.value)
