"""Advice that says nothing new is not recorded again every day. On a 40-day soak of the demo fleet the
agent stored and audited some 28 recommendations a day for 42 functions when nothing changed: a
function's keep note is recorded once, but not when arm64 advice (or a template change, or a note that a
person rejected its change) came beside it; then both, every cycle, to say what the audit already said."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from e2e_support import T0, Account, deployed

from lambda_tuner.twin import shapes, traffic
from lambda_tuner.twin.spec import FunctionSpec

CFN = {"aws:cloudformation:stack-name": "shop-prod", "aws:cloudformation:logical-id": "Fn"}


@pytest.fixture
def managed() -> Iterator[Account]:
    """The demo's orders-api: I/O-bound at 3 GB on x86_64, owned by CloudFormation (no trials on it)."""
    spec = FunctionSpec("orders-api", shapes.io_bound(110), traffic.steady(40, seed=1), 3008, tags=CFN)
    with deployed([spec], "approve") as account:
        yield account


def test_the_same_advice_is_recorded_once_not_every_day(managed: Account) -> None:
    # Given a function the agent keeps as it is, with arm64 advice beside the note, three days running
    store = managed.store()
    said: list[list[str]] = []
    for day in range(3):
        before = {r.id for r in store.list_audit(function="orders-api")}
        managed.run_agent(T0 + timedelta(days=day))
        said.append(
            [
                f"{r.data['kind']}: {r.data['reason']['summary'][:60]}"  # type: ignore[index]
                for r in store.list_audit(function="orders-api")
                if r.type == "recommendation" and r.id not in before
            ]
        )
    # Then the first day records the note and the advice, and the next days, which say the same, nothing
    assert sorted(k.split(":")[0] for k in said[0]) == ["arm64_advice", "keep"], said[0]
    assert said[1:] == [[], []], said
