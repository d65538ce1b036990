"""How applying and rolling back fail safely: no answer from AWS, a deploy or traffic shift landing
mid-apply, unreleased settings on $LATEST, and alarms that fire after the world moved on.

Each case is the product's flow against moto over HTTP; the failures are injected on the real client.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import boto3
import botocore.waiter
import pytest
from approval_support import AUDIT, NOW, STATE, Account
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError
from botocore.stub import Stubber
from canary_apply_support import (
    ACTION,
    ALIAS,
    FN,
    alias_state,
    behind_alias,
    canary_rec,
    render_behind_alias,
    reset_twin,
)

from lambda_tuner.adapters import aws
from lambda_tuner.adapters.applier import (
    Applier,
    ApplyError,
    CodeMismatchError,
    ConflictError,
    RevisionMismatchError,
)
from lambda_tuner.adapters.apply_flow import ApplyFlow
from lambda_tuner.adapters.notifier import Notifier
from lambda_tuner.adapters.rollback_flow import revert_groups
from lambda_tuner.adapters.store import Store, StoreError
from lambda_tuner.collect_state import history_from_audit
from lambda_tuner.core.epochs import CanaryWindow
from lambda_tuner.twin.server import Twin

RENDER = (
    "render"  # the twin's function behind alias `live` (version 1): the twin enforces AWS's preconditions
)


def _flow(account: Account, lam: Any = None, cw: Any = None) -> ApplyFlow:
    applier = Applier(lam or aws.client("lambda"), sleep=lambda _: None, poll_delay_s=1)
    return ApplyFlow(
        Store(STATE, AUDIT), applier, Notifier(account.topic_arn), alarm_action_arn=ACTION, cloudwatch=cw
    )


def _applier(lam: Any) -> Applier:
    return Applier(lam, sleep=lambda _: None, poll_delay_s=1)


def _zip(body: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("index.py", body)
    return buf.getvalue()


class Before:
    """The real client; `hook(operation, nth call, kwargs)` runs before each call of it goes out."""

    def __init__(self, real: Any, hook: Callable[[str, int, dict[str, Any]], None]) -> None:
        self.real, self.hook, self.seen = real, hook, dict[str, int]()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.real, name)
        if not callable(attr) or name in ("get_waiter", "get_paginator"):
            return attr

        def call(**kwargs: Any) -> Any:
            self.seen[name] = self.seen.get(name, 0) + 1
            self.hook(name, self.seen[name], kwargs)
            return attr(**kwargs)

        return call


def _audit(store: Store) -> list[tuple[str, Any]]:
    return [(r.type, r.data.get("ok")) for r in store.list_audit()]


def test_no_answer_while_creating_the_alarms_undoes_the_canary_and_audits_the_failure(
    account: Account,
) -> None:
    # Given an approved canary, and CloudWatch unreachable when its alarms are created
    v1 = behind_alias(account)
    store = Store(STATE, AUDIT)
    store.put_recommendation(canary_rec())
    real_cw = aws.client("cloudwatch")

    class Unreachable:
        def __getattr__(self, name: str) -> Any:
            if name != "put_metric_alarm":
                return getattr(real_cw, name)

            def fail(**_: Any) -> None:
                raise EndpointConnectionError(endpoint_url="https://monitoring.us-east-1.amazonaws.com")

            return fail

    # When it is applied, then nothing stays routed, the change is recorded as failed and undone
    result = _flow(account, cw=Unreachable()).apply("rec-1", "approval", NOW)
    assert (
        not result.ok and "Could not connect" in result.message and "the change was undone" in result.message
    )
    assert alias_state() == (v1, {}) and account.memory(FN) == 1024
    assert store.get_recommendation("rec-1").status == "FAILED"  # type: ignore[union-attr]
    assert _audit(store) == [("change", False)]


def test_a_read_timeout_on_publishing_puts_latest_back_and_fails_the_change(account: Account) -> None:
    behind_alias(account)
    store = Store(STATE, AUDIT)
    store.put_recommendation(canary_rec())

    def timeout(name: str, nth: int, kwargs: dict[str, Any]) -> None:
        if name == "publish_version":
            raise ReadTimeoutError(endpoint_url="https://lambda.us-east-1.amazonaws.com")

    result = _flow(account, lam=Before(aws.client("lambda"), timeout)).apply("rec-1", "approval", NOW)
    assert not result.ok and "no answer from AWS" in result.message
    assert account.memory(FN) == 1024  # not left at the trial size
    assert store.get_recommendation("rec-1").status == "FAILED"  # type: ignore[union-attr]
    assert _audit(store) == [("change", False)]


@pytest.fixture(scope="module")
def twin() -> Iterator[Twin]:
    with Twin(render_behind_alias(calls_per_min=60.0, seed=3)) as running:
        yield running


@pytest.fixture
def in_twin(twin: Twin, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Moto does not check UpdateAlias's RevisionId or PublishVersion's CodeSha256; the twin does."""
    reset_twin(twin, render_behind_alias(calls_per_min=60.0, seed=3), monkeypatch)
    yield
    aws.reset_clients()


