"""A change a person rejected is not asked for again the next day. On a 40-day soak of the demo fleet the
agent asked for the same trial (batch-ingest at 544 MB from 1,024 MB) every morning after the person had
rejected it, 40 digests in a row: nothing remembered the answer, and the change it once only let go
second did not even match, since a trial's stops move a little with each day's data."""

from __future__ import annotations

from datetime import timedelta

from e2e_support import T0, Account

from lambda_tuner.twin import person

FN = "orders-api"


def test_a_change_a_person_rejected_is_not_asked_for_again(account: Account) -> None:
    # Given the agent in approve mode and the change it asks for on an over-provisioned function
    first = account.run_agent(T0)
    [asked] = [
        r for r in first["summary"]["recommendations"] if r["recommendation"]["function"] == FN and r["links"]
    ]
    rec = asked["recommendation"]
    # When the person presses reject on the page the digest links to
    page, answer = person.decide(asked["links"]["reject"])
    assert answer is not None and answer.status == 200, (page.title, answer and answer.title)
    account.stack.inbox()  # the first digest, read
    # Then the next days' cycles do not ask for it again: no digest, no link for that function
    for day in (1, 2):
        later = account.run_agent(T0 + timedelta(days=day))["summary"]
        again = [
            r["recommendation"]
            for r in later["recommendations"]
            if r["recommendation"]["function"] == FN and r["route"] in ("approve", "apply")
        ]
        assert again == [], (
            f"day {day + 1}: {rec['kind']} {rec['current']['memory_mb']} → {rec['proposed']['memory_mb']} MB "
            f"was rejected on day 1, and asked for again: "
            + "; ".join(f"{r['kind']} to {r['proposed'].get('memory_mb')} MB" for r in again)
        )
        assert [m["subject"] for m in account.stack.inbox()] == [], f"day {day + 1}: a digest went out"
        if day > 1:
            continue  # the same note as the day before is not recorded again
        # and what the cycle says of it tells why, and until when
        [note] = [
            r["recommendation"]
            for r in later["recommendations"]
            if r["recommendation"]["function"] == FN and r["recommendation"]["kind"] == "keep"
        ]
        until = T0 + timedelta(days=30)
        assert "a person rejected" in note["reason"]["summary"], note["reason"]["summary"]
        assert f"asked for on {T0:%Y-%m-%d}" in note["reason"]["summary"], note["reason"]["summary"]
        assert f"until {until:%Y-%m-%d}" in note["reason"]["summary"], note["reason"]["summary"]
