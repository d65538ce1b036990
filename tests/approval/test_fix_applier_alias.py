"""A memory change behind an alias is three writes: $LATEST's memory, a published version, the alias.
Once the first has landed, a refusal of a later one (throttled, conflict, revision mismatch) must put the
memory back, and the error must say whether that worked: the caller trusts `restored`."""

from __future__ import annotations

import boto3
import pytest
from approval_support import Account, Refusing
from botocore.stub import Stubber

from lambda_tuner.adapters import aws
from lambda_tuner.adapters.applier import (
    Applier,
    ApplyError,
    ConflictError,
    RevisionMismatchError,
    ThrottledError,
)

FN = "orders-api"
REFUSALS = [
    ("TooManyRequestsException", 429, ThrottledError),
    ("ResourceConflictException", 409, ConflictError),
    ("PreconditionFailedException", 412, RevisionMismatchError),
]


def _function_behind_alias(account: Account) -> str:
    account.create_function(FN, memory_mb=1024)
    lam = aws.client("lambda")
    v1 = str(lam.publish_version(FunctionName=FN)["Version"])
    lam.create_alias(FunctionName=FN, Name="live", FunctionVersion=v1)
    return v1


@pytest.mark.parametrize(("code", "status", "error"), REFUSALS)
@pytest.mark.parametrize("refused_step", ["publish_version", "update_alias"])
def test_a_refused_publish_or_alias_move_puts_the_memory_of_latest_back(
    account: Account, refused_step: str, code: str, status: int, error: type[ApplyError]
) -> None:
    # Given a function at 1024 MB whose alias serves version 1
    v1 = _function_behind_alias(account)
    lam = Refusing(aws.client("lambda"), refused_step, code, status)
    # When $LATEST is changed to 512 MB but publishing or moving the alias is refused
    with pytest.raises(error) as caught:
        Applier(lam, sleep=lambda _: None, poll_delay_s=1).apply_memory(FN, 512, None, qualifier_alias="live")
    # Then $LATEST is back at 1024 MB, the alias still serves version 1, and the error says so
    assert account.memory(FN) == 1024
    assert aws.client("lambda").get_alias(FunctionName=FN, Name="live")["FunctionVersion"] == v1
    assert caught.value.restored is True
    # And no version is left behind: one published before the alias refused is deleted again
    versions = aws.client("lambda").list_versions_by_function(FunctionName=FN)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", v1]
    if refused_step == "update_alias":
        assert "trial version 2 deleted" in str(caught.value)


def test_a_refused_publish_whose_restore_fails_too_is_reported_as_not_restored() -> None:
    # Given publishing the version is throttled, and so is every attempt to put the memory back
    lam = boto3.client("lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(lam)
    config = {"FunctionName": FN, "MemorySize": 1024, "RevisionId": "r1", "CodeSha256": "A"}
    stub.add_response("get_function_configuration", config, {"FunctionName": FN})
    stub.add_response(
        "get_alias", {"FunctionVersion": "1", "RevisionId": "a1"}, {"FunctionName": FN, "Name": "live"}
    )
    stub.add_response("get_function_configuration", config, {"FunctionName": FN, "Qualifier": "1"})
    stub.add_response(
        "update_function_configuration",
        {"MemorySize": 512},
        {"FunctionName": FN, "MemorySize": 512, "RevisionId": "r1"},
    )
    stub.add_response(
        "get_function", {"Configuration": {"LastUpdateStatus": "Successful"}}, {"FunctionName": FN}
    )
    stub.add_response(
        "get_function_configuration", {**config, "MemorySize": 512, "RevisionId": "r2"}, {"FunctionName": FN}
    )
    stub.add_client_error(
        "publish_version", service_error_code="TooManyRequestsException", http_status_code=429
    )
    stub.add_response(
        "get_function", {"Configuration": {"LastUpdateStatus": "Successful"}}, {"FunctionName": FN}
    )
    stub.add_client_error(
        "update_function_configuration", service_error_code="TooManyRequestsException", http_status_code=429
    )
    # When the change is applied
    with stub, pytest.raises(ThrottledError) as caught:
        Applier(lam, aas_client=object(), cw_client=object(), sleep=lambda _: None, max_polls=3).apply_memory(
            FN, 512, "r1", qualifier_alias="live"
        )
    # Then the caller learns that $LATEST may still carry the new memory
    stub.assert_no_pending_responses()
    assert caught.value.restored is False
    assert "restoring the previous configuration failed" in str(caught.value)


@pytest.mark.parametrize(("code", "status", "error"), REFUSALS)
def test_a_refused_update_of_latest_still_leaves_everything_untouched(
    account: Account, code: str, status: int, error: type[ApplyError]
) -> None:
    # Given the very first write, the memory update, is refused
    v1 = _function_behind_alias(account)
    lam = Refusing(aws.client("lambda"), "update_function_configuration", code, status)
    # When the change is applied
    with pytest.raises(error) as caught:
        Applier(lam, sleep=lambda _: None, poll_delay_s=1).apply_memory(FN, 512, None, qualifier_alias="live")
    # Then nothing changed, and nothing was written after the refusal (no restore, no publish)
    assert account.memory(FN) == 1024 and caught.value.restored is True
    assert lam.used[lam.used.index("update_function_configuration") + 1 :] == []
    assert aws.client("lambda").get_alias(FunctionName=FN, Name="live")["FunctionVersion"] == v1
