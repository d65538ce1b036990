"""The applier: real changes against moto over HTTP, and the request shapes and failure paths moto
cannot produce (RevisionId, provisioned concurrency, faults) against botocore's Stubber."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from approval_support import Account
from botocore.stub import ANY, Stubber

from lambda_tuner.adapters import aws
from lambda_tuner.adapters.applier import (
    Applier,
    CodeMismatchError,
    ConflictError,
    GoneError,
    LambdaServiceError,
    PcFailedError,
    RevisionMismatchError,
    ThrottledError,
)

FN = "orders-api"


# ---------------------------------------------------------------- against moto


def test_memory_on_latest_is_changed_and_restorable(account: Account) -> None:
    account.create_function(FN, memory_mb=1024)
    applier = Applier(sleep=lambda _: None, poll_delay_s=1)
    applied = applier.apply_memory(FN, 512, None)
    assert account.memory(FN) == 512
    assert applied.before["memory_mb"] == 1024 and applied.after["memory_mb"] == 512
    assert applied.request_ids  # every AWS call's request id is kept for the audit
    applier.restore(applied.before)
    assert account.memory(FN) == 1024


def test_an_alias_moves_to_a_new_version_with_the_new_memory(account: Account) -> None:
    account.create_function(FN, memory_mb=1024)
    lam = aws.client("lambda")
    v1 = lam.publish_version(FunctionName=FN)["Version"]
    lam.create_alias(FunctionName=FN, Name="live", FunctionVersion=v1)
    applier = Applier(sleep=lambda _: None, poll_delay_s=1)
    applied = applier.apply_memory(FN, 512, None, qualifier_alias="live")
    new_version = lam.get_alias(FunctionName=FN, Name="live")["FunctionVersion"]
    assert new_version == applied.after["published_version"] != v1
    assert account.memory(FN, qualifier="live") == 512
    applier.restore(applied.before)
    assert lam.get_alias(FunctionName=FN, Name="live")["FunctionVersion"] == v1


def test_a_canary_keeps_the_old_version_and_routes_a_share_to_the_new(account: Account) -> None:
    account.create_function(FN, memory_mb=1024)
    lam = aws.client("lambda")
    v1 = lam.publish_version(FunctionName=FN)["Version"]
    lam.create_alias(FunctionName=FN, Name="live", FunctionVersion=v1)
    applied = Applier(sleep=lambda _: None).apply_canary(FN, "live", 512, 0.1, None)
    alias = lam.get_alias(FunctionName=FN, Name="live")
    assert alias["FunctionVersion"] == v1
    assert alias["RoutingConfig"]["AdditionalVersionWeights"] == {applied.after["published_version"]: 0.1}
    assert account.memory(FN) == 1024  # $LATEST stays at the size the main traffic runs at


# ---------------------------------------------------------------- request shapes and faults (Stubber)


class Stubbed:
    """A Lambda client whose every expected call is declared, in order; unexpected calls fail the test."""

    def __init__(self) -> None:
        self.client = boto3.client(
            "lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
        )
        self.stub = Stubber(self.client)

    def config(self, memory: int = 1024, rev: str = "rev-1", sha: str = "sha-A", **params: Any) -> None:
        self.stub.add_response(
            "get_function_configuration",
            {"FunctionName": FN, "MemorySize": memory, "RevisionId": rev, "CodeSha256": sha},
            {"FunctionName": FN, **params},
        )

    def update(self, memory: int, rev: str | None = None) -> None:
        params = {"FunctionName": FN, "MemorySize": memory, **({"RevisionId": rev} if rev else {})}
        self.stub.add_response("update_function_configuration", {"MemorySize": memory}, params)

    def settled(self, status: str = "Successful") -> None:
        self.stub.add_response(
            "get_function", {"Configuration": {"LastUpdateStatus": status}}, {"FunctionName": FN}
        )

    def error(self, op: str, code: str, status: int = 400) -> None:
        self.stub.add_client_error(op, service_error_code=code, http_status_code=status)


@pytest.fixture
def lam() -> Stubbed:
    return Stubbed()


def _applier(lam: Stubbed) -> Applier:
    return Applier(lam.client, aas_client=object(), cw_client=object(), sleep=lambda _: None, max_polls=3)


def _pc_applier(lam: Stubbed) -> Applier:
    """A static PC level first takes the agent's scheduled actions off the alias: here there are none."""
    aas = boto3.client(
        "application-autoscaling", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    stub = Stubber(aas)
    stub.add_response("describe_scaling_policies", {"ScalingPolicies": []})  # nobody else scales it
    stub.add_response("describe_scheduled_actions", {"ScheduledActions": []})
    stub.activate()
    return Applier(lam.client, aas_client=aas, cw_client=object(), sleep=lambda _: None, max_polls=3)


def test_the_update_carries_the_revision_id_seen_at_proposal(lam: Stubbed) -> None:
    lam.config()
    lam.update(512, rev="rev-1")
    lam.settled()
    with lam.stub:
        _applier(lam).apply_memory(FN, 512, "rev-1")
        lam.stub.assert_no_pending_responses()


def test_a_function_deployed_since_the_proposal_is_not_touched(lam: Stubbed) -> None:
    lam.config(rev="rev-2")  # only a read is expected: any write would fail the stubber
    with lam.stub, pytest.raises(RevisionMismatchError):
        _applier(lam).apply_memory(FN, 512, "rev-1")


def test_a_deploy_racing_the_update_wins_and_nothing_is_restored(lam: Stubbed) -> None:
    lam.config()
    lam.error("update_function_configuration", "PreconditionFailedException", 412)
    with lam.stub, pytest.raises(RevisionMismatchError):
        _applier(lam).apply_memory(FN, 512, "rev-1")
    lam.stub.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("code", "status", "error"),
    [
        ("ResourceConflictException", 409, ConflictError),
        ("TooManyRequestsException", 429, ThrottledError),
    ],
)
def test_a_refused_update_changes_nothing(
    lam: Stubbed, code: str, status: int, error: type[Exception]
) -> None:
    lam.config()
    lam.error("update_function_configuration", code, status)
    with lam.stub, pytest.raises(error):
        _applier(lam).apply_memory(FN, 512, "rev-1")
    lam.stub.assert_no_pending_responses()