@pytest.mark.usefixtures("in_twin")
def test_a_traffic_shift_landing_mid_apply_is_refused_not_overwritten() -> None:
    # Given a second version, and someone's 50 % shift to it landing while the canary is being applied
    lam = aws.client("lambda")
    v2 = str(lam.publish_version(FunctionName=RENDER, Description="their release")["Version"])
    shift = {"AdditionalVersionWeights": {v2: 0.5}}

    def their_shift(name: str, nth: int, kwargs: dict[str, Any]) -> None:
        if name == "publish_version" and nth == 1:
            lam.update_alias(FunctionName=RENDER, Name=ALIAS, FunctionVersion="1", RoutingConfig=shift)

    with pytest.raises(RevisionMismatchError) as caught:
        _applier(Before(lam, their_shift)).apply_canary(RENDER, ALIAS, 512, 0.1, None)
    # Then their shift stands, $LATEST is back at its size, and the error says it was put back
    assert caught.value.restored is True
    assert alias_state(RENDER) == ("1", {v2: 0.5})
    assert lam.get_function_configuration(FunctionName=RENDER)["MemorySize"] == 1024


@pytest.mark.usefixtures("in_twin")
def test_code_deployed_mid_apply_is_never_published_as_the_trial() -> None:
    # Given a deploy of new code to $LATEST landing after the checks, just before the publish
    lam = aws.client("lambda")
    shipped = lam.get_function_configuration(FunctionName=RENDER, Qualifier="1")["CodeSha256"]

    def deploy(name: str, nth: int, kwargs: dict[str, Any]) -> None:
        if name == "publish_version" and nth == 1:
            lam.update_function_code(
                FunctionName=RENDER, ZipFile=_zip("def handler(e, c):\n    return 'new'\n")
            )

    # When the canary is applied, then the publish (pinned to the code checked) is refused, nothing routed
    with pytest.raises(RevisionMismatchError) as caught:
        _applier(Before(lam, deploy)).apply_canary(RENDER, ALIAS, 512, 0.1, None)
    assert caught.value.restored is True and alias_state(RENDER) == ("1", {})
    versions = lam.list_versions_by_function(FunctionName=RENDER)["Versions"]
    assert all(v["CodeSha256"] == shipped for v in versions if v["Version"] != "$LATEST")


def test_unreleased_settings_on_latest_make_a_canary_a_recommendation_only(account: Account) -> None:
    # Given $LATEST with an environment the alias's version does not have (not released yet)
    v1 = behind_alias(account)
    lam = aws.client("lambda")
    lam.update_function_configuration(FunctionName=FN, Environment={"Variables": {"DB": "staging"}})
    # Then publishing would release it: the canary is refused before anything is written
    with pytest.raises(CodeMismatchError, match="environment"):
        _applier(lam).apply_canary(FN, ALIAS, 512, 0.1, None)
    assert alias_state() == (v1, {})


def test_an_all_traffic_change_behind_an_alias_leaves_someone_elses_split_alone(account: Account) -> None:
    v1 = behind_alias(account)
    lam = aws.client("lambda")
    v2 = str(lam.publish_version(FunctionName=FN, Description="their release")["Version"])
    split = {"AdditionalVersionWeights": {v2: 0.2}}
    lam.update_alias(FunctionName=FN, Name=ALIAS, FunctionVersion=v1, RoutingConfig=split)
    with pytest.raises(ConflictError, match="already splits"):
        _applier(lam).apply_memory(FN, 512, None, qualifier_alias=ALIAS)
    assert alias_state() == (v1, {v2: 0.2}) and account.memory(FN) == 1024


def _running_canary(account: Account) -> tuple[Store, ApplyFlow, str, str]:
    v1 = behind_alias(account)
    store = Store(STATE, AUDIT)
    store.put_recommendation(canary_rec())
    flow = _flow(account)
    assert flow.apply("rec-1", "approval", NOW).ok
    alarm = store.get_recommendation_item("rec-1")["attrs"]["alarms"][0]  # type: ignore[index]
    return store, flow, v1, alarm


