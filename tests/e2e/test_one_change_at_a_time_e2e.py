"""The scheduled agent, over HTTP against the twin, on a function for which one cycle finds both a memory
trial and a PC schedule worth proposing: the digest asks for one, and a person approving it is not
refused. Both in one email, approving the first made the second 'changed since the proposal' (and in
auto mode the PC change ended the canary just started)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from e2e_support import T0, Account, deployed, stopped_before_digest

from lambda_tuner.twin import person, shapes, traffic
from lambda_tuner.twin.spec import AliasSpec, FunctionSpec

P = "lambda-tuner:"
IN_TURN = "one change in flight per function"


@pytest.fixture
def hourly() -> Iterator[Account]:
    yield from _account("approve")


@pytest.fixture
def hourly_recommend() -> Iterator[Account]:
    yield from _account("recommend")


def _account(mode: str) -> Iterator[Account]:
    fleet = [
        # the demo's hourly-export: an hourly burst with PC 20 all day, at a size worth a memory trial
        FunctionSpec(
            "hourly-export",
            shapes.io_bound(3000),
            traffic.hourly(0.2, 400, 0, 5),
            1024,
            aliases=(AliasSpec("live", "6", pc=20),),
            invoked=(("live", 1.0),),
            tags={P + "cold-start-objective": "usd-per-cold-start=0.01", P + "strategy": "cost"},
        )
    ]
    with deployed(fleet, mode) as account:
        yield account


def _changes(result: dict[str, Any]) -> list[dict[str, Any]]:
    recs = result["summary"]["recommendations"]
    return [r for r in recs if r["recommendation"]["function"] == "hourly-export"]


def test_one_change_is_asked_for_and_the_other_waits_for_it(hourly: Account) -> None:
    first = _changes(hourly.run_agent(T0))
    asked = [r for r in first if r["route"] == "approve"]
    waits = [r["recommendation"] for r in first if r["recommendation"]["reason"]["decided_by"] == IN_TURN]
    # the PC schedule saves most: it goes first; the memory trial waits for it, and says so
    assert [r["recommendation"]["kind"] for r in asked] == ["provisioned_concurrency"], first
    assert len(waits) == 1 and waits[0]["kind"] == "keep" and waits[0]["qualifier"] == "live"
    assert "goes first; next step after it is: " in waits[0]["reason"]["summary"]
    assert "provisioned-concurrency schedule" in waits[0]["reason"]["summary"]
    # a person approves the one asked for, and it is applied
    page, answer = person.decide(asked[0]["links"]["approve"])
    assert page.status == 200 and answer is not None and answer.status == 200, (page.title, answer)
    assert hourly.twin.async_failures == []
    # the next day, the PC change verified: the schedule in place is kept, not proposed again (the alias
    # reads as the level its last action set, against which the same plan looked new), and the memory
    # change waiting for it is asked for now
    second = _changes(hourly.run_agent(T0 + timedelta(days=1)))
    [pc] = [r["recommendation"] for r in second if "pc" in r["recommendation"]["current"]]
    assert pc["kind"] == "keep"
    assert pc["reason"]["summary"] == "Keep the agent's PC schedule on alias live"
    assert "improves the objective by $0.00 a month only" in pc["reason"]["decided_by"]
    [memory] = [r for r in second if r["route"] == "approve"]
    assert memory["recommendation"]["proposed"]["memory_mb"] < 1024
    page, answer = person.decide(memory["links"]["approve"])
    assert page.status == 200 and answer is not None and answer.status == 200, (page.title, answer)
    assert hourly.twin.async_failures == []


def test_in_recommend_mode_both_changes_are_shown(hourly_recommend: Account) -> None:
    # Nothing is asked for or made there: holding one behind the other would only hide it
    first = _changes(hourly_recommend.run_agent(T0))
    kinds = sorted(r["recommendation"]["kind"] for r in first if r["route"] == "record")
    assert "provisioned_concurrency" in kinds and ("memory" in kinds or "experiment" in kinds), kinds
    assert not [r for r in first if r["recommendation"]["reason"]["decided_by"] == IN_TURN]


def test_a_change_whose_request_nobody_received_still_goes_first(hourly: Account) -> None:
    # Given a cycle stopped (its timeout) after storing its request for the PC change, before SNS took it
    stopped_before_digest(hourly, T0)
    assert hourly.stack.inbox() == []
    # When the next day's cycle asks again
    second = _changes(hourly.run_agent(T0 + timedelta(days=1)))
    # Then it asks for the PC change, which saves most, as the stopped cycle meant to: nobody left it
    # unanswered, so it does not go behind the memory trial as an ask that expired unanswered would
    asked = [r["recommendation"]["kind"] for r in second if r["route"] == "approve"]
    assert asked == ["provisioned_concurrency"], second
