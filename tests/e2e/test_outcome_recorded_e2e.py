"""An apply that made a change and undid it is in the audit even when DynamoDB then refuses writes: its
outcome is recorded before its status says it ended. The status used to be written first, and when that
write failed the record was never written: the function had run at the new size for a moment and
nothing anywhere said so (found by the fault soak, scratch/soak.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config
from e2e_support import T0, Account, deployed, small_fleet

from lambda_tuner.adapters import aws
from lambda_tuner.adapters.store import Store
from lambda_tuner.handlers import agent, apply
from lambda_tuner.twin import person

FN = "orders-api"
NO_RETRIES = Config(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=5, read_timeout=30)


@pytest.fixture
def approve(monkeypatch: pytest.MonkeyPatch) -> Iterator[Account]:
    with deployed(small_fleet(), "approve") as account:
        # each injected fault stands for "still failing after the client's retries"
        monkeypatch.setattr(aws, "CLIENT_CONFIG", NO_RETRIES)
        aws.reset_clients()
        for cached in (agent._wiring, apply._flow):
            cached.cache_clear()
        yield account


def _ask(account: Account) -> dict[str, Any]:
    first = account.run_agent(T0)["summary"]
    [ask] = [
        r
        for r in first["recommendations"]
        if (r["recommendation"]["function"], r["route"]) == (FN, "approve")
    ]
    return ask


def _memory() -> int:
    return int(boto3.client("lambda").get_function_configuration(FunctionName=FN)["MemorySize"])


def _sizes_set(account: Account) -> list[int]:
    """The sizes $LATEST was set to since the start, as the simulated account saw them."""
    return list(account.world.timeline(FN).memory["$LATEST"].values)


def _outcomes(store: Store, rec_id: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (r.type, r.data)
        for r in store.list_audit(function=FN)
        if r.recommendation_id == rec_id and r.type in ("change", "conflict", "rollback", "refusal")
    ]


def test_a_change_undone_for_want_of_its_alarms_is_recorded_though_its_status_write_failed(
    approve: Account,
) -> None:
    # Given a change a person approved, whose apply cannot create its rollback alarms (so it undoes the
    # change) and whose status write after its claim fails (the approval's and the claim's go through)
    ask = _ask(approve)
    rec_id = str(ask["recommendation"]["id"])
    approve.twin.inject_fault("cloudwatch.PutMetricAlarm", "throttle", rate=1.0)
    approve.twin.inject_fault("dynamodb.UpdateItem", "5xx", rate=1.0, after=2)
    person.decide(ask["links"]["approve"])
    approve.twin.clear_faults()
    # (the change was made, then undone)
    assert len(_sizes_set(approve)) == 2 and _memory() == ask["recommendation"]["current"]["memory_mb"]
    # Then the audit says so: the change was made and undone
    store = approve.store()
    outcomes = _outcomes(store, rec_id)
    assert [(kind, data.get("ok"), data.get("restored")) for kind, data in outcomes] == [
        ("change", False, True)
    ], f"a change made and undone has no record of it: {outcomes}"
    # And the next cycle closes it as failed without a second record asking a person to check it
    approve.run_agent(T0 + timedelta(days=1))
    assert (store.get_recommendation(rec_id) or pytest.fail("gone")).status == "FAILED"
    assert len(_outcomes(store, rec_id)) == 1, _outcomes(store, rec_id)
    assert not [m for m in approve.stack.inbox() if "interrupted" in str(m["subject"])]


def test_a_change_undone_because_it_could_not_be_recorded_is_never_closed_without_a_record(
    approve: Account,
) -> None:
    # Given a change a person approved, whose apply cannot write to the audit (its change record, and
    # then the record that it was undone: the approval's own two writes go through)
    ask = _ask(approve)
    rec_id = str(ask["recommendation"]["id"])
    approve.twin.inject_fault("dynamodb.PutItem", "5xx", rate=1.0, after=2)
    person.decide(ask["links"]["approve"])
    approve.twin.clear_faults()
    assert len(_sizes_set(approve)) == 2 and _memory() == ask["recommendation"]["current"]["memory_mb"]
    store = approve.store()
    # When the next cycle runs (with DynamoDB working again)
    approve.run_agent(T0 + timedelta(days=1))
    # Then the change made and undone is in the audit, and its recommendation is closed
    outcomes = _outcomes(store, rec_id)
    assert outcomes, "a change made and undone was closed with no record of it"
    assert (store.get_recommendation(rec_id) or pytest.fail("gone")).status == "FAILED"