def test_a_5xx_on_update_restores_the_previous_memory_in_case_it_landed(lam: Stubbed) -> None:
    lam.config()
    lam.error("update_function_configuration", "ServiceException", 500)
    lam.settled()
    lam.update(1024)  # the restore
    lam.settled()
    with lam.stub, pytest.raises(LambdaServiceError) as caught:
        _applier(lam).apply_memory(FN, 512, "rev-1")
    lam.stub.assert_no_pending_responses()
    assert caught.value.restored


def test_an_update_that_ends_failed_is_restored(lam: Stubbed) -> None:
    lam.config()
    lam.update(512, rev="rev-1")
    lam.settled("Failed")
    lam.settled("Failed")  # the restore lets the failed update settle first
    lam.update(1024)
    lam.settled()
    with lam.stub, pytest.raises(Exception, match="did not finish"):
        _applier(lam).apply_memory(FN, 512, "rev-1")
    lam.stub.assert_no_pending_responses()


def test_a_failed_restore_of_an_update_that_landed_is_reported_as_not_restored(lam: Stubbed) -> None:
    lam.config()
    lam.error("update_function_configuration", "ServiceException", 500)
    lam.settled()
    lam.error("update_function_configuration", "ServiceException", 503)
    lam.config(memory=512)  # the first update did land: the function is left changed
    with lam.stub, pytest.raises(LambdaServiceError) as caught:
        _applier(lam).apply_memory(FN, 512, "rev-1")
    assert not caught.value.restored
    assert "restoring the previous configuration failed" in str(caught.value)


def test_a_failed_restore_of_an_update_that_never_landed_counts_as_restored(lam: Stubbed) -> None:
    lam.config()
    lam.error("update_function_configuration", "ServiceException", 500)
    lam.settled()
    lam.error("update_function_configuration", "ServiceException", 503)
    lam.config(memory=1024)  # still as before: nothing to restore
    with lam.stub, pytest.raises(LambdaServiceError) as caught:
        _applier(lam).apply_memory(FN, 512, "rev-1")
    assert caught.value.restored
    lam.stub.assert_no_pending_responses()


def test_an_alias_serving_other_code_than_latest_is_recommend_only(lam: Stubbed) -> None:
    lam.config(sha="sha-NEW")
    lam.stub.add_response(
        "get_alias", {"Name": "live", "FunctionVersion": "7"}, {"FunctionName": FN, "Name": "live"}
    )
    lam.config(sha="sha-OLD", Qualifier="7")
    with lam.stub, pytest.raises(CodeMismatchError, match="recommendation only"):
        _applier(lam).apply_memory(FN, 512, "rev-1", qualifier_alias="live")
    lam.stub.assert_no_pending_responses()


def _pc(lam: Stubbed, status: str | None, requested: int = 0, reason: str = "") -> None:
    if status is None:
        lam.error("get_provisioned_concurrency_config", "ProvisionedConcurrencyConfigNotFoundException", 404)
        return
    lam.stub.add_response(
        "get_provisioned_concurrency_config",
        {
            "Status": status,
            "RequestedProvisionedConcurrentExecutions": requested,
            **({"StatusReason": reason} if reason else {}),
        },
        {"FunctionName": FN, "Qualifier": "live"},
    )


def test_pc_is_put_on_the_alias_and_waited_for_until_ready(lam: Stubbed) -> None:
    _pc(lam, None)
    lam.stub.add_response(
        "put_provisioned_concurrency_config",
        {"Status": "IN_PROGRESS"},
        {"FunctionName": FN, "Qualifier": "live", "ProvisionedConcurrentExecutions": 5},
    )
    _pc(lam, "IN_PROGRESS", 5)
    _pc(lam, "READY", 5)
    with lam.stub:
        applied = _pc_applier(lam).apply_pc(FN, "live", 5)
    assert (applied.before["pc"], applied.after["pc"]) == (0, 5)
    lam.stub.assert_no_pending_responses()


