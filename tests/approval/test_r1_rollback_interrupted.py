"""An alarm rollback that stopped between its claim (the recommendation moved to ROLLED_BACK) and its
record (the apply function timed out or crashed while undoing, or before writing the audit) is finished
by the retried alarm event, once: the change undone and recorded (moto over HTTP)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from approval_support import AUDIT, NOW, STATE, Account, answer_lost
from test_fix_flow_unrecorded import FlakyAuditStore, flow_with
from test_review2_pc_restore_team import guarded_schedule
from test_review_pc_undo import FN as PC_FN
from test_review_pc_undo import _actions, _range
from twin_support import Live

from lambda_tuner.adapters import aws
from lambda_tuner.adapters.apply_flow import CLAIM_STALE_AFTER
from lambda_tuner.adapters.store import Store, StoreError

FN = "orders-api"
FIRED = NOW + timedelta(hours=1)  # the alarm event's time: Lambda's retries of the event carry it too


class Stopped(Exception):
    """The Lambda runtime ending the invocation (its timeout, or a crash): nothing of ours catches it."""


@contextmanager
def stops_at(client: Any, operation: str) -> Iterator[None]:
    """The invocation stops as `client` is about to send its first `operation` (the call is never sent)."""
    calls: list[str] = []

    def stop(**_: Any) -> None:
        calls.append(operation)
        if len(calls) == 1:
            raise Stopped("Task timed out after 900.00 seconds")

    event = f"before-send.{client.meta.service_model.endpoint_prefix}.{operation}"
    client.meta.events.register(event, stop, unique_id="stops-at")
    try:
        yield
    finally:
        client.meta.events.unregister(event, unique_id="stops-at")


def alarm_names() -> list[str]:
    return [a["AlarmName"] for a in aws.client("cloudwatch").describe_alarms()["MetricAlarms"]]


def status(store: Store) -> str:
    rec = store.get_recommendation("rec-1")
    assert rec is not None
    return rec.status


def applied(account: Account) -> tuple[Store, Any, str]:
    """1,024 → 512 MB applied and guarded; (store, flow, the change record's id)."""
    store = Store(STATE, AUDIT)
    flow = flow_with(account, store)
    assert flow.apply("rec-1", "approval", NOW).ok
    assert account.memory(FN) == 512
    return store, flow, store.list_audit()[0].id


def undone(store: Store) -> list[tuple[str, str | None]]:
    return [(r.type, r.caused_by) for r in store.list_audit()]


def test_a_rollback_stopped_before_its_undo_is_finished_by_the_retried_event(account: Account) -> None:
    store, flow, change = applied(account)
    alarm = alarm_names()[0]
    # When its alarm fires and the invocation stops after the claim, before the memory is put back
    with stops_at(flow.applier.lam, "UpdateFunctionConfiguration"), pytest.raises(Stopped):
        flow.on_alarm(alarm, FIRED)
    assert account.memory(FN) == 512 and status(store) == "ROLLED_BACK"
    assert undone(store) == [("change", None)]
    # And Lambda delivers the event again (the apply function retries an event whose invocation failed)
    result = flow.on_alarm(alarm, FIRED)
    # Then the change is undone and recorded, caused by the change, and its alarms go
    # (the retry used to find it ROLLED_BACK and do nothing: 512 MB stayed, read as rolled back)
    assert result is not None and result.ok and result.message == "rolled back", result
    assert account.memory(FN) == 1024
    assert undone(store) == [("change", None), ("rollback", change)]
    assert alarm_names() == []
    [*_, notice] = account.messages()
    assert notice["Subject"] == "lambda-tuner: Rolled back: orders-api"
    assert "earlier attempt stopped" in notice["Message"]
    # And a further delivery finds it recorded and does nothing
    assert flow.on_alarm(alarm, FIRED) is None
    assert undone(store) == [("change", None), ("rollback", change)]


def test_a_rollback_stopped_before_its_record_is_recorded_once_by_the_retried_event(account: Account) -> None:
    store, flow, change = applied(account)
    alarm = alarm_names()[0]
    # When the memory is put back and the invocation stops before the rollback record is written
    with stops_at(store.client, "TransactWriteItems"), pytest.raises(Stopped):
        flow.on_alarm(alarm, FIRED)
    assert account.memory(FN) == 1024 and undone(store) == [("change", None)]
    # Then the retried event records it once, as restored (not as a size "set since" by someone else)
    result = flow.on_alarm(alarm, FIRED)
    assert result is not None and result.ok and result.message == "rolled back", result
    assert account.memory(FN) == 1024
    assert undone(store) == [("change", None), ("rollback", change)]
    [rollback] = [r for r in store.list_audit() if r.type == "rollback"]
    assert rollback.data["ok"] is True and rollback.data["restored"]["memory_mb"] == 1024
    assert "memory_left" not in rollback.data
    assert flow.on_alarm(alarm, FIRED + timedelta(minutes=3)) is None


def test_a_retried_rollback_keeps_a_size_a_deploy_set_since(account: Account) -> None:
    store, flow, change = applied(account)
    alarm = alarm_names()[0]
    # Given a deploy that set 2,048 MB after the agent's change, and a rollback stopped before its record
    aws.client("lambda").update_function_configuration(FunctionName=FN, MemorySize=2048)
    with stops_at(store.client, "TransactWriteItems"), pytest.raises(Stopped):
        flow.on_alarm(alarm, FIRED)
    # Then the retry leaves the deploy's size, and its record and answer say so
    result = flow.on_alarm(alarm, FIRED)
    assert result is not None and result.ok and "memory left at 2048 MB" in result.message, result
    assert account.memory(FN) == 2048
    [rollback] = [r for r in store.list_audit() if r.type == "rollback"]
    assert rollback.caused_by == change and rollback.data["memory_left"] == 2048


def test_a_sibling_alarm_leaves_a_fresh_claim_to_its_owner_and_a_late_one_finishes_a_stale_claim(
    account: Account,
) -> None:
    store, flow, change = applied(account)
    first, second, *_ = alarm_names()
    with stops_at(flow.applier.lam, "UpdateFunctionConfiguration"), pytest.raises(Stopped):
        flow.on_alarm(first, FIRED)
    # When another of the change's alarms fires a minute later, its claimant may still be at work: it waits
    assert flow.on_alarm(second, FIRED + timedelta(minutes=1)) is None
    assert account.memory(FN) == 512 and undone(store) == [("change", None)]
    # And when every retry of the first event failed too, an alarm event once the claim is stale (its
    # attempt ended long ago: an event starts at most an hour late and runs 15 minutes) finishes it
    late = FIRED + CLAIM_STALE_AFTER + timedelta(minutes=1)
    result = flow.on_alarm(second, late)
    assert result is not None and result.ok, result
    assert account.memory(FN) == 1024 and undone(store) == [("change", None), ("rollback", change)]
    assert flow.on_alarm(first, late + timedelta(minutes=1)) is None
    assert len(undone(store)) == 2


def test_a_rollback_whose_claim_landed_but_whose_answer_was_lost_still_rolls_back(account: Account) -> None:
    store, flow, change = applied(account)
    # When DynamoDB carries out the claim (APPLIED → ROLLED_BACK) but its answer is lost, so the SDK
    # sends it again and the second sending finds the recommendation ROLLED_BACK already
    with answer_lost(store.client, "UpdateItem") as sent:
        result = flow.on_alarm(alarm_names()[0], FIRED)
    assert sent[:2] == ["UpdateItem", "UpdateItem"]
    # Then the invocation knows the claim for its own and rolls back, recorded
    # (it used to take the claim for someone else's and return: nothing undone, nothing recorded)
    assert result is not None and result.ok, result
    assert account.memory(FN) == 1024 and undone(store) == [("change", None), ("rollback", change)]


def test_a_stopped_rollback_that_a_revert_recorded_since_is_not_recorded_twice(account: Account) -> None:
    store, flow, change = applied(account)
    alarm = alarm_names()[0]
    with stops_at(flow.applier.lam, "UpdateFunctionConfiguration"), pytest.raises(Stopped):
        flow.on_alarm(alarm, FIRED)
    # Given a person who, seeing 512 MB still in force, reverted the agent's changes meanwhile
    [reverted] = flow.revert(NOW - timedelta(hours=1), FN, FIRED + timedelta(minutes=1))
    assert reverted.ok and account.memory(FN) == 1024
    # When the alarm's event is retried, it finds the change's undo recorded and records no second one
    assert flow.on_alarm(alarm, FIRED) is None
    assert [(r.type, r.data.get("changes")) for r in store.list_audit()] == [
        ("change", None),
        ("revert", [change]),
    ]


def test_a_stopped_pc_rollback_left_to_a_team_is_finished_and_still_left_to_it(live: Live) -> None:
    # Given the agent's PC schedule applied and guarded, and since then the team's own target tracking
    store, flow, change = guarded_schedule(live)
    alarm = str(change.data["alarms"][0])
    # When its alarm fires and the invocation stops as it takes the agent's schedule off
    with stops_at(flow.applier.aas, "DeleteScheduledAction"), pytest.raises(Stopped):
        flow.on_alarm(alarm, FIRED)
    assert _actions() != set()
    # Then the retried event takes the agent's schedule off, leaves the team's range, and records it so
    result = flow.on_alarm(alarm, FIRED)
    assert result is not None and result.ok and "pc-utilisation" in result.message, result
    assert _actions() == set() and _range() == (2, 40)
    [rollback] = [r for r in store.list_audit(function=PC_FN) if r.type == "rollback"]
    assert rollback.caused_by == change.id and rollback.data["left_to"]
    assert flow.on_alarm(alarm, FIRED) is None


def test_of_two_late_events_taking_over_a_stopped_claim_only_one_wins(account: Account) -> None:
    store, flow, _ = applied(account)
    with stops_at(flow.applier.lam, "UpdateFunctionConfiguration"), pytest.raises(Stopped):
        flow.on_alarm(alarm_names()[0], FIRED)
    item = store.get_recommendation_item("rec-1")
    assert item is not None
    held = ("rollback_claim", item["a_rollback_claim"]["S"])  # what both read before either wrote
    late = FIRED + CLAIM_STALE_AFTER + timedelta(minutes=1)
    # The first to write takes the claim over; the second finds it changed, and leaves it to the first
    assert store.transition(
        "rec-1", "ROLLED_BACK", "ROLLED_BACK", late, held=held, rollback_claim={"by": "a"}
    )
    assert not store.transition(
        "rec-1", "ROLLED_BACK", "ROLLED_BACK", late, held=held, rollback_claim={"by": "b"}
    )
    item = store.get_recommendation_item("rec-1")
    assert item is not None and item["attrs"]["rollback_claim"] == {"by": "a"}


class DownStore(FlakyAuditStore):
    """An audit table that refuses the next rollback record, and a state table that refuses to keep the
    rollback for a retry as well (the store is down for a moment)."""

    def transition(self, rec_id: str, from_status: str, to_status: str, now: Any, **attrs: Any) -> bool:
        if "rollback_unrecorded" in attrs:
            raise StoreError("state table unavailable")
        return super().transition(rec_id, from_status, to_status, now, **attrs)


def test_a_rollback_that_could_not_be_recorded_nor_kept_is_finished_by_the_retried_event(
    account: Account,
) -> None:
    store = DownStore("rollback", failures=1)
    flow = flow_with(account, store)
    assert flow.apply("rec-1", "approval", NOW).ok
    change = store.list_audit()[0].id
    alarm = alarm_names()[0]
    # When the change is undone and neither its record nor the outcome kept for a retry can be written
    with pytest.raises(StoreError, match="audit table unavailable"):
        flow.on_alarm(alarm, FIRED)
    [*_, notice] = account.messages()
    assert "undoes the change again and records it" in notice["Message"], notice["Message"]
    # Then the retried event finds its claim unrecorded, and finishes it as the notice says
    # (it used to find the change ROLLED_BACK and return: a rollback the audit never saw)
    result = flow.on_alarm(alarm, FIRED)
    assert result is not None and result.ok and account.memory(FN) == 1024, result
    assert undone(store) == [("change", None), ("rollback", change)]
