"""The collector's stored state stays within DynamoDB's 400 KB an item however many log groups there are,
and keeps only the watermarks of log groups that listed functions still write to."""

from __future__ import annotations

import json
from datetime import timedelta

import boto3
from collect_helpers import NOW, clients, run_collect
from moto import mock_aws

from lambda_tuner.adapters.store import Store
from lambda_tuner.collect import join_state, split_state

ITEM_LIMIT = 400 * 1024
MARK = NOW.isoformat()


def _fleet_state(n: int, *, owners_named: bool) -> dict:
    functions = {f"svc{i // 20:03d}-handler-{i:05d}": {"h": 300, "ms": 120.0} for i in range(n)}
    logs = {}
    for name, entry in functions.items():
        group = f"/acme/prod/{name[:6]}/{name}"
        logs[group] = MARK
        if owners_named:
            entry["g"] = group
    return {"v": 1, "functions": functions, "reports": {}, "logs": logs}


def test_a_deleted_or_excluded_functions_watermark_is_dropped(fresh):
    first = run_collect(fresh)
    assert {"/aws/lambda/cruncher", "/aws/lambda/bad-tags"} <= set(first.state["logs"])
    clients(fresh)["lambda_client"].delete_function(FunctionName="cruncher")
    second = run_collect(fresh, now=NOW + timedelta(days=1), state=first.state, exclude={"bad-tags"})
    assert "/aws/lambda/cruncher" not in second.state["logs"]
    assert "/aws/lambda/bad-tags" not in second.state["logs"]
    assert second.state["logs"]["/shared/ab"] >= first.state["logs"]["/shared/ab"]  # live ones are kept
    shared, parts = split_state(second.state)
    assert "/aws/lambda/cruncher" not in json.dumps([shared, parts])


def test_custom_log_groups_are_kept_with_their_first_owner(fresh):
    state = run_collect(fresh).state
    assert state["functions"]["shared-a"]["g"] == state["functions"]["shared-b"]["g"] == "/shared/ab"
    shared, parts = split_state(state)
    assert "logs" not in shared
    assert parts["shared-a"]["l"] == {"/shared/ab": state["logs"]["/shared/ab"]}
    assert "l" not in parts["shared-b"]
    assert join_state(shared, parts) == state


@mock_aws
def test_six_thousand_custom_log_groups_fit_the_item_limit_and_round_trip(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    ddb.create_table(
        TableName="state",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
    )
    store = Store("state", "audit", client=ddb)
    # owners named (as `next_state` writes it), and not (a state saved before, or built by hand)
    for key, owners_named in (("named", True), ("unnamed", False)):
        state = _fleet_state(6000, owners_named=owners_named)
        shared, parts = split_state(state)
        items = {**parts, "#shared": shared}
        assert max(len(json.dumps(item)) for item in items.values()) < ITEM_LIMIT / 2
        store.save_parts(key, items, {})  # DynamoDB refuses any item over 400 KB
        loaded = store.load_parts(key)
        assert join_state(loaded.pop("#shared"), loaded) == state
