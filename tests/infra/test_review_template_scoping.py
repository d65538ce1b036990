"""The apply function's guard against changing the stack's own functions covers those functions (and
their versions) and no one else's: a user's function whose name merely starts like one of ours stays
tunable. Read off template.yaml as written, the way IAM matches ARN patterns (`*` spans colons)."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

import pytest

STACK = "lt"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:"


def _deny_patterns(template: dict[str, Any]) -> list[str]:
    statements = template["Resources"]["ApplyFunction"]["Properties"]["Policies"][0]["Statement"]
    [deny] = [s for s in statements if s["Effect"] == "Deny"]
    return [
        r["Fn::Sub"]
        .replace("${AWS::Partition}", "aws")
        .replace("${AWS::Region}", "us-east-1")
        .replace("${AWS::AccountId}", "123456789012")
        .replace("${AWS::StackName}", STACK)
        for r in deny["Resource"]
    ]


def _denied(template: dict[str, Any], function: str) -> bool:
    return any(fnmatchcase(FUNCTION_ARN + function, p) for p in _deny_patterns(template))


@pytest.mark.parametrize("own", ["agent", "approval", "apply"])
def test_the_stacks_own_functions_and_their_versions_are_denied(template: dict[str, Any], own: str) -> None:
    assert _denied(template, f"{STACK}-{own}")
    assert _denied(template, f"{STACK}-{own}:7")


@pytest.mark.parametrize("other", ["lt-agentic-search", "lt-approval-emails", "lt-apply-discounts:3"])
def test_a_users_function_named_like_ours_is_not_denied(template: dict[str, Any], other: str) -> None:
    assert not _denied(template, other)
