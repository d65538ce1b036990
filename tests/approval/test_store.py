"""The DynamoDB store against moto over HTTP: conditional transitions, the lease, the chained audit."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import boto3
from approval_support import AUDIT, NOW, STATE, Account, make_rec

from lambda_tuner.adapters.store import Store
from lambda_tuner.core.audit import verify_chain


def _store() -> Store:
    return Store(STATE, AUDIT)


def test_a_recommendation_round_trips_with_its_status(account: Account) -> None:
    store = _store()
    store.put_recommendation(make_rec())
    assert store.get_recommendation("rec-1") == make_rec()
    assert store.get_recommendation("nope") is None


def test_a_transition_happens_only_from_the_expected_status(account: Account) -> None:
    store = _store()
    store.put_recommendation(make_rec())
    assert store.transition("rec-1", "PENDING", "APPROVED", NOW, decided_by={"token_id": "t1"})
    assert not store.transition("rec-1", "PENDING", "REJECTED", NOW)
    assert store.get_recommendation("rec-1").status == "APPROVED"  # type: ignore[union-attr]
    assert store.get_recommendation_item("rec-1")["attrs"]["decided_by"] == {"token_id": "t1"}  # type: ignore[index]
    assert not store.transition("missing", "PENDING", "APPROVED", NOW)


def test_of_many_concurrent_transitions_exactly_one_wins(account: Account) -> None:
    store = _store()
    store.put_recommendation(make_rec())
    with ThreadPoolExecutor(max_workers=8) as pool:
        wins = list(
            pool.map(
                lambda i: store.transition("rec-1", "PENDING", f"{'APPROVED' if i % 2 else 'REJECTED'}", NOW),
                range(8),
            )
        )
    assert wins.count(True) == 1


def test_a_step_is_claimed_once(account: Account) -> None:
    store = _store()
    store.put_recommendation(make_rec())
    assert store.claim("rec-1", "apply", "a")
    assert not store.claim("rec-1", "apply", "b")


def test_recommendations_are_listed_by_status_and_function(account: Account) -> None:
    store = _store()
    store.put_recommendation(make_rec(rec_id="a"))
    store.put_recommendation(make_rec(rec_id="b", function="other"))
    store.put_recommendation(make_rec(rec_id="c", status="APPLIED"))
    store.transition("a", "PENDING", "APPROVED", NOW)
    assert [r.id for r in store.list_recommendations(status="PENDING")] == ["b"]
    assert [r.id for r in store.list_recommendations(status="APPROVED")] == ["a"]
    assert [r.id for r in store.list_recommendations(function="orders-api")] == ["a", "c"]


def test_the_lease_is_exclusive_until_it_expires_or_is_released(account: Account) -> None:
    store = Store(STATE, AUDIT, clock=lambda: 0.0)  # event times only
    assert store.acquire_lease("run-1", NOW, ttl_s=900)
    assert not store.acquire_lease("run-2", NOW + timedelta(minutes=5), ttl_s=900)
    assert store.acquire_lease("run-2", NOW + timedelta(minutes=16), ttl_s=900)  # run-1 died
    store.release_lease("run-1")  # not its lease any more: no effect
    assert not store.acquire_lease("run-3", NOW + timedelta(minutes=17), ttl_s=900)
    store.release_lease("run-2")
    assert store.acquire_lease("run-3", NOW + timedelta(minutes=17), ttl_s=900)


def test_a_late_event_holds_the_lease_by_the_wall_clock(account: Account) -> None:
    # The 06:00 event waited in a backlog and runs at 06:50; the 07:00 event runs on time
    wall = [(NOW + timedelta(minutes=50)).timestamp()]
    store = Store(STATE, AUDIT, clock=lambda: wall[0])
    assert store.acquire_lease("late", NOW, ttl_s=960)
    wall[0] = (NOW + timedelta(minutes=60)).timestamp()
    assert not store.acquire_lease("on-time", NOW + timedelta(minutes=60), ttl_s=960)  # "late" runs on
    wall[0] = (NOW + timedelta(minutes=67)).timestamp()
    assert store.acquire_lease("on-time", NOW + timedelta(minutes=67), ttl_s=960)  # 06:50 + 16 min


def test_function_state_round_trips(account: Account) -> None:
    store = _store()
    assert store.get_function_state("orders-api") == {}
    store.put_function_state("orders-api", {"last_change": "2026-11-20", "epochs": [1, 2]})
    assert store.get_function_state("orders-api") == {"last_change": "2026-11-20", "epochs": [1, 2]}


def test_concurrent_appends_form_one_intact_chain(account: Account) -> None:
    store = _store()
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda i: store.append_audit("recommendation", NOW, function=f"fn-{i}"), range(12)))
    records = store.list_audit()
    assert [r.seq for r in records] == list(range(1, 13))
    assert verify_chain(records, store.published_head()) == []
    assert store.audit_head() == records[-1]


def test_audit_filters_by_time_and_function(account: Account) -> None:
    store = _store()
    store.append_audit("recommendation", NOW, function="a")
    store.append_audit("approval", NOW + timedelta(hours=1), function="b")
    store.append_audit("change", NOW + timedelta(hours=2), function="a")
    assert [r.type for r in store.list_audit(since=NOW + timedelta(minutes=30))] == ["approval", "change"]
    assert [r.type for r in store.list_audit(function="a")] == ["recommendation", "change"]


def test_the_audit_is_written_with_put_only(account: Account) -> None:
    # Given a client that records which DynamoDB operations touch the audit table
    seen: list[tuple[str, str]] = []
    client = boto3.client("dynamodb")  # a fresh client: the hook must not outlive this test
    client.meta.events.register(
        "provide-client-params.dynamodb.*",
        lambda params, model, **_: seen.append((model.name, params.get("TableName", ""))),
    )
    store = Store(STATE, AUDIT, client=client)
    # When records are appended and read
    store.append_audit("recommendation", NOW, function="a")
    store.append_audit("change", NOW, function="a")
    store.list_audit()
    # Then the audit table saw only PutItem and Query (the IAM policy allows nothing else there)
    assert {op for op, table in seen if table == AUDIT} <= {"PutItem", "Query", "GetItem"}


def test_proposals_whose_links_ran_out_expire(account: Account) -> None:
    store = _store()
    store.put_recommendation(make_rec(rec_id="old"))
    store.put_recommendation(make_rec(rec_id="new", created_at=NOW + timedelta(days=2)))
    store.put_recommendation(make_rec(rec_id="done", status="APPLIED"))
    assert store.expire_pending(created_before=NOW + timedelta(days=1), now=NOW + timedelta(days=4)) == [
        "old"
    ]
    assert {r.id: r.status for r in store.list_recommendations()} == {
        "old": "EXPIRED",
        "new": "PENDING",
        "done": "APPLIED",
    }


def test_the_audit_since_a_time_is_read_newest_first_and_only_back_to_it(account: Account) -> None:
    # Given 60 days of audit, one record a day, read 10 records a page
    store = Store(STATE, AUDIT, audit_page_size=10)
    for day in range(60):
        store.append_audit("recommendation", NOW + timedelta(days=day), function=f"fn-{day % 3}")
    pages: list[int] = []
    store.client.meta.events.register("after-call.dynamodb.Query", lambda **kw: pages.append(1))
    # When the last 14 days are asked for
    since = NOW + timedelta(days=46)
    got = store.list_audit(since=since)
    # Then they come in chain order, all of them and nothing older
    assert [r.at for r in got] == [NOW + timedelta(days=d) for d in range(46, 60)]
    assert [r.seq for r in got] == sorted(r.seq for r in got)
    # And the read stopped a page past them instead of reading all 6 pages
    assert len(pages) == 2
    # And a function's records are filtered the same way; without `since` everything comes back
    fn_1 = [NOW + timedelta(days=d) for d in range(46, 60) if d % 3 == 1]
    assert [r.at for r in store.list_audit(since=since, function="fn-1")] == fn_1
    assert len(store.list_audit()) == 60


def test_many_records_are_chained_in_transactions_of_99_and_the_chain_stays_intact(account: Account) -> None:
    # Given an audit that already has a record
    store = _store()
    store.append_audit("change", NOW, function="orders-api")
    calls: list[int] = []
    store.client.meta.events.register(
        "provide-client-params.dynamodb.TransactWriteItems",
        lambda params, **_: calls.append(len(params["TransactItems"])),
    )
    # When a cycle's 250 recommendation records are appended at once
    entries = [("recommendation", NOW, {"function": f"fn-{i}", "data": {"i": i}}) for i in range(250)]
    written = store.append_audit_many(entries)  # type: ignore[arg-type]
    # Then three transactions carry them (99 + 99 + 52 records, each with the head)
    assert calls == [100, 100, 53]
    assert [r.seq for r in written] == list(range(2, 252))
    # And the chain, head included, verifies; a single append after them chains on
    store.append_audit("approval", NOW, function="fn-0")
    records = store.list_audit()
    assert [r.seq for r in records] == list(range(1, 253))
    assert verify_chain(records, store.published_head()) == []


def test_a_run_that_loses_the_race_is_chained_again_after_the_winner(account: Account) -> None:
    # Given another writer that appends just before our first transaction lands
    store, other = _store(), _store()
    raced: list[bool] = []

    def race(**_: object) -> None:
        if not raced:
            raced.append(True)
            other.append_audit("change", NOW, function="apply-fn")

    store.client.meta.events.register("before-call.dynamodb.TransactWriteItems", race)
    written = store.append_audit_many([("recommendation", NOW, {"function": "a"})] * 3)  # type: ignore[list-item]
    # Then our records come after the other writer's, and the chain is intact
    assert [r.seq for r in written] == [2, 3, 4]
    records = store.list_audit()
    assert [r.function for r in records] == ["apply-fn", "a", "a", "a"]
    assert verify_chain(records, store.published_head()) == []


def test_recommendations_are_written_25_to_a_batch(account: Account) -> None:
    store = _store()
    calls: list[int] = []
    store.client.meta.events.register(
        "provide-client-params.dynamodb.BatchWriteItem",
        lambda params, **_: calls.append(len(params["RequestItems"][STATE])),
    )
    store.put_recommendations([make_rec(rec_id=f"rec-{i}", status="RECORDED") for i in range(60)])
    assert calls == [25, 25, 10]
    assert store.get_recommendation("rec-59") is not None


def test_function_states_are_written_25_to_a_batch(account: Account) -> None:
    store = _store()
    calls: list[int] = []
    store.client.meta.events.register(
        "provide-client-params.dynamodb.BatchWriteItem",
        lambda params, **_: calls.append(len(params["RequestItems"][STATE])),
    )
    store.put_function_states({f"fn-{i}": {"baseline_p99_ms": float(i)} for i in range(30)})
    assert calls == [25, 5]
    assert store.get_function_state("fn-29") == {"baseline_p99_ms": 29.0}


def test_recommendations_of_a_status_are_read_from_a_time_on_through_the_index(account: Account) -> None:
    # The cycle reads rejections only so far back: they accumulate for ever, and each cycle reads them
    store = _store()
    for rec_id, age in (("old", 40), ("new", 2)):
        rec = make_rec(rec_id=rec_id, status="REJECTED")
        store.put_recommendation(rec.model_copy(update={"created_at": NOW - timedelta(days=age)}))
    asked: list[dict[str, object]] = []
    store.client.meta.events.register(
        "provide-client-params.dynamodb.Query", lambda params, **_: asked.append(dict(params))
    )
    since = NOW - timedelta(days=30)
    assert [r.id for r in store.list_recommendations(status="REJECTED", since=since)] == ["new"]
    # the index itself leaves the old one out: it is not read and dropped
    assert asked and all("gsi1sk >= :since" in str(p["KeyConditionExpression"]) for p in asked)
    assert [r.id for r in store.list_recommendations(status="REJECTED")] == ["old", "new"]


def test_only_requests_still_marked_unsent_are_withdrawn(account: Account) -> None:
    # Given requests stored marked unsent, one of which a message then carried and one a person answered,
    # and one stored before requests were marked at all (an earlier version's: its links went out)
    store = _store()
    store.put_recommendations(
        [make_rec(rec_id=i) for i in ("stranded", "carried", "answered")],
        unsent=["stranded", "carried", "answered"],
    )
    store.put_recommendation(make_rec(rec_id="older"))
    store.mark_sent(["carried", "gone"], NOW)  # one no longer stored: nothing is made up for it
    assert store.transition("answered", "PENDING", "APPROVED", NOW)
    # When the next cycle withdraws what nobody received
    withdrawn = store.withdraw_unsent(NOW + timedelta(days=1), "not sent")
    # Then only the request no message carried is withdrawn, saying why
    assert withdrawn == ["stranded"]
    status = {i: store.get_recommendation(i).status for i in ("stranded", "carried", "answered", "older")}  # type: ignore[union-attr]
    assert status == {"stranded": "EXPIRED", "carried": "PENDING", "answered": "APPROVED", "older": "PENDING"}
    assert store.get_recommendation_item("stranded")["attrs"]["expired_because"] == "not sent"  # type: ignore[index]
    assert store.get_recommendation("gone") is None
