"""State too large for one DynamoDB item is kept as one item per part, rewriting only what changed."""

from __future__ import annotations

from approval_support import AUDIT, STATE, Account

from lambda_tuner.adapters.store import Store


def test_parts_round_trip_and_only_changed_or_removed_parts_are_written(account: Account) -> None:
    store = Store(STATE, AUDIT)
    # Given 60 parts (more than two batches of 25)
    first = {f"fn-{i:03d}": {"f": {"rev": i}} for i in range(60)} | {"#shared": {"logs": {}}}
    assert store.save_parts("collector", first, {}) == 61
    loaded = store.load_parts("collector")
    assert loaded == first

    # When one part changes and one function is gone
    second = dict(loaded)
    second["fn-007"] = {"f": {"rev": 700}}
    del second["fn-059"]
    writes = store.save_parts("collector", second, loaded)

    # Then exactly those two items were written, and the store holds the new state
    assert writes == 2
    assert store.load_parts("collector") == second


def test_groups_do_not_see_each_others_parts(account: Account) -> None:
    store = Store(STATE, AUDIT)
    store.save_parts("a", {"x": {"v": 1}}, {})
    store.save_parts("b", {"y": {"v": 2}}, {})
    assert store.load_parts("a") == {"x": {"v": 1}}
    assert store.load_parts("b") == {"y": {"v": 2}}
