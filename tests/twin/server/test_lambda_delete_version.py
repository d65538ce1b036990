"""The twin deletes a function version as AWS does (DeleteFunction with a Qualifier), over HTTP with boto3:
refused while any alias serves it or routes a weight to it (409, naming the aliases), refused for $LATEST
or an alias name (400), 404 once gone; otherwise moto's copy and the twin's own record of it go, and the
next version published gets a number no version ever had (AWS never reuses one; moto would)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from server_support import NO_RETRIES, client

from lambda_tuner.twin.server import Twin

FN = "checkout"  # alias live serves version 2 and routes 10 % to version 1 (server_support's fleet)


@pytest.fixture
def lam(fresh: Twin) -> Any:
    return client(fresh, "lambda", NO_RETRIES)


def _publish(lam: Any, memory_mb: int) -> str:
    lam.update_function_configuration(FunctionName=FN, MemorySize=memory_mb)
    return str(lam.publish_version(FunctionName=FN)["Version"])


def _versions(lam: Any) -> list[str]:
    return [v["Version"] for v in lam.list_versions_by_function(FunctionName=FN)["Versions"]]


def _refusal(lam: Any, **kwargs: Any) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as refused:
        lam.delete_function(FunctionName=FN, **kwargs)
    error = refused.value.response
    return error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Code"], error["Error"]["Message"]


def test_a_version_an_alias_serves_or_routes_to_is_refused_naming_the_alias(lam: Any) -> None:
    served = _refusal(lam, Qualifier="2")
    weighted = _refusal(lam, Qualifier="1")
    expected = "Unable to delete version because the following aliases reference it: [live]"
    assert served == weighted == (409, "ResourceConflictException", expected)
    assert _versions(lam) == ["$LATEST", "1", "2"]


def test_every_alias_that_references_the_version_is_named(lam: Any) -> None:
    lam.create_alias(FunctionName=FN, Name="beta", FunctionVersion="1")
    assert _refusal(lam, Qualifier="1")[2].endswith("reference it: [beta, live]")


def test_latest_and_alias_names_are_refused_and_nothing_is_deleted(lam: Any) -> None:
    assert _refusal(lam, Qualifier="$LATEST")[:2] == (400, "InvalidParameterValueException")
    # moto would resolve the alias and delete the version behind it
    assert _refusal(lam, Qualifier="live")[:2] == (400, "InvalidParameterValueException")
    assert _versions(lam) == ["$LATEST", "1", "2"]
    assert lam.get_alias(FunctionName=FN, Name="live")["FunctionVersion"] == "2"


def test_an_unreferenced_version_is_deleted_and_then_not_found(twin: Twin, lam: Any) -> None:
    # Given a version no alias uses
    version = _publish(lam, 1536)
    assert version == "3"
    # When it is deleted
    lam.delete_function(FunctionName=FN, Qualifier=version)
    # Then it is gone from moto and from the twin's own records; the function and its other versions stay
    assert _versions(lam) == ["$LATEST", "1", "2"]
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        lam.get_function_configuration(FunctionName=FN, Qualifier=version)
    assert (FN, version) not in twin.lambdas.versions
    assert lam.get_function_configuration(FunctionName=FN)["MemorySize"] == 1536
    # And deleting it again is a 404, as on AWS
    assert _refusal(lam, Qualifier=version)[:2] == (404, "ResourceNotFoundException")


def test_a_qualified_function_name_deletes_that_version_only(lam: Any) -> None:
    version = _publish(lam, 1536)
    lam.delete_function(FunctionName=f"{FN}:{version}")
    assert _versions(lam) == ["$LATEST", "1", "2"]


def test_the_next_version_after_a_deletion_never_reuses_a_number(twin: Twin, lam: Any) -> None:
    # Given versions 3 and 4 published and then deleted, newest first
    three, four = _publish(lam, 1536), _publish(lam, 2048)
    lam.delete_function(FunctionName=FN, Qualifier=four)
    lam.delete_function(FunctionName=FN, Qualifier=three)
    # When the next version is published, then it is 5, at the memory it was published with
    published = lam.publish_version(FunctionName=FN)
    assert published["Version"] == "5" and published["FunctionArn"].endswith(f"function:{FN}:5")
    assert _versions(lam) == ["$LATEST", "1", "2", "5"]
    assert lam.get_function_configuration(FunctionName=FN, Qualifier="5")["MemorySize"] == 2048
    # And the one after that follows on
    assert _publish(lam, 512) == "6"


def test_deleting_a_middle_version_does_not_make_moto_number_two_versions_alike(lam: Any) -> None:
    # Given versions 3 and 4, and 3 deleted (moto would number the next one len(versions) + 1 = 4)
    three, four = _publish(lam, 1536), _publish(lam, 2048)
    lam.delete_function(FunctionName=FN, Qualifier=three)
    # When another is published, then it is 5, and version 4 is still itself
    assert _publish(lam, 512) == "5"
    assert _versions(lam) == ["$LATEST", "1", "2", four, "5"]
    assert lam.get_function_configuration(FunctionName=FN, Qualifier=four)["MemorySize"] == 2048
    assert lam.get_function(FunctionName=f"{FN}:{four}")["Configuration"]["Version"] == four


@pytest.mark.parametrize(
    "read",
    [
        lambda lam: lam.list_aliases(FunctionName=FN),
        lambda lam: lam.list_provisioned_concurrency_configs(FunctionName=FN),
        lambda lam: lam.list_versions_by_function(FunctionName=FN),
        lambda lam: lam.get_function(FunctionName=FN),
    ],
)
def test_a_deleted_functions_reads_answer_not_found(lam: Any, read: Any) -> None:
    # A collector reading a function deleted since its listing must be told "deleted", not "error"
    lam.delete_function(FunctionName=FN)
    with pytest.raises(ClientError) as refused:
        read(lam)
    error = refused.value.response
    assert (error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Code"]) == (
        404,
        "ResourceNotFoundException",
    )
