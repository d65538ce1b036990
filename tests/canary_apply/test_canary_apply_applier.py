"""A canary apply: a version published at the trial size gets the alias's canary weight, the version the
alias serves keeps the rest, and $LATEST is left at the size it had. Against moto over HTTP, with the
request shapes moto cannot check (RevisionId, CodeSha256) against botocore's Stubber."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from approval_support import Account, Refusing
from botocore.stub import Stubber
from canary_apply_support import ALIAS, FN, alias_state, behind_alias

from lambda_tuner.adapters import aws
from lambda_tuner.adapters.applier import (
    Applier,
    ApplyError,
    ConflictError,
    GoneError,
    LambdaServiceError,
    RevisionMismatchError,
    ThrottledError,
)


def _applier(lam: Any = None) -> Applier:
    return Applier(lam, sleep=lambda _: None, poll_delay_s=1)


def test_a_canary_leaves_latest_at_its_size_and_routes_a_share_to_a_new_version_at_the_trial_size(
    account: Account,
) -> None:
    # Given a function at 1024 MB whose alias serves version 1
    v1 = behind_alias(account)
    # When a 10 % canary at 512 MB is applied
    applied = _applier().apply_canary(FN, ALIAS, 512, 0.1, None)
    # Then $LATEST is still 1024 MB, a new version runs at 512 MB and gets 10 % of the alias
    trial = str(applied.after["published_version"])
    assert trial != v1 and account.memory(FN) == 1024 and account.memory(FN, qualifier=trial) == 512
    assert alias_state() == (v1, {trial: 0.1})
    # And the change says what it did, and what puts it back
    assert applied.after["canary_weight"] == 0.1 and applied.after["memory_mb"] == 512
    assert applied.before.items() >= {
        "kind": "memory",
        "function": FN,
        "memory_mb": 1024,
        "alias": ALIAS,
        "alias_version": v1,
        "alias_routing": {},
    }.items()
    # ... and what the writes were pinned to: the code checked against the alias's version, the alias read
    assert applied.before["code_sha256"] and applied.before["alias_revision"]
    _applier().restore(applied.before)
    assert alias_state() == (v1, {}) and account.memory(FN) == 1024


STEPS = [
    # (operation, which call of it, error code, HTTP status, error)
    (
        "update_function_configuration",
        1,
        "TooManyRequestsException",
        429,
        ThrottledError,
    ),  # to the trial size
    ("publish_version", 1, "ResourceConflictException", 409, ConflictError),
    ("update_function_configuration", 2, "ServiceException", 500, LambdaServiceError),  # back to the size
    ("update_alias", 1, "PreconditionFailedException", 412, RevisionMismatchError),
]


@pytest.mark.parametrize("step", STEPS, ids=lambda step: f"{step[0]}#{step[1]}")
def test_a_failure_in_any_step_puts_everything_back_and_says_so(
    account: Account, step: tuple[str, int, str, int, type[ApplyError]]
) -> None:
    operation, nth, code, status, error = step
    # Given a function behind an alias, and one step of the canary refused
    v1 = behind_alias(account)
    lam = Refusing(aws.client("lambda"), operation, code, status, nth=nth)
    # When the canary is applied
    with pytest.raises(error) as caught:
        _applier(lam).apply_canary(FN, ALIAS, 512, 0.1, None)
    # Then $LATEST is at 1024 MB, the alias serves version 1 alone, and the error says it was restored
    assert lam.refused == 1 and caught.value.restored is True
    assert account.memory(FN) == 1024 and alias_state() == (v1, {})


def test_an_alias_already_splitting_its_traffic_is_left_alone(account: Account) -> None:
    # Given an alias in the middle of someone's weighted deployment (version 1 with 20 % to version 2)
    v1 = behind_alias(account)
    lam = aws.client("lambda")
    timeout = lam.get_function_configuration(FunctionName=FN)["Timeout"]
    lam.update_function_configuration(FunctionName=FN, Timeout=60)
    v2 = str(lam.publish_version(FunctionName=FN)["Version"])
    lam.update_function_configuration(FunctionName=FN, Timeout=timeout)  # $LATEST is version 1's again
    lam.update_alias(
        FunctionName=FN, Name=ALIAS, FunctionVersion=v1, RoutingConfig={"AdditionalVersionWeights": {v2: 0.2}}
    )
    # When a canary is applied, then it is refused as a conflict and nothing was written
    spy = Refusing(lam, "none", "", 0)
    with pytest.raises(ConflictError, match="already splits"):
        _applier(spy).apply_canary(FN, ALIAS, 512, 0.1, None)
    assert not {"update_function_configuration", "publish_version", "update_alias"} & set(spy.used)
    assert alias_state() == (v1, {v2: 0.2})


@pytest.mark.parametrize("weight", [0.0, 1.0, 1.5])
def test_a_weight_that_is_not_a_share_is_refused_before_anything_is_read(weight: float) -> None:
    with pytest.raises(ApplyError, match="between 0 and 1"):
        Applier(object(), aas_client=object(), cw_client=object()).apply_canary(FN, ALIAS, 512, weight, None)


def test_ending_a_canary_removes_only_its_version_from_the_routing_and_is_idempotent(
    account: Account,
) -> None:
    # Given a canary running on the alias
    v1 = behind_alias(account)
    trial = str(_applier().apply_canary(FN, ALIAS, 512, 0.1, None).after["published_version"])
    # When it is ended, twice
    first = _applier().end_canary(FN, ALIAS, trial)
    spy = Refusing(aws.client("lambda"), "none", "", 0)
    second = _applier(spy).end_canary(FN, ALIAS, trial)
    # Then the alias serves version 1 alone, $LATEST was never touched, and the second end wrote nothing
    assert alias_state() == (v1, {}) and account.memory(FN) == 1024
    assert first.before["alias_routing"] == {trial: 0.1} and first.after["alias_routing"] == {}
    alias_after = {k: v for k, v in second.after.items() if k != "trial_version"}  # the deletion's outcome
    assert second.before == alias_after and "update_alias" not in spy.used


def test_ending_a_canary_of_a_deleted_function_is_a_named_error(account: Account) -> None:
    behind_alias(account)
    aws.client("lambda").delete_function(FunctionName=FN)
    with pytest.raises(GoneError, match="ResourceNotFoundException"):
        _applier().end_canary(FN, ALIAS, "2")


def test_the_canary_requests_pin_revisions_and_code_and_route_by_weight() -> None:
    # Given the AWS answers of a function at 1024 MB (revision r1, code A) whose alias serves version 3
    lam = boto3.client("lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(lam)
    config = {"FunctionName": FN, "MemorySize": 1024, "RevisionId": "r1", "CodeSha256": "A"}
    settled = {"Configuration": {"LastUpdateStatus": "Successful"}}
    stub.add_response("get_function_configuration", config, {"FunctionName": FN})
    stub.add_response(
        "get_alias", {"FunctionVersion": "3", "RevisionId": "a1"}, {"FunctionName": FN, "Name": ALIAS}
    )
    stub.add_response("get_function_configuration", config, {"FunctionName": FN, "Qualifier": "3"})
    # Then: the trial size carries the revision seen at proposal, and the update is waited for
    stub.add_response(
        "update_function_configuration", {}, {"FunctionName": FN, "MemorySize": 512, "RevisionId": "r1"}
    )
    stub.add_response("get_function", settled, {"FunctionName": FN})
    # the version is published from exactly the code and revision read
    stub.add_response("get_function_configuration", {**config, "RevisionId": "r2"}, {"FunctionName": FN})
    stub.add_response(
        "publish_version",
        {"Version": "4"},
        {
            "FunctionName": FN,
            "CodeSha256": "A",
            "RevisionId": "r2",
            "Description": "lambda-tuner canary trial at 512 MB",
        },
    )
    # $LATEST goes back to 1024 MB, and that is waited for too
    stub.add_response("update_function_configuration", {}, {"FunctionName": FN, "MemorySize": 1024})
    stub.add_response("get_function", settled, {"FunctionName": FN})
    # the alias keeps version 3 and sends 10 % to version 4, if nobody changed it since it was first read
    stub.add_response(
        "update_alias",
        {},
        {
            "FunctionName": FN,
            "Name": ALIAS,
            "FunctionVersion": "3",
            "RoutingConfig": {"AdditionalVersionWeights": {"4": 0.1}},
            "RevisionId": "a1",
        },
    )
    with stub:
        applied = Applier(lam, aas_client=object(), cw_client=object(), sleep=lambda _: None).apply_canary(
            FN, ALIAS, 512, 0.1, "r1"
        )
    stub.assert_no_pending_responses()
    assert applied.after["published_version"] == "4" and applied.after["alias_routing"] == {"4": 0.1}


@pytest.mark.parametrize(("refusals", "ends"), [(1, True), (2, False)])
def test_ending_a_canary_judges_the_alias_afresh_once_when_it_changed_underneath(
    account: Account, refusals: int, ends: bool
) -> None:
    # Given a canary, and the alias's revision moving between the read and the write (once, or twice)
    v1 = behind_alias(account)
    trial = str(_applier().apply_canary(FN, ALIAS, 512, 0.1, None).after["published_version"])
    lam = Refusing(aws.client("lambda"), "update_alias", "PreconditionFailedException", 412, times=refusals)
    # When it is ended, then one re-read is enough for the routing to go; a second refusal is the caller's
    if ends:
        _applier(lam).end_canary(FN, ALIAS, trial)
        assert alias_state() == (v1, {})
    else:
        with pytest.raises(RevisionMismatchError):
            _applier(lam).end_canary(FN, ALIAS, trial)
        assert alias_state() == (v1, {trial: 0.1})
    assert lam.refused == refusals


def _versions() -> dict[str, str]:
    listed = aws.client("lambda").list_versions_by_function(FunctionName=FN)["Versions"]
    return {str(v["Version"]): str(v.get("Description") or "") for v in listed}


def test_a_trial_version_whose_deletion_failed_goes_when_a_later_canary_of_the_function_ends(
    account: Account,
) -> None:
    # Given a canary whose version could not be deleted when it ended (the deletion was throttled)
    v1 = behind_alias(account)
    first = str(_applier().apply_canary(FN, ALIAS, 512, 0.1, None).after["published_version"])
    throttled = Refusing(aws.client("lambda"), "delete_function", "TooManyRequestsException", 429, times=9)
    ended = _applier(throttled).end_canary(FN, ALIAS, first)
    assert ended.after["trial_version"]["deleted"] is False and first in _versions()
    assert _versions()[first] == "lambda-tuner canary trial at 512 MB"
    # and versions that are not left-over trials: someone's deployment, and a trial another alias serves
    lam = aws.client("lambda")
    deployed = str(lam.publish_version(FunctionName=FN, Description="release 42")["Version"])
    lam.update_function_configuration(FunctionName=FN, MemorySize=768)
    served = str(
        lam.publish_version(FunctionName=FN, Description="lambda-tuner canary trial at 768 MB")["Version"]
    )
    lam.create_alias(FunctionName=FN, Name="beta", FunctionVersion=served)
    lam.update_function_configuration(FunctionName=FN, MemorySize=1024)
    # When a later canary of the function ends
    second = str(_applier().apply_canary(FN, ALIAS, 640, 0.1, None).after["published_version"])
    later = _applier().end_canary(FN, ALIAS, second)
    # Then its own version and the left-over one are deleted; the others stay
    assert later.after["trial_version"]["deleted"] is True
    assert [(t["version"], t["deleted"]) for t in later.after["earlier_trials"]] == [(first, True)]
    assert sorted(_versions()) == sorted(["$LATEST", v1, deployed, served])
    assert alias_state() == (v1, {})
