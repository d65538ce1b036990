"""The scheduled agent, over HTTP against the twin, when AWS fails part-way through a cycle: what was
decided is not lost, and nothing is stored (and so actionable) without its audit record.

Retries are turned off for these tests (the twin's injected fault stands for "still failing after the
client's retries"), so each cycle fails at once instead of backing off for minutes."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from botocore.config import Config
from e2e_support import T0, Account, small_fleet, stopped_before_digest

from lambda_tuner.adapters import aws, secrets
from lambda_tuner.adapters.notifier import NotifyError
from lambda_tuner.adapters.store import StoreError
from lambda_tuner.twin import person
from lambda_tuner.twin.server import Twin, apply_env
from lambda_tuner.twin.stack import LocalStack
from lambda_tuner.twin.world import World

NO_RETRIES = Config(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=5, read_timeout=30)


def _world() -> World:
    return World(small_fleet(), seed=11, epoch=T0 - timedelta(days=15), now=T0)


@pytest.fixture(scope="module")
def twin() -> Iterator[Twin]:
    saved = dict(os.environ)
    with Twin(_world()) as running:
        yield running
    os.environ.clear()
    os.environ.update(saved)
    aws.reset_clients()


@pytest.fixture
def stack(twin: Twin, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Account]:
    def deploy(mode: str) -> Account:
        twin.reset(_world())
        apply_env(twin)
        monkeypatch.setattr(aws, "CLIENT_CONFIG", NO_RETRIES)
        aws.reset_clients()
        secrets.clear_cache()
        from lambda_tuner.handlers import agent, apply, approval

        for cached in (agent._wiring, approval._flow, apply._flow):
            cached.cache_clear()
        return Account(twin, twin.world, LocalStack(twin, mode=mode).deploy())

    return deploy


def test_an_approval_request_whose_digest_could_not_be_sent_is_asked_again_by_the_next_cycle(
    stack: Callable[[str], Account],
) -> None:
    # Given an over-provisioned function the agent proposes to shrink, and SNS refusing every publish
    account = stack("approve")
    account.twin.inject_fault("sns.Publish", "5xx", rate=1.0)
    # When the day's cycle runs, it fails loudly (the errors alarm), with no email sent
    with pytest.raises(NotifyError):
        account.run_agent(T0)
    assert account.stack.inbox() == []
    # Then the requests nobody received do not wait for an answer: they expired, saying why
    withdrawn = account.store().list_recommendations(status="EXPIRED")
    assert "orders-api" in {r.function for r in withdrawn}
    # And once SNS works again, the next run (an operator's rerun after the alarm, two hours later:
    # the same data, so the same proposal) asks a person again, with links that work
    account.twin.clear_faults()
    second = account.run_agent(T0 + timedelta(hours=2))["summary"]
    asked = [
        r["links"]["approve"]
        for r in second["recommendations"]
        if r["recommendation"]["function"] == "orders-api" and r["route"] == "approve"
    ]
    assert asked, "the proposal for orders-api was never sent to anyone"
    sent = {url for m in account.stack.inbox() for _, url in person.links_in(m["text"])}
    assert set(asked) <= sent


def test_no_recommendation_is_stored_without_its_audit_record_when_the_audit_write_fails(
    stack: Callable[[str], Account],
) -> None:
    # Given auto mode, and the audit table refusing writes for this cycle
    account = stack("auto")
    account.twin.inject_fault("dynamodb.TransactWriteItems", "5xx", rate=1.0)
    # When the cycle runs, it fails at the audit write
    with pytest.raises(StoreError):
        account.run_agent(T0)
    # Then no recommendation was stored that the audit does not have: an APPROVED one would be resumed
    # and applied by a later cycle with no record of why
    store = account.store()
    audited = {r.recommendation_id for r in store.list_audit() if r.type == "recommendation"}
    unaudited = [(r.function, r.status) for r in store.list_recommendations() if r.id not in audited]
    assert unaudited == []


def test_what_a_cycle_could_not_read_or_send_is_in_its_log_line(stack: Callable[[str], Account]) -> None:
    # Given one function whose details stay throttled (a scheduled run's return value is discarded:
    # its log line and its audit are all anyone sees of it)
    account = stack("approve")
    account.twin.inject_fault("lambda.GetFunction", "throttle", rate=1.0, function="orders-api")
    from lambda_tuner.handlers import agent

    lines: list[logging.LogRecord] = []
    capture = logging.Handler()
    capture.emit = lines.append  # type: ignore[method-assign]
    agent.logger.addHandler(capture)
    level = agent.logger.level
    agent.logger.setLevel(logging.INFO)
    try:
        account.run_agent(T0)
    finally:
        agent.logger.removeHandler(capture)
        agent.logger.setLevel(level)
    # Then the cycle's log line names what it could not read
    [done] = [r for r in lines if r.getMessage() == "cycle done"]
    partial = getattr(done, "partial", None)
    assert partial and any("orders-api" in p for p in partial), done.__dict__


def _asks(summary: dict[str, Any], function: str) -> list[dict[str, Any]]:
    return [
        r
        for r in summary["recommendations"]
        if r["recommendation"]["function"] == function and r["route"] == "approve"
    ]


def test_approval_requests_of_a_cycle_stopped_before_its_digest_went_out_are_asked_by_the_next_cycle(
    stack: Callable[[str], Account],
) -> None:
    # Given a cycle that stores its approval requests and is then stopped (its timeout) before SNS took
    # the digest: nobody got a link
    account = stack("approve")
    store = account.store()

    stopped_before_digest(account, T0)
    assert account.stack.inbox() == []
    [stranded] = [r for r in store.list_recommendations(status="PENDING") if r.function == "orders-api"]
    # When the next day's cycle runs
    second = account.run_agent(T0 + timedelta(days=1))["summary"]
    # Then a person is asked about orders-api, with links that work
    asked = [r["links"]["approve"] for r in _asks(second, "orders-api")]
    assert asked, "orders-api was not asked about: its unsent request still holds it"
    sent = {url for m in account.stack.inbox() for _, url in person.links_in(m["text"])}
    assert set(asked) <= sent
    page, form = person.open_link(asked[0])
    assert (page.status, form is not None) == (200, True), page.title
    # And the request nobody received is withdrawn, saying why
    item = store.get_recommendation_item(stranded.id) or {}
    assert item["status"]["S"] == "EXPIRED"
    assert "not sent" in item["attrs"]["expired_because"]


def test_an_approval_request_whose_digest_went_out_is_not_asked_again(
    stack: Callable[[str], Account],
) -> None:
    # Given a cycle whose digest SNS took
    account = stack("approve")
    first = account.run_agent(T0)["summary"]
    [ask] = _asks(first, "orders-api")
    assert account.stack.inbox()
    # When the next day's cycle runs
    second = account.run_agent(T0 + timedelta(days=1))["summary"]
    # Then the request stays open for the person holding its link, and is not asked again
    assert _asks(second, "orders-api") == []
    still = account.store().get_recommendation(ask["recommendation"]["id"])
    assert still is not None and still.status == "PENDING"
    page, form = person.open_link(ask["links"]["approve"])
    assert (page.status, form is not None) == (200, True), page.title