def test_pc_that_fails_is_removed_again_with_the_reason(lam: Stubbed) -> None:
    _pc(lam, None)
    lam.stub.add_response(
        "put_provisioned_concurrency_config",
        {"Status": "IN_PROGRESS"},
        {"FunctionName": FN, "Qualifier": "live", "ProvisionedConcurrentExecutions": 50},
    )
    _pc(lam, "FAILED", 50, reason="account concurrency limit")
    _pc(lam, "FAILED", 50)  # the restore sees the failed config…
    lam.stub.add_response(
        "delete_provisioned_concurrency_config", {}, {"FunctionName": FN, "Qualifier": "live"}
    )
    with lam.stub, pytest.raises(PcFailedError, match="account concurrency limit"):
        _pc_applier(lam).apply_pc(FN, "live", 50)
    lam.stub.assert_no_pending_responses()  # …and deletes it: no half state


def test_pc_schedules_become_scheduled_actions_on_the_alias(lam: Stubbed) -> None:
    aas = boto3.client(
        "application-autoscaling", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    target = {
        "ServiceNamespace": "lambda",
        "ResourceId": f"function:{FN}:live",
        "ScalableDimension": "lambda:function:ProvisionedConcurrency",
    }
    _pc(lam, None)  # the level in force, which an undo puts back with the schedule
    with Stubber(aas) as stub, lam.stub:
        stub.add_response("describe_scaling_policies", {"ScalingPolicies": []}, target)
        stub.add_response("describe_scheduled_actions", {"ScheduledActions": []}, target)
        stub.add_response(  # a team's own range would be kept for an undo: none here
            "describe_scalable_targets",
            {"ScalableTargets": []},
            {
                "ServiceNamespace": "lambda",
                "ResourceIds": [target["ResourceId"]],
                "ScalableDimension": target["ScalableDimension"],
            },
        )
        stub.add_response("register_scalable_target", {}, {**target, "MinCapacity": 0, "MaxCapacity": 8})
        for name, cron, cap in (
            ("lambda-tuner-00", "cron(0 8 ? * MON-FRI *)", 8),
            ("lambda-tuner-01", "cron(0 19 ? * * *)", 0),
        ):
            stub.add_response(
                "put_scheduled_action",
                {},
                {
                    **target,
                    "ScheduledActionName": name,
                    "Schedule": cron,
                    "Timezone": "Europe/Berlin",
                    "ScalableTargetAction": {"MinCapacity": cap, "MaxCapacity": cap},
                },
            )
        applied = Applier(lam.client, aas_client=aas, cw_client=object()).apply_pc_schedule(
            FN,
            "live",
            [
                {"schedule": "cron(0 8 ? * MON-FRI *)", "capacity": 8, "timezone": "Europe/Berlin"},
                {"schedule": "cron(0 19 ? * * *)", "capacity": 0, "timezone": "Europe/Berlin"},
            ],
        )
        stub.assert_no_pending_responses()
    assert applied.before["actions"] == []


_ = ANY  # imported for readers extending the stubs with wildcard parameters


def test_pc_on_a_function_deleted_mid_change_is_reported_gone_not_left_for_a_manual_check(
    lam: Stubbed,
) -> None:
    # Deleting a function deletes its aliases, versions and PC: the failed restore leaves nothing behind,
    # so the change ends FAILED as "gone" with nothing to put back, not as a state a person must check.
    _pc(lam, None)
    lam.stub.add_response(
        "put_provisioned_concurrency_config",
        {"Status": "IN_PROGRESS"},
        {"FunctionName": FN, "Qualifier": "live", "ProvisionedConcurrentExecutions": 5},
    )
    lam.error("get_provisioned_concurrency_config", "ResourceNotFoundException", 404)  # deleted now
    lam.error("get_provisioned_concurrency_config", "ResourceNotFoundException", 404)  # the restore's read
    lam.error("get_function_configuration", "ResourceNotFoundException", 404)  # the function itself: gone
    with lam.stub, pytest.raises(GoneError) as caught:
        _pc_applier(lam).apply_pc(FN, "live", 5)
    lam.stub.assert_no_pending_responses()
    assert caught.value.restored and "the function no longer exists: nothing to put back" in str(caught.value)


def test_a_restore_that_finds_only_the_alias_gone_still_asks_for_a_manual_check(lam: Stubbed) -> None:
    _pc(lam, None)
    lam.stub.add_response(
        "put_provisioned_concurrency_config",
        {"Status": "IN_PROGRESS"},
        {"FunctionName": FN, "Qualifier": "live", "ProvisionedConcurrentExecutions": 5},
    )
    lam.error("get_provisioned_concurrency_config", "ResourceNotFoundException", 404)
    lam.error("get_provisioned_concurrency_config", "ResourceNotFoundException", 404)
    lam.config()  # the function is still there: what became of its PC is not known
    with lam.stub, pytest.raises(GoneError) as caught:
        _pc_applier(lam).apply_pc(FN, "live", 5)
    assert not caught.value.restored and "restoring the previous configuration failed" in str(caught.value)
