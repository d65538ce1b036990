"""Tag schema: the per-function policy under a prefix, and which IaC tool owns a function."""

from __future__ import annotations

import pytest

from lambda_tuner.core.tags import detect_iac, parse_policy

P = "lambda-tuner:"


def test_valid_tags_become_the_policy():
    policy = parse_policy(
        {
            f"{P}mode": "approve",
            f"{P}strategy": "balanced:0.3",
            f"{P}p99-ms": "800",
            f"{P}p95-ms": "250.5",
            f"{P}p99-allowance": "0.15",
            f"{P}min-mb": "256",
            f"{P}max-mb": "2048",
            f"{P}cold-start-objective": "max-rate=0.01",
            "team": "x",
        },
        P,
    )
    assert (policy.mode, policy.strategy, policy.balanced_weight) == ("approve", "balanced", 0.3)
    assert (policy.p99_ms, policy.p95_ms, policy.min_mb, policy.max_mb) == (800.0, 250.5, 256, 2048)
    assert policy.cold_start_objective == "max-rate=0.01"
    assert policy.p99_allowance == pytest.approx(0.15)
    assert policy.errors == ()


@pytest.mark.parametrize(
    ("value", "fraction"), [("15%", 0.15), ("0.15", 0.15), ("0%", 0.0), ("50 %", 0.5), ("0.5", 0.5)]
)
def test_the_p99_allowance_reads_as_a_percentage_or_a_fraction(value, fraction):
    policy = parse_policy({f"{P}p99-allowance": value}, P)
    assert policy.errors == () and policy.p99_allowance == pytest.approx(fraction)


def test_tags_under_another_prefix_are_not_read():
    assert parse_policy({"lambda-tuner:mode": "auto"}, "tuner/").mode is None


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("mode", "yolo", "mode must be one of"),
        ("strategy", "cheap", "strategy must be one of"),
        ("strategy", "cost:0.5", "only the balanced strategy takes a weight"),
        ("strategy", "balanced:1.5", "between 0 and 1"),
        ("strategy", "balanced:abc", "is not a number"),
        ("p99-ms", "-5", "positive number"),
        ("p99-ms", "nan", "finite"),
        ("p99-allowance", "15", "fraction from 0 to 0.5"),  # 15 % or 1,500 %? refused, not guessed
        ("p99-allowance", "0.8", "fraction from 0 to 0.5"),  # 80 % slower, or 0.8 % meant? refused
        ("p99-allowance", "-5%", "fraction from 0 to 0.5"),
        ("p99-allowance", "ten", "is not a number"),
        ("min-mb", "64", "between 128 and 10240"),
        ("max-mb", "1.5GB", "whole number"),
        ("mdoe", "auto", "unknown setting"),
        ("cold-start-objective", "", "1 to 64 characters"),
    ],
)
def test_a_bad_tag_is_an_error_naming_the_tag_and_leaves_that_field_unset(key, value, fragment):
    tags = {f"{P}mode": "auto", f"{P}{key}": value}  # for key == "mode" the bad value replaces the good
    policy = parse_policy(tags, P)
    # The other, valid, tag still reads; the bad one is reported (and disables changes downstream).
    assert policy.mode == ("auto" if key != "mode" else None)
    assert len(policy.errors) == 1
    assert f"{P}{key}" in policy.errors[0] and fragment in policy.errors[0]


def test_min_above_max_is_an_error_and_neither_bound_is_used():
    policy = parse_policy({f"{P}min-mb": "2048", f"{P}max-mb": "512"}, P)
    assert policy.min_mb is None and policy.max_mb is None
    assert "min-mb is above max-mb" in policy.errors[0]


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"aws:cloudformation:stack-name": "orders-prod"}, "cloudformation:orders-prod"),
        ({"lambda:createdBy": "SAM"}, "sam"),
        ({"aws:cdk:path": "Stack/Fn/Resource"}, "cdk"),
        ({"pulumi:project": "shop"}, "pulumi:shop"),
        ({"STAGE": "dev", "serverless:service": "api"}, "serverless"),
        ({"ManagedBy": "Terraform"}, "terraform"),
        ({"terraform": "true"}, "terraform"),
        ({"team": "payments", "env": "prod"}, None),
    ],
)
def test_functions_are_marked_with_the_iac_tool_their_tags_name(tags, expected):
    assert detect_iac(tags) == expected


def test_cloudformation_wins_over_the_sam_marker_because_it_names_the_stack():
    assert detect_iac({"lambda:createdBy": "SAM", "aws:cloudformation:stack-name": "s"}) == "cloudformation:s"


def _settable_on_a_function(value: str) -> bool:
    """Whether Lambda's TagResource accepts `value` (botocore's model of the service: TagValue)."""
    import unicodedata

    from botocore.loaders import Loader

    pattern = Loader().load_service_model("lambda", "service-2")["shapes"]["TagValue"]["pattern"]
    assert pattern == r"([\p{L}\p{Z}\p{N}_.:/=+\-@]*)"  # what the check below spells out
    return all(unicodedata.category(ch)[0] in "LZN" or ch in "_.:/=+-@" for ch in value)


def test_the_p99_allowance_forms_the_readme_and_the_refusal_advertise_can_be_set_on_a_function():
    # A tag value that Lambda refuses cannot be a documented way to set the allowance.
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| `p99-allowance`"))
    examples = row.split("|")[2].split("`")[1::2]
    [refusal] = parse_policy({f"{P}p99-allowance": "15"}, P).errors
    advised = refusal.split("`")[1::2]
    assert examples and advised
    for value in examples + advised:
        assert _settable_on_a_function(value), value
        assert parse_policy({f"{P}p99-allowance": value}, P).errors == (), value


def test_every_cold_start_objective_the_readme_shows_can_be_set_on_a_function_and_is_read():
    # `max-rate=0.5%` was the documented form, and Lambda refuses `%` in a tag value: nobody could set it
    from pathlib import Path

    from lambda_tuner.core.pc_objective import parse_objective

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| `cold-start-objective`"))
    examples = row.split("|")[2].split("`")[1::2]
    assert len(examples) >= 4
    for value in examples:
        assert _settable_on_a_function(value), value
        parse_objective(value)  # raises when it cannot be read
