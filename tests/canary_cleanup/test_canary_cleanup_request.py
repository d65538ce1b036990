"""The one request the cleanup makes: DeleteFunction naming the trial version as its Qualifier — never
$LATEST, an alias name, the version the alias still serves or routes to, or the whole function."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from lambda_tuner.adapters.applier import Applier

FN = "orders-api"
ALIAS_NOW = {"alias": "live", "alias_version": "1", "alias_routing": {}}


def _stubbed() -> tuple[Applier, Stubber]:
    lam = boto3.client("lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    return Applier(lam, object(), object(), sleep=lambda _: None), Stubber(lam)


def test_the_trial_version_is_deleted_by_a_qualified_request() -> None:
    applier, stub = _stubbed()
    stub.add_response("delete_function", {}, {"FunctionName": FN, "Qualifier": "7"})
    with stub:
        outcome = applier.discard_version(FN, "7", ALIAS_NOW)
    stub.assert_no_pending_responses()
    assert outcome == {"version": "7", "deleted": True, "detail": "trial version 7 deleted"}


@pytest.mark.parametrize(
    ("version", "alias_now", "why"),
    [
        ("$LATEST", ALIAS_NOW, "is not a published version number"),
        ("live", ALIAS_NOW, "is not a published version number"),
        ("", ALIAS_NOW, "is not a published version number"),
        ("1", ALIAS_NOW, "alias live still routes to it"),
        ("7", {**ALIAS_NOW, "alias_routing": {"7": 0.1}}, "alias live still routes to it"),
    ],
)
def test_nothing_the_alias_uses_and_nothing_but_a_version_number_is_ever_sent(
    version: str, alias_now: dict[str, object], why: str
) -> None:
    # Given a client that answers nothing (any request would fail the test)
    applier, stub = _stubbed()
    with stub:
        outcome = applier.discard_version(FN, version, alias_now)
    # Then no request was made, and the outcome says why the version was kept
    assert outcome["deleted"] is False and why in outcome["detail"]


@pytest.mark.parametrize(
    ("code", "status", "detail"),
    [
        ("ResourceConflictException", 409, "kept: delete the trial version: ResourceConflictException"),
        ("ResourceNotFoundException", 404, "already deleted"),
        ("TooManyRequestsException", 429, "kept: delete the trial version: TooManyRequestsException"),
    ],
)
def test_a_refused_deletion_is_reported_never_raised(code: str, status: int, detail: str) -> None:
    applier, stub = _stubbed()
    stub.add_client_error(
        "delete_function", code, "refused", status, expected_params={"FunctionName": FN, "Qualifier": "7"}
    )
    with stub:
        outcome = applier.discard_version(FN, "7", ALIAS_NOW)
    assert outcome["deleted"] is False and detail in outcome["detail"]