def test_a_canary_rolled_back_after_a_deploy_removes_only_its_trial(account: Account) -> None:
    # Given a running canary, then a deploy: new code and memory on $LATEST, the alias moved to it
    store, flow, _, alarm = _running_canary(account)
    lam = aws.client("lambda")
    lam.update_function_code(FunctionName=FN, ZipFile=_zip("def handler(e, c):\n    return 'v3'\n"))
    lam.update_function_configuration(FunctionName=FN, MemorySize=2048)
    v3 = str(lam.publish_version(FunctionName=FN)["Version"])
    lam.update_alias(FunctionName=FN, Name=ALIAS, FunctionVersion=v3)
    # When the canary's stop alarm fires
    rolled = flow.on_alarm(alarm, NOW + timedelta(hours=10))
    # Then the deploy stands (alias on v3, $LATEST at 2048 MB); only the trial's routing is gone
    assert rolled is not None and rolled.ok
    assert alias_state() == (v3, {}) and account.memory(FN) == 2048
    assert store.get_recommendation("rec-1").status == "ROLLED_BACK"  # type: ignore[union-attr]
    record = next(r for r in store.list_audit() if r.type == "rollback")
    assert record.data["ok"] and "removed_from_routing" in record.data and "restored" not in record.data


def test_an_alarm_arriving_after_the_canary_was_concluded_changes_nothing(account: Account) -> None:
    store, flow, _, alarm = _running_canary(account)
    assert flow.conclude("rec-1", NOW + timedelta(days=1)).ok
    lam = aws.client("lambda")
    v3 = str(lam.publish_version(FunctionName=FN, Description="their release")["Version"])
    lam.update_alias(FunctionName=FN, Name=ALIAS, FunctionVersion=v3)
    assert flow.on_alarm(alarm, NOW + timedelta(days=1, minutes=1)) is None
    assert store.get_recommendation("rec-1").status == "VERIFIED"  # type: ignore[union-attr]
    assert alias_state() == (v3, {})


def test_no_answer_during_a_rollback_is_audited_and_said(account: Account) -> None:
    store, _, v1, alarm = _running_canary(account)
    routing = alias_state()[1]

    def timeout(name: str, nth: int, kwargs: dict[str, Any]) -> None:
        if name == "update_alias":
            raise ReadTimeoutError(endpoint_url="https://lambda.us-east-1.amazonaws.com")

    rolled = _flow(account, lam=Before(aws.client("lambda"), timeout)).on_alarm(
        alarm, NOW + timedelta(hours=8)
    )
    assert rolled is not None and not rolled.ok and "no answer from AWS" in rolled.message
    assert ("rollback", False) in _audit(store)
    assert alias_state() == (v1, routing)  # what is still routed is on record, for a person to check


