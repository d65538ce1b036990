"""Auto mode, over HTTP against the twin, on a function whose `mode` tag changed after the agent last read
its tags (the collector re-reads an unchanged function's tags once a week). The agent reads the mode again
before it makes a change itself: a function now tagged mode=approve is asked for, not handed to the apply
function (which refused it, day after day, while the digest listed it as "Applied automatically" and
nobody was asked), and a function whose mode=auto tag was taken off is no longer changed by the agent."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import boto3
import pytest
from e2e_support import T0, Account, deployed, small_fleet

from lambda_tuner.adapters.store import Store

P = "lambda-tuner:"
FN = "orders-api"
CHANGING = ("memory", "experiment", "provisioned_concurrency")


def _three_days(account: Account) -> None:
    """Days 0-2: the agent changes orders-api, and on day 2 reads its tags (it was rolled back that night);
    its day-3 change comes from tags read the day before."""
    for day in range(3):
        assert account.run_agent(T0 + timedelta(days=day))["ok"] is True
    account.stack.inbox()


def _arn() -> str:
    return str(boto3.client("lambda").get_function(FunctionName=FN)["Configuration"]["FunctionArn"])


def _day_three(account: Account) -> tuple[list[dict[str, Any]], list[Any], list[dict[str, Any]]]:
    """Day 3's routed changes of orders-api, its audit records of that day other than recommendations
    and verifications (day 3 may verify a change made on day 2: that changes nothing), and the messages
    sent."""
    at = T0 + timedelta(days=3)
    result = account.run_agent(at)
    routed = [
        r
        for r in result["summary"]["recommendations"]
        if r["recommendation"]["function"] == FN and r["recommendation"]["kind"] in CHANGING
    ]
    store = Store(account.stack.settings["LT_STATE_TABLE"], account.stack.settings["LT_AUDIT_TABLE"])
    records = [
        r for r in store.list_audit(since=at, function=FN) if r.type not in ("recommendation", "verification")
    ]
    return routed, records, account.stack.inbox()


def _section(digest: str, title: str) -> list[str]:
    """The lines of one section of a digest (sections are separated by blank lines)."""
    return next((part.splitlines() for part in digest.split("\n\n") if part.startswith(title)), [])


@pytest.fixture
def approve_with_auto_tag() -> Iterator[Account]:
    fleet = [replace(f, tags={P + "mode": "auto"}) if f.name == FN else f for f in small_fleet()]
    with deployed(fleet, "approve") as account:
        yield account


def test_a_function_tagged_approve_since_its_tags_were_read_is_asked_for(auto: Account) -> None:
    # Given an account in auto mode, and orders-api tagged mode=approve after the agent read its tags
    _three_days(auto)
    size = boto3.client("lambda").get_function_configuration(FunctionName=FN)["MemorySize"]
    boto3.client("lambda").tag_resource(Resource=_arn(), Tags={P + "mode": "approve"})
    # When the next cycle finds a change for it
    routed, records, inbox = _day_three(auto)
    assert routed, "the scenario needs a change on day 3"
    # Then the change is asked for, not made by the agent and then refused by the apply function
    assert [r["route"] for r in routed] == ["approve"] * len(routed), [(r["route"], r["why"]) for r in routed]
    assert [r.type for r in records] == []
    assert boto3.client("lambda").get_function_configuration(FunctionName=FN)["MemorySize"] == size
    # and the digest asks a person for it, instead of listing it as applied
    [digest] = [m["text"] for m in inbox if "digest" in m["text"]]
    asked = _section(digest, "Waiting for your decision")
    assert any(line.startswith(f"1. {FN}: ") for line in asked), digest
    assert not any(FN in line for line in _section(digest, "Applied automatically")), digest
    assert not [m for m in inbox if m["subject"].startswith("lambda-tuner: Not applied")]


def test_a_function_whose_auto_tag_was_taken_off_is_not_changed_by_the_agent(
    approve_with_auto_tag: Account,
) -> None:
    # Given an account in approve mode, and orders-api's mode=auto tag taken off after the agent read it
    _three_days(approve_with_auto_tag)
    size = boto3.client("lambda").get_function_configuration(FunctionName=FN)["MemorySize"]
    boto3.client("lambda").untag_resource(Resource=_arn(), TagKeys=[P + "mode"])
    # When the next cycle finds a change for it
    routed, records, _ = _day_three(approve_with_auto_tag)
    assert routed, "the scenario needs a change on day 3"
    # Then the account's mode decides: a person is asked, and the agent changes nothing
    assert [r["route"] for r in routed] == ["approve"] * len(routed), [(r["route"], r["why"]) for r in routed]
    assert [r.type for r in records] == []
    assert boto3.client("lambda").get_function_configuration(FunctionName=FN)["MemorySize"] == size
