"""Provisioned-concurrency configs and account settings, which moto does not implement."""

from __future__ import annotations

from datetime import timedelta

import pytest
from botocore.exceptions import ClientError
from server_support import client

from lambda_tuner.twin.server import Twin


def test_a_new_pc_config_is_in_progress_then_ready_on_the_next_read_and_reaches_the_world(
    fresh: Twin,
) -> None:
    lam = client(fresh, "lambda")
    lam.publish_version(FunctionName="cruncher")

    put = lam.put_provisioned_concurrency_config(
        FunctionName="cruncher", Qualifier="1", ProvisionedConcurrentExecutions=7
    )
    assert put["Status"] == "IN_PROGRESS"
    assert fresh.world.pc_at("cruncher", "1", fresh.world.now + timedelta(minutes=1)) == 0

    first = lam.get_provisioned_concurrency_config(FunctionName="cruncher", Qualifier="1")
    second = lam.get_provisioned_concurrency_config(FunctionName="cruncher", Qualifier="1")

    assert first["Status"] == "IN_PROGRESS"
    assert second["Status"] == "READY"
    assert second["AllocatedProvisionedConcurrentExecutions"] == 7
    assert fresh.world.pc_at("cruncher", "1", fresh.world.now + timedelta(minutes=1)) == 7


def test_advancing_the_clock_also_settles_in_progress_configs(fresh: Twin) -> None:
    lam = client(fresh, "lambda")
    lam.put_provisioned_concurrency_config(
        FunctionName="checkout", Qualifier="live", ProvisionedConcurrentExecutions=9
    )
    fresh.advance(fresh.world.now + timedelta(minutes=5))
    assert (
        lam.get_provisioned_concurrency_config(FunctionName="checkout", Qualifier="live")["Status"] == "READY"
    )


def test_deleting_a_pc_config_removes_it_from_the_listing_and_the_world(fresh: Twin) -> None:
    lam = client(fresh, "lambda")
    assert (
        len(
            lam.list_provisioned_concurrency_configs(FunctionName="checkout")["ProvisionedConcurrencyConfigs"]
        )
        == 1
    )

    lam.delete_provisioned_concurrency_config(FunctionName="checkout", Qualifier="live")

    assert (
        lam.list_provisioned_concurrency_configs(FunctionName="checkout")["ProvisionedConcurrencyConfigs"]
        == []
    )
    assert fresh.world.pc_at("checkout", "live", fresh.world.now + timedelta(minutes=1)) == 0
    with pytest.raises(ClientError) as error:
        lam.get_provisioned_concurrency_config(FunctionName="checkout", Qualifier="live")
    assert error.value.response["Error"]["Code"] == "ProvisionedConcurrencyConfigNotFoundException"


def test_pc_on_latest_is_refused_like_aws(fresh: Twin) -> None:
    with pytest.raises(ClientError) as error:
        client(fresh, "lambda").put_provisioned_concurrency_config(
            FunctionName="cruncher", Qualifier="$LATEST", ProvisionedConcurrentExecutions=1
        )
    assert error.value.response["Error"]["Code"] == "InvalidParameterValueException"


def test_pc_above_the_unreserved_concurrency_fails_with_a_reason(fresh: Twin) -> None:
    lam = client(fresh, "lambda")
    unreserved = lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"]

    lam.put_provisioned_concurrency_config(
        FunctionName="checkout", Qualifier="live", ProvisionedConcurrentExecutions=unreserved + 50
    )
    config = lam.get_provisioned_concurrency_config(FunctionName="checkout", Qualifier="live")

    assert config["Status"] == "FAILED"
    assert "unreserved" in config["StatusReason"]
    assert fresh.world.pc_at("checkout", "live", fresh.world.now + timedelta(minutes=1)) == 4  # unchanged


def test_account_settings_subtract_reserved_and_provisioned_concurrency(fresh: Twin) -> None:
    lam = client(fresh, "lambda")
    lam.put_function_concurrency(FunctionName="cruncher", ReservedConcurrentExecutions=100)

    limit = lam.get_account_settings()["AccountLimit"]

    assert limit["ConcurrentExecutions"] == 1000
    assert limit["UnreservedConcurrentExecutions"] == 1000 - 100 - 4  # cruncher's reservation, checkout's PC


def test_pc_configs_list_pages_with_the_qualified_arn(fresh: Twin) -> None:
    configs = client(fresh, "lambda").list_provisioned_concurrency_configs(FunctionName="checkout")
    [only] = configs["ProvisionedConcurrencyConfigs"]
    assert only["FunctionArn"].endswith(":function:checkout:live")
    assert only["RequestedProvisionedConcurrentExecutions"] == 4