def test_a_change_whose_record_is_written_but_not_its_links_is_undone_by_a_rollback_record(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an approved canary, and the store failing right after the `change` record is written
    v1 = behind_alias(account)
    store = Store(STATE, AUDIT)
    store.put_recommendation(canary_rec())
    flow = _flow(account)

    def broken(*_: Any, **__: Any) -> None:
        raise StoreError("ProvisionedThroughputExceededException")

    monkeypatch.setattr(flow.store, "link_alarm", broken)
    with pytest.raises(StoreError):
        flow.apply("rec-1", "approval", NOW)
    # Then the canary is undone, and the audit says so against that very record
    assert alias_state() == (v1, {})
    change, undo = store.list_audit()
    assert (change.type, change.data["ok"]) == ("change", True)
    assert (undo.type, undo.data["ok"], undo.caused_by) == ("rollback", True, change.id)
    # so the collector's reading of the audit has no canary still routing
    assert all(
        not isinstance(item, CanaryWindow) or item.end for item in history_from_audit([change, undo])[FN]
    )


class _Clock:
    def get_remaining_time_in_millis(self) -> int:
        return 400_000  # 400 s left: 200 s are kept to undo, 30 s of those to record


def test_waits_on_the_way_forward_end_in_time_to_undo_before_the_functions_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(botocore.waiter.time, "sleep", lambda _: None)  # the waiter's own delay
    # Given an update that never finishes (LastUpdateStatus stays InProgress) and 400 s left
    lam = boto3.client("lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(lam)
    config = {"FunctionName": FN, "MemorySize": 1024, "RevisionId": "r1", "CodeSha256": "A"}
    stub.add_response("get_function_configuration", config, {"FunctionName": FN})
    stub.add_response("update_function_configuration", {}, {"FunctionName": FN, "MemorySize": 512})
    stuck = {"Configuration": {"LastUpdateStatus": "InProgress"}}
    for _ in range(40):  # the forward wait may poll 40 times (200 s at 5 s a poll), no more
        stub.add_response("get_function", stuck, {"FunctionName": FN})
    # Then the undo waits for the update in flight with what was kept for it, and restores the size
    for _ in range(60):  # (400 - 30) / 5 polls, capped at max_polls
        stub.add_response("get_function", stuck, {"FunctionName": FN})
    stub.add_response("update_function_configuration", {}, {"FunctionName": FN, "MemorySize": 1024})
    stub.add_response(
        "get_function", {"Configuration": {"LastUpdateStatus": "Successful"}}, {"FunctionName": FN}
    )
    applier = Applier(lam, aas_client=object(), cw_client=object(), sleep=lambda _: None, poll_delay_s=5)
    applier.deadline_from(_Clock())
    with stub, pytest.raises(ApplyError, match="did not finish") as caught:
        applier.apply_memory(FN, 512, None)
    stub.assert_no_pending_responses()
    assert caught.value.restored is True
    assert applier.polls() == 40 and applier.polls(undo=True) == 60
    applier.time_left = lambda: 30.0  # a short timeout keeps half of it to undo
    assert applier.polls() == 3 and applier.polls(undo=True) == 3
    applier.deadline_from(object())  # a context without a clock: the full wait
    assert applier.polls() == applier.max_polls


def refuse_alarms_and_the_undo(name: str, nth: int, _: dict[str, Any]) -> None:
    """For `Before`: CloudWatch unreachable for a canary's alarms (so it fails), and Lambda refusing the
    alias write that would undo it (its second UpdateAlias): the trial stays routed."""
    if name == "put_metric_alarm":
        raise EndpointConnectionError(endpoint_url="https://monitoring.us-east-1.amazonaws.com")
    if name == "update_alias" and nth == 2:
        raise ReadTimeoutError(endpoint_url="https://lambda.us-east-1.amazonaws.com")


def test_a_canary_whose_undo_failed_is_undone_later_as_caused_by_its_failed_change(account: Account) -> None:
    # Given an approved canary, CloudWatch unreachable when its alarms are created, and Lambda refusing
    # the alias write that would undo it (its second UpdateAlias): the trial stays routed, asked again
    v1 = behind_alias(account)
    store = Store(STATE, AUDIT)
    store.put_recommendation(canary_rec())

    flow = _flow(
        account,
        lam=Before(aws.client("lambda"), refuse_alarms_and_the_undo),
        cw=Before(aws.client("cloudwatch"), refuse_alarms_and_the_undo),
    )
    assert not flow.apply("rec-1", "approval", NOW).ok
    [failed] = store.list_audit()
    assert failed.type == "change" and failed.data["undo_left"]["alias"] == ALIAS
    # When the next cycle asks for the trial to be taken out, and it is
    flow.conclude("rec-1", NOW + timedelta(days=1))
    assert alias_state() == (v1, {})
    # Then that undo is recorded as the undo of the failed change, not beside it
    [_, undo] = store.list_audit()
    assert undo.type == "rollback" and undo.data["ok"] is True and undo.caused_by == failed.id


def test_a_canary_undone_later_after_its_record_was_half_written_is_not_left_to_revert(
    account: Account,
) -> None:
    # Given an approved canary whose change record is written but not its alarms' links (so it is
    # undone at once), and Lambda refusing that undo's alias write: the trial stays routed, asked again
    v1 = behind_alias(account)

    class LinksRefused(Store):
        def link_alarm(self, alarm_name: str, link: dict[str, Any]) -> None:
            raise StoreError("cannot write the alarm's link")

    store = LinksRefused(STATE, AUDIT)
    store.put_recommendation(canary_rec())

    def refuse_the_undo(name: str, nth: int, _: dict[str, Any]) -> None:
        if name == "update_alias" and nth == 2:
            raise ReadTimeoutError(endpoint_url="https://lambda.us-east-1.amazonaws.com")

    applier = _applier(Before(aws.client("lambda"), refuse_the_undo))
    flow = ApplyFlow(store, applier, Notifier(account.topic_arn), alarm_action_arn=ACTION)
    with pytest.raises(StoreError, match="could not be recorded"):
        flow.apply("rec-1", "approval", NOW)
    change, failed_undo = store.list_audit()
    assert (change.type, change.data["ok"]) == ("change", True)
    assert (failed_undo.type, failed_undo.data["ok"], failed_undo.caused_by) == ("rollback", False, change.id)
    # When the next cycle takes the trial out
    flow.conclude("rec-1", NOW + timedelta(days=1))
    assert alias_state() == (v1, {})
    # Then the audit shows the change undone: `lambda-tuner revert` has nothing of it left to put back
    # (it used to list the canary as still in force, its undo recorded beside it, caused by nothing)
    undo = store.list_audit()[-1]
    assert undo.data["ok"] is True and undo.caused_by == change.id
    assert revert_groups(store, NOW - timedelta(days=1), FN) == []
