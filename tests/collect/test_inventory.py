"""Discovery requests: paging through ListFunctions and ListAliases, errors named, configs mapped."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from lambda_tuner.adapters import inventory
from lambda_tuner.core.models import FunctionPolicy


def _lambda() -> Any:
    return boto3.client("lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


def _fn(name: str, version: str = "$LATEST", **extra: Any) -> dict[str, Any]:
    return {
        "FunctionName": name,
        "FunctionArn": f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
        "Version": version,
        "MemorySize": 512,
        "RevisionId": f"r-{name}-{version}",
        **extra,
    }


def test_list_functions_follows_next_marker_and_separates_versions():
    lam = _lambda()
    with Stubber(lam) as stub:
        stub.add_response(
            "list_functions",
            {"Functions": [_fn("a"), _fn("b")], "NextMarker": "m1"},
            {"FunctionVersion": "ALL"},
        )
        stub.add_response(
            "list_functions",
            {"Functions": [_fn("b", "1"), _fn("b", "2"), _fn("c")]},
            {"FunctionVersion": "ALL", "Marker": "m1"},
        )
        listing = inventory.list_functions(client=lam)
        stub.assert_no_pending_responses()
    assert sorted(listing.latest) == ["a", "b", "c"]
    assert sorted(listing.versions["b"]) == ["1", "2"]
    assert listing.pages == 2


def test_details_page_through_aliases_and_attach_pc_to_aliases_and_versions():
    lam = _lambda()
    arn = "arn:aws:lambda:us-east-1:123456789012:function:b"
    with Stubber(lam) as stub:
        stub.add_response(
            "get_function",
            {
                "Configuration": _fn("b"),
                "Tags": {"t": "1"},
                "Concurrency": {"ReservedConcurrentExecutions": 20},
            },
            {"FunctionName": "b"},
        )
        stub.add_response(
            "list_provisioned_concurrency_configs",
            {
                "ProvisionedConcurrencyConfigs": [
                    {
                        "FunctionArn": f"{arn}:live",
                        "RequestedProvisionedConcurrentExecutions": 5,
                        "AllocatedProvisionedConcurrentExecutions": 5,
                        "Status": "READY",
                    },
                    {
                        "FunctionArn": f"{arn}:7",
                        "RequestedProvisionedConcurrentExecutions": 2,
                        "Status": "READY",
                    },
                ]
            },
            {"FunctionName": "b"},
        )
        stub.add_response(
            "list_aliases",
            {
                "Aliases": [
                    {
                        "Name": "live",
                        "FunctionVersion": "2",
                        "RoutingConfig": {"AdditionalVersionWeights": {"1": 0.1}},
                    }
                ],
                "NextMarker": "x",
            },
            {"FunctionName": "b"},
        )
        stub.add_response(
            "list_aliases",
            {"Aliases": [{"Name": "beta", "FunctionVersion": "3"}]},
            {"FunctionName": "b", "Marker": "x"},
        )
        details = inventory.read_details("b", with_aliases=True, client=lam)
        stub.assert_no_pending_responses()
    assert details.tags == {"t": "1"} and details.reserved_concurrency == 20
    live, beta = details.aliases
    assert (live.name, live.function_version, live.routing, live.pc_requested) == ("live", "2", {"1": 0.1}, 5)
    assert (beta.name, beta.pc_requested) == ("beta", None)
    assert details.pc_on_versions == {"7": 2}
    assert inventory.Details.from_state(details.to_state()) == details


def test_a_reservation_of_zero_survives_the_state_round_trip():
    # a function switched off (reserved concurrency 0) is not one without a reservation next cycle
    for reserved in (0, None, 5):
        details = inventory.Details(tags={}, reserved_concurrency=reserved)
        assert inventory.Details.from_state(details.to_state()).reserved_concurrency == reserved


def test_a_function_without_versions_costs_one_call():
    lam = _lambda()
    with Stubber(lam) as stub:
        stub.add_response("get_function", {"Configuration": _fn("a")}, {"FunctionName": "a"})
        details = inventory.read_details("a", with_aliases=False, client=lam)
        stub.assert_no_pending_responses()
    assert details.aliases == () and details.reserved_concurrency is None


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("ResourceNotFoundException", inventory.FunctionNotFoundError),
        ("TooManyRequestsException", inventory.LambdaThrottledError),
        ("ServiceException", inventory.InventoryError),
    ],
)
def test_client_errors_become_named_errors(code, error):
    lam = _lambda()
    with Stubber(lam) as stub:
        stub.add_client_error("get_function", service_error_code=code, http_status_code=404)
        with pytest.raises(error) as caught:
            inventory.read_details("gone", with_aliases=False, client=lam)
    assert isinstance(caught.value.__cause__, Exception)


def test_listing_entries_map_to_function_configs():
    entry = _fn(
        "j",
        Architectures=["arm64"],
        Runtime="python3.12",
        PackageType="Zip",
        Timeout=9,
        EphemeralStorage={"Size": 1024},
        SnapStart={"ApplyOn": "PublishedVersions"},
        LoggingConfig={"LogFormat": "JSON", "SystemLogLevel": "WARN", "LogGroup": "/shared/g"},
        Layers=[{"Arn": "arn:aws:lambda:us-east-1:580247275435:layer:LambdaInsightsExtension:53"}],
    )
    config = inventory.to_config(entry, None, FunctionPolicy(), "sam")
    assert (config.arch, config.timeout_s, config.ephemeral_mb, config.snapstart) == ("arm64", 9, 1024, True)
    assert (config.log_group, config.log_format, config.system_log_level) == ("/shared/g", "JSON", "WARN")
    assert config.iac == "sam"
    assert inventory.has_insights(entry) and not inventory.has_insights(_fn("k"))
    assert inventory.to_config(_fn("k"), None, FunctionPolicy(), None).log_group == "/aws/lambda/k"


def _listing(names: list[str], versions: dict[str, list[str]] | None = None) -> inventory.Listing:
    vs = {n: {v: _fn(n, v) for v in vv} for n, vv in (versions or {}).items()}
    return inventory.Listing(latest={n: _fn(n) for n in names}, versions=vs)


def test_refresh_reads_changed_then_pc_then_new_busiest_first_within_the_budget():
    listing = _listing(["changed", "pc", "new-busy", "new-idle", "same"], {"pc": ["1"]})
    fp = {n: inventory.fingerprint(listing.latest[n], listing.versions.get(n, {})) for n in listing.latest}
    day = 700_000
    same_day = next(d for d in range(day, day + 7) if not inventory.is_due("same", d, day))
    known = {
        "changed": {"fp": "old", "day": same_day},
        "pc": {
            "fp": fp["pc"],
            "day": same_day,
            "d": {"a": [{"name": "live", "function_version": "1", "pc_requested": 3}]},
        },
        "same": {"fp": fp["same"], "day": same_day},
    }
    plan = inventory.plan_refresh(
        listing, known, day=same_day, budget_calls=5, traffic={"new-busy": 100.0, "new-idle": 0.0}
    )
    # changed (1 call) + pc (3 calls: it has versions) + new-busy (1) = 5: new-idle waits, same is not due
    assert plan.chosen == ("changed", "pc", "new-busy")
    assert "budget" in plan.deferred["new-idle"] and "same" not in plan.deferred


def test_every_function_is_due_on_one_day_of_the_week_and_when_overdue():
    days = [d for d in range(700_000, 700_007) if inventory.is_due("fn-x", d, None)]
    assert len(days) == 1
    assert inventory.is_due("fn-x", days[0] + 1, last_refresh_day=days[0] + 1 - 7)
