"""The store when DynamoDB fails one call (the twin's injected faults, the client's retries spent): an
audit record written stays written when only the copy of its head could not be, and every read that
fails says so as the store's own error, not as botocore's."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from approval_support import AUDIT, NOW, STATE
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError
from canary_apply_support import canary_rec, render_behind_alias, reset_twin

from lambda_tuner.adapters import aws
from lambda_tuner.adapters.store import Store, StoreError
from lambda_tuner.core.audit import verify_chain
from lambda_tuner.twin.server import Twin

ONE_ATTEMPT = Config(retries={"mode": "standard", "total_max_attempts": 1})


@pytest.fixture(scope="module")
def twin() -> Iterator[Twin]:
    with Twin(render_behind_alias(calls_per_min=1.0, seed=3)) as running:
        yield running


@pytest.fixture
def store(twin: Twin, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    reset_twin(twin, render_behind_alias(calls_per_min=1.0, seed=3), monkeypatch)
    yield Store(STATE, AUDIT, client=aws.session().client("dynamodb", config=ONE_ATTEMPT))
    twin.clear_faults()
    aws.reset_clients()


def test_an_audit_record_whose_head_copy_failed_is_returned_as_written(twin: Twin, store: Store) -> None:
    # Given DynamoDB refusing the second put of an append: the audit head's copy, after the record
    store.append_audit("approval", NOW, function="render", data={"n": 1})
    twin.inject_fault("dynamodb.PutItem", "5xx", count=1, after=1)
    # When a record is appended, then it is returned: it is in the audit (it used to raise, and the
    # change it recorded read as unrecorded, to be undone and recorded again)
    record = store.append_audit("approval", NOW, function="render", data={"n": 2})
    assert [r.id for r in store.list_audit()][-1] == record.id
    # And the next append moves the head past it: the chain verifies, its head in it
    last = store.append_audit("approval", NOW, function="render", data={"n": 3})
    assert store.published_head() == last.hash
    assert verify_chain(store.list_audit(), store.published_head()) == []


READS: dict[str, tuple[str, Callable[[Store], Any]]] = {
    "a recommendation": ("dynamodb.GetItem", lambda s: s.get_recommendation("rec-1")),
    "an alarm's link": ("dynamodb.GetItem", lambda s: s.alarm_link("lambda-tuner-rollback-x")),
    "the audit": ("dynamodb.Query", lambda s: s.list_audit()),
    "the audit's head": ("dynamodb.Query", lambda s: s.audit_head()),
    "the recommendations by status": ("dynamodb.Query", lambda s: s.list_recommendations(status="PENDING")),
    "all recommendations": ("dynamodb.Scan", lambda s: s.list_recommendations()),
    "the collector's parts": ("dynamodb.Query", lambda s: s.load_parts("collector")),
    "the published head": ("dynamodb.GetItem", lambda s: s.published_head()),
}


@pytest.mark.parametrize("what", list(READS))
def test_a_read_dynamodb_refuses_raises_the_stores_error_saying_what(
    twin: Twin, store: Store, what: str
) -> None:
    operation, read = READS[what]
    twin.inject_fault(operation, "5xx", rate=1.0)
    with pytest.raises(StoreError, match=r"cannot read .*InternalServerError"):
        read(store)


WRITES: dict[str, tuple[str, Callable[[Store], Any]]] = {
    "a recommendation": ("dynamodb.PutItem", lambda s: s.put_recommendation(canary_rec())),
    "recommendations": ("dynamodb.BatchWriteItem", lambda s: s.put_recommendations([canary_rec()])),
    "a request marked sent": ("dynamodb.UpdateItem", lambda s: s.mark_sent(["rec-1"], NOW)),
    "a status": ("dynamodb.UpdateItem", lambda s: s.transition("rec-1", "APPROVED", "FAILED", NOW)),
    "a claim": ("dynamodb.UpdateItem", lambda s: s.claim("rec-1", "apply", "me", NOW)),
    "an alarm's link": ("dynamodb.PutItem", lambda s: s.link_alarm("lambda-tuner-rollback-x", {"n": 1})),
    "alarm links removed": (
        "dynamodb.BatchWriteItem",
        lambda s: s.unlink_alarms(["lambda-tuner-rollback-x"]),
    ),
    "a function's state": ("dynamodb.PutItem", lambda s: s.put_function_state("render", {"n": 1})),
    "functions' states": ("dynamodb.BatchWriteItem", lambda s: s.put_function_states({"render": {"n": 1}})),
    "states removed": ("dynamodb.BatchWriteItem", lambda s: s.delete_function_states(["render"])),
    "the collector's parts": ("dynamodb.BatchWriteItem", lambda s: s.save_parts("c", {"a": {"n": 1}}, {})),
    "the lease": ("dynamodb.PutItem", lambda s: s.acquire_lease("me", NOW, 60)),
    "the lease released": ("dynamodb.DeleteItem", lambda s: s.release_lease("me")),
    "an audit record": ("dynamodb.PutItem", lambda s: s.append_audit("approval", NOW, data={})),
    "audit records": ("dynamodb.TransactWriteItems", lambda s: s.append_audit_many([("approval", NOW, {})])),
    "a rollback recorded once": (
        "dynamodb.TransactWriteItems",
        lambda s: s.append_audit("rollback", NOW, data={}, once_on="rec-1"),
    ),
}


@pytest.mark.parametrize("what", list(WRITES))
def test_a_write_dynamodb_refuses_raises_the_stores_error(twin: Twin, store: Store, what: str) -> None:
    # Given DynamoDB refusing the write (its retries spent): the caller meets the store's error, saying
    # what it could not write, never botocore's own (which some callers do not catch)
    operation, write = WRITES[what]
    twin.inject_fault(operation, "5xx", rate=1.0)
    with pytest.raises(StoreError, match=r"InternalServerError"):
        write(store)


@pytest.mark.parametrize("what", list(WRITES))
def test_a_write_dynamodb_does_not_answer_raises_the_stores_error(store: Store, what: str) -> None:
    # Given no answer to the write (botocore's own error, not a ClientError), the reads before it answered
    operation, write = WRITES[what]

    def unanswered(**_: Any) -> None:
        raise EndpointConnectionError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")

    store.client.meta.events.register(f"before-send.{operation}", unanswered)
    with pytest.raises(StoreError, match=r"Could not connect"):
        write(store)
