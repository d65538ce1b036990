"""A function deleted from the account while the agent holds a request for it: its link says the function
is gone."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from e2e_support import T0, Account, deployed, small_fleet

from lambda_tuner.adapters import aws
from lambda_tuner.adapters.store import Store
from lambda_tuner.twin import person

FN = "orders-api"


@pytest.fixture
def account() -> Iterator[Account]:
    with deployed(small_fleet(), "approve") as deployed_account:
        yield deployed_account


def _store(account: Account) -> Store:
    return Store(account.stack.settings["LT_STATE_TABLE"], account.stack.settings["LT_AUDIT_TABLE"])


def _asked(account: Account) -> dict[str, Any]:
    first = account.run_agent(T0)["summary"]
    [ask] = [
        r
        for r in first["recommendations"]
        if r["recommendation"]["function"] == FN and r["route"] == "approve"
    ]
    account.stack.inbox()
    return ask


def test_the_link_of_a_function_deleted_since_says_it_is_gone(account: Account) -> None:
    # Given a request for orders-api, and orders-api deleted before any cycle ran again
    ask = _asked(account)
    aws.client("lambda").delete_function(FunctionName=FN)
    # When the person opens the link and presses approve
    page, answer = person.decide(ask["links"]["approve"])
    # Then they are told it no longer exists, and nothing is approved
    assert page.status == 410 and "no longer exists" in page.html, (page.status, page.title)
    assert answer is None
    rec = _store(account).get_recommendation(ask["recommendation"]["id"])
    assert rec is not None and rec.status == "PENDING"
