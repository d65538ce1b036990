"""The whole path once, through the real handlers over HTTP: discover → collect → fit → recommend →
notify → approve on the page → apply → audit → the next cycle sees the new configuration."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from e2e_support import T0, Account, context, event

from lambda_tuner.twin import person


def test_a_proposed_change_is_approved_on_the_page_applied_audited_and_seen_by_the_next_cycle(
    account: Account,
):
    # Given a day of the agent on an account with an over-provisioned function
    result = account.run_agent(T0)
    assert result["ok"] is True
    recs = {
        (r["recommendation"]["function"], r["recommendation"]["kind"]): r
        for r in result["summary"]["recommendations"]
    }
    proposal = recs.get(("orders-api", "memory")) or recs[("orders-api", "experiment")]
    assert proposal["route"] == "approve"
    assert proposal["recommendation"]["kind"] in ("memory", "experiment")
    proposed_mb = proposal["recommendation"]["proposed"]["memory_mb"]
    assert proposed_mb < 3008
    assert ("nightly-report", "insufficient_data") in recs
    assert ("orders-api", "arm64_advice") in recs  # advice only: it never reaches the apply path

    # When the person opens the approve link from the email and presses the button
    mail = account.stack.inbox()
    assert len(mail) == 1
    links = {url: action for action, url in person.links_in(mail[0]["text"])}
    approve_url = proposal["links"]["approve"]
    assert links.get(approve_url) == "approve"
    page, answer = person.decide(approve_url)
    assert page.status == 200
    assert answer is not None and answer.status == 200

    # Then the function has the new size, read back from the account, with an audit record of the change
    live = boto3.client("lambda").get_function_configuration(FunctionName="orders-api")
    assert live["MemorySize"] == proposed_mb
    from lambda_tuner.adapters.store import Store

    store = Store(account.stack.settings["LT_STATE_TABLE"], account.stack.settings["LT_AUDIT_TABLE"])
    changes = [r for r in store.list_audit(function="orders-api") if r.type == "change"]
    assert changes and changes[-1].data["after"]["memory_mb"] == proposed_mb
    assert changes[-1].recommendation_id == proposal["recommendation"]["id"]

    # And the next cycle measures the new configuration (the twin emits what the new size does)
    second = account.run_agent(T0 + timedelta(days=1))
    again = [r["recommendation"] for r in second["summary"]["recommendations"]]
    assert {r["current"]["memory_mb"] for r in again if r["function"] == "orders-api"} == {proposed_mb}


def test_a_malformed_scheduled_event_is_an_error_with_a_clear_message(account: Account):
    # An error, not a quiet {"ok": false}: a broken schedule must trip the agent-errors alarm
    from lambda_tuner.handlers import agent

    with pytest.raises(agent.MalformedEventError, match=r"malformed scheduled event: .*'time'") as raised:
        agent.handler(event("malformed.json"), context())
    assert raised.value.__cause__ is None and raised.value.__suppress_context__  # no validation dump


def test_a_tick_far_from_the_clock_runs_no_cycle_and_writes_nothing(
    account: Account, monkeypatch: pytest.MonkeyPatch
):
    # The console's sample Scheduled Event carries 1970: run as is, its records would go into the audit
    # dated 1970, and the look-back read of the audit (newest first, stopping a day before its start)
    # would stop at them. With the product's bound (the twin's stack turns it off: its days are
    # simulated), such a tick is an error, and nothing is written.
    from lambda_tuner.adapters.store import Store
    from lambda_tuner.handlers import agent

    store = Store(account.stack.settings["LT_STATE_TABLE"], account.stack.settings["LT_AUDIT_TABLE"])
    before = store.list_audit()
    monkeypatch.setenv("LT_MAX_EVENT_AGE_S", "4500")
    agent._wiring.cache_clear()
    try:
        ahead = (datetime.now(UTC) + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
        for stamp, fragment in (("1970-01-01T00:00:00Z", "stale or hand-made"), (ahead, "ahead of now")):
            with pytest.raises(agent.MalformedEventError, match=f"{fragment}.*no cycle ran"):
                agent.handler(event("scheduled.json", time=stamp), context())
        assert store.list_audit() == before
    finally:
        monkeypatch.undo()
        agent._wiring.cache_clear()
