"""A canary left routing after its undo failed is taken out by a later cycle, through the apply function.

A canary whose change record could not be written is undone at once; when that undo failed too (the alias
update refused), the trial version kept its share of the alias's traffic with no alarm until a person
acted, and every later change to the function was refused ("alias live already splits its traffic").
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from botocore.config import Config
from e2e_support import T0, Account, deployed, small_fleet

from lambda_tuner.adapters import aws
from lambda_tuner.adapters.canary_flow import UNDO_TRIES
from lambda_tuner.twin import person
from lambda_tuner.twin.spec import AliasSpec

FN, ALIAS = "orders-api", "live"
# one attempt in all: botocore's `max_attempts` counts the retries after the first
NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=5, read_timeout=30)
APPROVAL_PUTS = 2  # the approval function's own writes (its decision record and the audit head)


@pytest.fixture
def approve(monkeypatch: pytest.MonkeyPatch) -> Iterator[Account]:
    orders = small_fleet()[0]
    fleet = [replace(orders, aliases=(AliasSpec(ALIAS, "1"),), invoked=((ALIAS, 1.0),))]
    with deployed(fleet, "approve") as account:
        yield account


def _no_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each injected fault stands for "still failing after the client's retries"."""
    from lambda_tuner.handlers import agent, apply

    monkeypatch.setattr(aws, "CLIENT_CONFIG", NO_RETRIES)
    aws.reset_clients()
    for cached in (agent._wiring, apply._flow):
        cached.cache_clear()


def _routing() -> dict[str, float]:
    got = aws.client("lambda").get_alias(FunctionName=FN, Name=ALIAS)
    return dict(got.get("RoutingConfig", {}).get("AdditionalVersionWeights", {}))


def _stuck_canary(account: Account, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """A canary a person approved whose change record could not be written and whose undo failed too:
    FAILED, "MANUAL CHECK NEEDED", its trial still on 10 % of the alias. Its id and trial version."""
    summary = account.run_agent(T0)["summary"]
    [ask] = [
        r
        for r in summary["recommendations"]
        if r["route"] == "approve" and r["recommendation"]["kind"] == "experiment"
    ]
    _no_retries(monkeypatch)
    account.twin.inject_fault("dynamodb.PutItem", "5xx", count=1, after=APPROVAL_PUTS)  # the change record
    account.twin.inject_fault("lambda.UpdateAlias", "5xx", rate=1.0, after=1)  # the undo's alias update
    person.decide(ask["links"]["approve"])
    account.twin.clear_faults()
    rec_id = str(ask["recommendation"]["id"])
    rec = account.store().get_recommendation(rec_id) or pytest.fail("gone")
    assert rec.status == "FAILED"
    [(trial, weight)] = _routing().items()
    assert weight == pytest.approx(0.1)
    told = account.stack.inbox()
    assert any("MANUAL CHECK NEEDED" in m["text"] for m in told), told
    return rec_id, trial


def _retries(account: Account, rec_id: str) -> list[Any]:
    return [r for r in account.store().list_audit() if r.recommendation_id == rec_id and r.type == "rollback"]


def test_a_later_cycle_takes_a_stuck_canary_out_of_its_alias_once(
    approve: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a canary left routing 10 % of the alias, with no guard, after its undo failed
    rec_id, trial = _stuck_canary(approve, monkeypatch)
    # When the next cycle runs, with Lambda working again
    approve.run_agent(T0 + timedelta(days=1))
    # Then the apply function took the trial version out of the alias's routing, and recorded it
    assert _routing() == {}
    [record] = _retries(approve, rec_id)
    assert record.data["ok"] is True and record.data["removed_from_routing"]["version"] == trial
    # and a person is told, once, that the alias's traffic is back on the version it serves
    told = [m for m in approve.stack.inbox() if FN in m["subject"] and "traffic restored" in m["subject"]]
    assert len(told) == 1, told
    # And the cycle after that asks nothing more: no second record, no second notice
    approve.run_agent(T0 + timedelta(days=2))
    assert len(_retries(approve, rec_id)) == 1
    assert not [m for m in approve.stack.inbox() if "traffic restored" in m["subject"]]


def test_a_stuck_canary_whose_alias_someone_changed_since_is_left_alone_and_said_so(
    approve: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a canary left routing after its undo failed, and then someone's own shift on that alias
    rec_id, trial = _stuck_canary(approve, monkeypatch)
    theirs = {trial: 0.5}
    aws.client("lambda").update_alias(
        FunctionName=FN, Name=ALIAS, RoutingConfig={"AdditionalVersionWeights": theirs}
    )
    # When the next cycles run
    approve.run_agent(T0 + timedelta(days=1))
    approve.run_agent(T0 + timedelta(days=2))
    # Then the alias is as they left it, and the audit and a notice say why it was not touched, once
    assert _routing() == theirs
    [record] = _retries(approve, rec_id)
    assert record.data["ok"] is False and record.data["left_alone"] is True
    told = [m for m in approve.stack.inbox() if FN in m["subject"] and "left as it is" in m["subject"]]
    assert len(told) == 1, told


def test_a_stuck_canary_whose_undo_keeps_failing_is_told_to_a_person_once_and_no_longer_asked(
    approve: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a canary left routing 10 % of the alias after its undo failed, the alias update still refused
    rec_id, trial = _stuck_canary(approve, monkeypatch)
    approve.twin.inject_fault("lambda.UpdateAlias", "5xx", rate=1.0)
    # When the next cycles ask for its undo again, and each attempt fails
    told: list[dict[str, Any]] = []
    for day in range(1, UNDO_TRIES + 1):
        approve.run_agent(T0 + timedelta(days=day))
        told += approve.stack.inbox()
    # Then, its tries spent, a person is told once that the trial still takes its share, unguarded
    stuck = [m for m in told if FN in m["subject"] and trial in m["text"] and "MANUAL CHECK" in m["text"]]
    assert len(stuck) == 1, [m["subject"] for m in told]
    assert _routing() == {trial: pytest.approx(0.1)}
    # And the cycles after that ask nothing more: no further record, no further notice
    records = len(_retries(approve, rec_id))
    approve.run_agent(T0 + timedelta(days=UNDO_TRIES + 1))
    assert len(_retries(approve, rec_id)) == records
    assert not [m for m in approve.stack.inbox() if FN in m["subject"] and trial in m["text"]]
