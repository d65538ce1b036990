"""An approved change the apply function never received is sent again by a later cycle (`resume`). The
agent's own changes (auto mode) keep then to what auto mode keeps to: the change window and the cycle's
budget of automatic changes. Until a cycle they fit in, they wait, still approved, and the digest says
why. Before, a later cycle outside the window made them at once, and all of them, whatever the budget.
A person's approval is sent again by the next cycle, whatever the hour: the approval page promised so."""

from __future__ import annotations

from datetime import timedelta

import boto3
import pytest
from e2e_support import T0, Account, deployed, small_fleet

from lambda_tuner.core.models import Recommendation
from lambda_tuner.handlers import agent
from lambda_tuner.twin import person

APPLY = "lambda-tuner-apply"
WINDOW = "05:00-08:00"  # the cycles at 06:00 UTC (T0 and a day on) are inside it, noon is not


def _memory(function: str) -> int:
    return int(boto3.client("lambda").get_function_configuration(FunctionName=function)["MemorySize"])


def _made(rec: Recommendation) -> bool:
    return _memory(rec.function) == rec.proposed["memory_mb"]


def _not_handed_over(account: Account) -> list[Recommendation]:
    """The first cycle's automatic changes, with the apply function unreachable: each left APPROVED."""
    account.twin.inject_fault("lambda.Invoke", "5xx", rate=1.0, function=APPLY)
    failed = account.run_agent(T0)["summary"]["handover_failed"]
    account.twin.clear_faults()
    account.stack.inbox()
    recs = [account.store().get_recommendation(rec_id) for rec_id in failed]
    stuck = [r for r in recs if r is not None and r.status == "APPROVED" and "memory_mb" in r.proposed]
    assert stuck and not any(_made(r) for r in stuck), recs
    return stuck


def _status(account: Account, rec: Recommendation) -> str:
    return (account.store().get_recommendation(rec.id) or rec).status


def _digest(account: Account) -> str:
    [digest] = [m["text"] for m in account.stack.inbox() if "digest" in m["text"]]
    return str(digest)


def test_the_agents_own_change_not_handed_over_waits_for_the_change_window(
    auto: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given auto mode with a change window, and the changes a cycle inside it made not handed over
    monkeypatch.setenv("LT_CHANGE_WINDOW_UTC", WINDOW)
    stuck = _not_handed_over(auto)
    # When a cycle outside the window runs (noon the next day)
    auto.run_agent(T0 + timedelta(days=1, hours=6))
    # Then none of them is made: they wait, approved, and the digest says why
    assert [(r.function, _status(auto, r), _made(r)) for r in stuck] == [
        (r.function, "APPROVED", False) for r in stuck
    ]
    digest = _digest(auto)
    assert f"outside the change window {WINDOW} UTC" in digest, digest
    assert all(f"{r.function}: memory" in digest for r in stuck), digest
    # And the next cycle inside the window makes them
    auto.run_agent(T0 + timedelta(days=2))
    assert [(r.function, _made(r)) for r in stuck] == [(r.function, True) for r in stuck]
    assert all(_status(auto, r) != "APPROVED" for r in stuck)


def test_the_agents_own_changes_not_handed_over_keep_to_the_budget_of_a_cycle(
    auto: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given several automatic changes not handed over, and then a budget of one automatic change a cycle
    stuck = _not_handed_over(auto)
    assert len(stuck) >= 2, "the scenario needs two changes not handed over"
    monkeypatch.setenv("LT_MAX_CHANGES_PER_CYCLE", "1")
    agent._wiring.cache_clear()
    # When the next cycle runs
    auto.run_agent(T0 + timedelta(days=1))
    # Then it makes one of them (the largest saving), and the others wait, approved, the digest says why
    made = [r for r in stuck if _made(r)]
    assert len(made) == 1, [(r.function, _status(auto, r)) for r in stuck]
    waiting = [r for r in stuck if r not in made]
    assert all(_status(auto, r) == "APPROVED" for r in waiting)
    digest = _digest(auto)
    assert "over the budget of 1 automatic changes per cycle" in digest, digest
    # And the cycles after it make the rest, one a cycle
    for day in range(2, 2 + len(waiting)):
        auto.run_agent(T0 + timedelta(days=day))
    assert all(_made(r) for r in waiting), [(r.function, _status(auto, r)) for r in waiting]


def test_a_persons_approval_not_handed_over_is_made_by_the_next_cycle_whatever_the_hour(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with deployed(small_fleet(), "approve") as account:
        # Given a change window, and a change a person approved while the apply function was unreachable
        monkeypatch.setenv("LT_CHANGE_WINDOW_UTC", WINDOW)
        first = account.run_agent(T0)["summary"]
        [ask] = [
            r
            for r in first["recommendations"]
            if (r["recommendation"]["function"], r["route"]) == ("orders-api", "approve")
        ]
        account.twin.inject_fault("lambda.Invoke", "5xx", rate=1.0, function=APPLY)
        _, answer = person.decide(ask["links"]["approve"])
        account.twin.clear_faults()
        assert answer is not None and "next agent cycle retries" in answer.html, answer
        rec = account.store().get_recommendation(ask["recommendation"]["id"])
        assert rec is not None and rec.status == "APPROVED"
        # When the next cycle runs, outside the window
        account.run_agent(T0 + timedelta(hours=6))
        # Then it is made: the window is auto mode's, and a person decided this change
        assert _made(rec) and _status(account, rec) == "APPLIED"
