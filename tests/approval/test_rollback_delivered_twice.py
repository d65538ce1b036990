"""One rollback alarm event delivered twice, or two alarms of one change firing together, roll the change
back once: one rollback record, a chain that verifies, the function at its previous configuration, and
every delivery answering cleanly (moto over HTTP).

Lambda's queue of asynchronous events delivers at least once: the same event can reach two invocations
at the same moment, not only as the retry of one that failed. Most tests make the second delivery run
while the first is at a chosen point, by holding the first at the AWS boundary (a botocore hook); one
lets two deliveries run free, round after round."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
from approval_support import AUDIT, NOW, STATE, Account, answer_lost, make_rec
from test_fix_flow_unrecorded import ACTION
from test_r1_rollback_interrupted import FIRED, FN, Stopped, alarm_names, applied, stops_at

from lambda_tuner.adapters.applier import Applier
from lambda_tuner.adapters.apply_flow import ApplyFlow
from lambda_tuner.adapters.notifier import Notifier
from lambda_tuner.adapters.store import Store
from lambda_tuner.core.audit import verify_chain
from lambda_tuner.core.models import ChangeResult

Delivery = Callable[[], ChangeResult | None]


def another_invocation(account: Account) -> ApplyFlow:
    """The apply function in a second execution environment: its own flow, store and applier."""
    store, applier = Store(STATE, AUDIT), Applier(sleep=lambda _: None)
    return ApplyFlow(store, applier, Notifier(account.topic_arn), alarm_action_arn=ACTION)


@contextmanager
def meanwhile(client: Any, operation: str, delivery: Delivery) -> Iterator[list[ChangeResult | None]]:
    """As `client` is about to send its first `operation`, `delivery` runs to its end on another thread
    (a second invocation of the apply function), then the first goes on; what it answered is kept."""
    answers: list[ChangeResult | None] = []
    errors: list[BaseException] = []
    sent: list[str] = []

    def run() -> None:
        try:
            answers.append(delivery())
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread, which raises it
            errors.append(exc)

    def hold(**_: Any) -> None:
        sent.append(operation)
        if len(sent) == 1:
            second = threading.Thread(target=run)
            second.start()
            second.join(timeout=60)

    event = f"before-send.{client.meta.service_model.endpoint_prefix}.{operation}"
    client.meta.events.register(event, hold, unique_id="meanwhile")
    try:
        yield answers
    finally:
        client.meta.events.unregister(event, unique_id="meanwhile")
    if errors:
        raise errors[0]
    assert len(sent) >= 1, f"the first delivery never sent {operation}"


def rollbacks(store: Store) -> list[str | None]:
    return [r.caused_by for r in store.list_audit() if r.type == "rollback"]


def assert_rolled_back_once(account: Account, store: Store, change: str) -> None:
    """The change undone, one rollback record caused by it, the chain whole, one notice of it."""
    assert account.memory(FN) == 1024
    rec = store.get_recommendation("rec-1")
    assert rec is not None and rec.status == "ROLLED_BACK"
    assert rollbacks(store) == [change]
    records, unreadable = store.read_audit_chain()
    head = store.published_head()
    assert unreadable == [] and verify_chain(records, head) == []
    notices = [m["Subject"] for m in account.messages() if "Rolled back" in m["Subject"]]
    assert notices == [f"lambda-tuner: Rolled back: {FN}"], notices
    assert alarm_names() == []


def test_the_same_event_delivered_twice_in_a_row_rolls_back_once(account: Account) -> None:
    store, flow, change = applied(account)
    alarm = alarm_names()[0]
    first = flow.on_alarm(alarm, FIRED)
    # When the queue delivers the event again, to another invocation, after the first finished
    second = another_invocation(account).on_alarm(alarm, FIRED)
    assert first is not None and first.ok and second is None
    assert_rolled_back_once(account, store, change)


def test_the_same_event_delivered_again_while_the_first_undoes_rolls_back_once(account: Account) -> None:
    store, flow, change = applied(account)
    alarm = alarm_names()[0]
    other = another_invocation(account)
    duplicate = lambda: other.on_alarm(alarm, FIRED)  # noqa: E731 - the second invocation
    # When the queue delivers the event to a second invocation while the first is putting the memory back
    with meanwhile(flow.applier.lam, "UpdateFunctionConfiguration", duplicate) as got:
        first = flow.on_alarm(alarm, FIRED)
    # Then the change is rolled back once, recorded once, and both answer without an error
    assert_rolled_back_once(account, store, change)
    answers = [first, *got]
    assert len(answers) == 2 and sum(a is not None for a in answers) == 1, answers
    assert all(a is None or a.ok for a in answers), answers


def test_the_same_event_delivered_again_while_the_first_records_rolls_back_once(account: Account) -> None:
    store, flow, change = applied(account)
    alarm = alarm_names()[0]
    other = another_invocation(account)
    # When the second invocation runs after the first put the memory back, just before it records that
    with meanwhile(store.client, "TransactWriteItems", lambda: other.on_alarm(alarm, FIRED)) as got:
        first = flow.on_alarm(alarm, FIRED)
    assert_rolled_back_once(account, store, change)
    answers = [first, *got]
    assert len(answers) == 2 and sum(a is not None for a in answers) == 1, answers


def test_two_alarms_of_one_change_firing_together_roll_it_back_once(account: Account) -> None:
    store, flow, change = applied(account)
    first_alarm, second_alarm, *_ = alarm_names()
    other = another_invocation(account)
    # When a second alarm of the change fires in the same minute, while the first one's rollback undoes it
    sibling = lambda: other.on_alarm(second_alarm, FIRED)  # noqa: E731 - the second invocation
    with meanwhile(flow.applier.lam, "UpdateFunctionConfiguration", sibling) as got:
        first = flow.on_alarm(first_alarm, FIRED)
    assert first is not None and first.ok and got == [None], (first, got)
    assert_rolled_back_once(account, store, change)


def test_a_delivery_stopped_after_the_undo_is_finished_once_by_a_retry_and_a_duplicate(
    account: Account,
) -> None:
    store, flow, change = applied(account)
    alarm = alarm_names()[0]
    # When the memory is put back and the invocation stops before the rollback is recorded
    with stops_at(store.client, "TransactWriteItems"), pytest.raises(Stopped):
        flow.on_alarm(alarm, FIRED)
    assert account.memory(FN) == 1024 and rollbacks(store) == []
    # And Lambda retries the event while the queue also hands a duplicate of it to a second invocation
    other = another_invocation(account)
    with meanwhile(store.client, "TransactWriteItems", lambda: other.on_alarm(alarm, FIRED)) as got:
        retried = flow.on_alarm(alarm, FIRED)
    # Then one of them records the rollback, once; the other answers that nothing is left to do
    assert_rolled_back_once(account, store, change)
    answers = [retried, *got]
    assert len(answers) == 2 and sum(a is not None for a in answers) == 1, answers


def at_once(deliveries: list[Delivery]) -> list[ChangeResult | None]:
    """Run `deliveries` on threads that start together (free-running: no hook holds either); their answers."""
    start = threading.Barrier(len(deliveries))
    answers: list[ChangeResult | None] = []
    errors: list[BaseException] = []

    def run(delivery: Delivery) -> None:
        start.wait(timeout=30)
        try:
            answers.append(delivery())
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread, which raises it
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(d,)) for d in deliveries]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    if errors:
        raise errors[0]
    return answers


def test_the_same_event_delivered_to_two_invocations_at_once_rolls_back_once_every_time(
    account: Account,
) -> None:
    # Given a change applied and guarded, round after round (each round's rollback puts 1,024 MB back)
    store, flow, _ = applied(account)
    for round_ in range(6):
        if round_:
            rec_id = f"rec-{round_ + 1}"
            store.put_recommendation(make_rec(rec_id=rec_id, revision_id=None, status="APPROVED"))
            assert flow.apply(rec_id, "approval", NOW + timedelta(days=round_)).ok
        change = store.list_audit()[-1]
        assert change.type == "change" and account.memory(FN) == 512
        alarm, fired = str(change.data["alarms"][0]), NOW + timedelta(days=round_, hours=1)
        # When the queue hands its alarm's event to two invocations that start together
        invocations = [another_invocation(account) for _ in range(2)]
        answers = at_once([partial(i.on_alarm, alarm, fired) for i in invocations])
        # Then the change is rolled back and recorded once, and each invocation answered
        assert account.memory(FN) == 1024
        changes = [r.id for r in store.list_audit() if r.type == "change"]
        assert rollbacks(store) == changes, f"round {round_}"
        assert len(answers) == 2 and sum(a is not None for a in answers) == 1, (round_, answers)
    records, unreadable = store.read_audit_chain()
    assert unreadable == [] and verify_chain(records, store.published_head()) == []


def test_a_rollback_record_whose_answer_was_lost_is_written_once_and_answered(account: Account) -> None:
    store, flow, change = applied(account)
    # When DynamoDB writes the rollback record (and its mark on the recommendation) but the answer is
    # lost, so the SDK sends the transaction again and finds the mark there: its own
    with answer_lost(store.client, "TransactWriteItems") as sent:
        result = flow.on_alarm(alarm_names()[0], FIRED)
    assert sent[:2] == ["TransactWriteItems", "TransactWriteItems"]
    # Then the invocation knows the record for its own: answered, announced, alarms removed, once
    assert result is not None and result.ok, result
    assert_rolled_back_once(account, store, change)
