"""The apply function against moto over HTTP: apply once, guard with alarms, roll back, revert."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import boto3
import pytest
from approval_support import AUDIT, NOW, STATE, Account, FakeContext, make_rec
from botocore.awsrequest import AWSResponse

from lambda_tuner.adapters import aws
from lambda_tuner.adapters.applier import Applier
from lambda_tuner.adapters.apply_flow import ApplyFlow
from lambda_tuner.adapters.notifier import Notifier
from lambda_tuner.adapters.store import Store, StoreError
from lambda_tuner.core.audit import verify_chain
from lambda_tuner.handlers import apply as apply_handler

FN = "orders-api"
ACTION = "arn:aws:lambda:us-east-1:123456789012:function:lt-apply"


class Setup:
    def __init__(self, account: Account, *, tags: dict[str, str] | None = None, lam: Any = None) -> None:
        self.account = account
        account.create_function(FN, memory_mb=1024, tags=tags, environment={"DB_PASSWORD": "hunter2"})
        self.store = Store(STATE, AUDIT)
        self.cw = aws.client("cloudwatch")
        self.flow = ApplyFlow(
            self.store,
            Applier(lam, sleep=lambda _: None),
            Notifier(account.topic_arn),
            alarm_action_arn=ACTION,
        )

    def approved(self, **kw: Any) -> None:
        self.store.put_recommendation(make_rec(revision_id=None, status="APPROVED", **kw))

    def alarms(self) -> list[str]:
        return [a["AlarmName"] for a in self.cw.describe_alarms()["MetricAlarms"]]

    def types(self) -> list[str]:
        return [r.type for r in self.store.list_audit()]


def test_an_approved_change_is_applied_audited_guarded_and_announced(account: Account) -> None:
    s = Setup(account)
    s.approved()
    result = s.flow.apply("rec-1", "approval", NOW)
    assert result.ok and account.memory(FN) == 512
    assert s.store.get_recommendation("rec-1").status == "APPLIED"  # type: ignore[union-attr]
    [change] = s.store.list_audit()
    assert change.type == "change" and change.data["before"]["memory_mb"] == 1024  # type: ignore[index]
    assert change.data["after"]["memory_mb"] == 512 and change.data["request_ids"]  # type: ignore[index]
    assert change.data["config_before"]["MemorySize"] == 1024  # type: ignore[index]
    assert change.data["config_after"]["MemorySize"] == 512  # type: ignore[index]
    assert "hunter2" not in change.model_dump_json()  # the function's environment never reaches the audit
    assert sorted(s.alarms()) == sorted(change.data["alarms"])  # type: ignore[arg-type]
    assert {a["AlarmActions"][0] for a in s.cw.describe_alarms()["MetricAlarms"]} == {ACTION}
    [msg] = account.messages()
    assert msg["Subject"] == "lambda-tuner: Applied: orders-api" and "1024 → 512 MB" in msg["Message"]
    assert msg["MessageAttributes"]["severity"]["Value"] == "info"


def test_a_second_delivery_of_the_same_apply_does_nothing(account: Account) -> None:
    s = Setup(account)
    s.approved()
    s.flow.apply("rec-1", "approval", NOW)
    again = s.flow.apply("rec-1", "approval", NOW + timedelta(seconds=5))
    assert not again.ok and s.types() == ["change"]


def test_auto_mode_approves_and_applies_its_own_pending_change(account: Account) -> None:
    s = Setup(account)
    s.store.put_recommendation(make_rec(revision_id=None))
    assert s.flow.apply("rec-1", "agent", NOW).ok
    assert s.store.get_recommendation_item("rec-1")["attrs"]["approved_by"] == "agent"  # type: ignore[index]


def test_an_iac_managed_function_is_not_changed_and_gets_the_template_change(account: Account) -> None:
    s = Setup(account, tags={"aws:cloudformation:stack-name": "shop", "lambda:createdBy": "SAM"})
    s.approved()
    result = s.flow.apply("rec-1", "approval", NOW)
    assert not result.ok and "MemorySize = 512" in result.message
    assert account.memory(FN) == 1024
    assert s.store.get_recommendation("rec-1").status == "RECORDED"  # type: ignore[union-attr]
    # SAM deploys through CloudFormation: the function is named by its stack
    [refusal] = s.store.list_audit()
    assert refusal.type == "refusal" and refusal.data["iac"] == "cloudformation:shop"


def test_an_unapproved_recommendation_is_refused(account: Account) -> None:
    s = Setup(account)
    s.store.put_recommendation(make_rec(revision_id=None, status="REJECTED"))
    assert not s.flow.apply("rec-1", "approval", NOW).ok
    assert account.memory(FN) == 1024 and s.types() == ["refusal"]


def _faulty_lambda(code: str, status: int, times: int = 1) -> Any:
    """A real client whose first `times` UpdateFunctionConfiguration calls answer with an AWS error."""
    client = boto3.client("lambda")  # a fresh client: the fault must not outlive this test
    left = [times]

    def fail(**_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if left[0] <= 0:
            return None
        left[0] -= 1
        body = {
            "Error": {"Code": code, "Message": "injected"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }
        return AWSResponse("http://x", status, {}, FakeContext()), body

    client.meta.events.register("before-call.lambda.UpdateFunctionConfiguration", fail)
    return client


@pytest.mark.parametrize(
    ("code", "status", "audit_type"),
    [
        ("ResourceConflictException", 409, "conflict"),
        ("PreconditionFailedException", 412, "conflict"),
        ("TooManyRequestsException", 429, "change"),
        ("ServiceException", 500, "change"),
    ],
)
def test_a_failed_apply_leaves_no_half_state_and_is_audited(
    account: Account, code: str, status: int, audit_type: str
) -> None:
    s = Setup(account, lam=_faulty_lambda(code, status))
    s.approved()
    result = s.flow.apply("rec-1", "approval", NOW)
    assert not result.ok
    assert account.memory(FN) == 1024 and s.alarms() == []
    assert s.store.get_recommendation("rec-1").status == "FAILED"  # type: ignore[union-attr]
    [record] = s.store.list_audit()
    assert record.type == audit_type and record.data["ok"] is False and record.data["restored"] is True
    assert account.messages()[0]["MessageAttributes"]["severity"]["Value"] == "warning"


def test_a_persistent_5xx_leaves_the_function_as_it_was_and_says_so(account: Account) -> None:
    s = Setup(account, lam=_faulty_lambda("ServiceException", 503, times=99))
    s.approved()
    result = s.flow.apply("rec-1", "approval", NOW)
    assert not result.ok and account.memory(FN) == 1024
    assert s.store.list_audit()[0].data["restored"] is True  # confirmed by reading the function back
    assert s.store.get_recommendation("rec-1").status == "FAILED"  # type: ignore[union-attr]


def test_an_experiment_is_guarded_by_its_own_p99_stop(account: Account) -> None:
    # Given an approved experiment whose p99 stop is 250 ms (its projection's upper end is 286 ms)
    s = Setup(account)
    proposed = {"memory_mb": 768, "max_days": 1, "stop_if_p99_ms_above": 250.0, "best_guess_mb": 1024}
    s.approved(kind="experiment", proposed=proposed)
    # When it is applied
    assert s.flow.apply("rec-1", "approval", NOW).ok and account.memory(FN) == 768
    # Then its stop alarm trips at the stop, on a day's six-hour p99s from the change on, and reads none
    # after the trial's day
    [stop] = [a for a in s.cw.describe_alarms()["MetricAlarms"] if a["AlarmName"].endswith("-stop")]
    assert (stop["Threshold"], stop["EvaluationPeriods"], stop["DatapointsToAlarm"]) == (250.0, 4, 2)
    queries = {q["Id"]: q for q in stop["Metrics"]}
    assert (queries["m"]["MetricStat"]["Period"], queries["m"]["MetricStat"]["Stat"]) == (21_600, "p99")
    since, until = int(NOW.timestamp()), int((NOW + timedelta(days=1)).timestamp())
    assert queries["after"]["Expression"] == f"IF(EPOCH(m) >= {since}, IF(EPOCH(m) < {until}, m))"
    # while its other guards read every call from the change on, as any change's do
    [p99] = [a for a in s.cw.describe_alarms()["MetricAlarms"] if a["AlarmName"].endswith("-p99")]
    assert {q["Id"]: q for q in p99["Metrics"]}["after"]["Expression"] == f"IF(EPOCH(m) >= {since}, m)"


def test_an_alarm_rolls_the_change_back_once_and_removes_its_alarms(account: Account) -> None:
    s = Setup(account)
    s.approved()
    s.flow.apply("rec-1", "approval", NOW)
    change = s.store.list_audit()[0]
    first, second = s.alarms()[:2]
    result = s.flow.on_alarm(first, NOW + timedelta(hours=1))
    assert result is not None and result.ok
    assert account.memory(FN) == 1024
    assert s.store.get_recommendation("rec-1").status == "ROLLED_BACK"  # type: ignore[union-attr]
    rollback = s.store.list_audit()[-1]
    assert rollback.type == "rollback" and rollback.caused_by == change.id
    assert s.alarms() == []
    assert s.flow.on_alarm(second, NOW + timedelta(hours=1)) is None  # a sibling alarm finds nothing to do
    assert s.types() == ["change", "rollback"]
    assert [m["Subject"] for m in account.messages()][-1] == "lambda-tuner: Rolled back: orders-api"


def test_a_verified_change_is_settled_an_alarm_of_its_left_behind_rolls_nothing_back(
    account: Account,
) -> None:
    # Given a change applied, guarded and verified, whose alarms stayed (the cycle's request to remove
    # them was lost)
    s = Setup(account)
    s.approved()
    s.flow.apply("rec-1", "approval", NOW)
    assert s.store.transition("rec-1", "APPLIED", "VERIFIED", NOW + timedelta(days=1))
    # When one of them fires days later (a slow dependency, an error burst)
    result = s.flow.on_alarm(s.alarms()[0], NOW + timedelta(days=5))
    # Then the change stands, and its alarms are gone
    assert result is None and account.memory(FN) == 512
    assert s.store.get_recommendation("rec-1").status == "VERIFIED"  # type: ignore[union-attr]
    assert s.alarms() == [] and s.types() == ["change"]


def test_a_changes_guard_ends_on_request_only_once_it_is_verified(account: Account) -> None:
    # Given a change applied and guarded
    s = Setup(account)
    s.approved()
    s.flow.apply("rec-1", "approval", NOW)
    guards = sorted(s.alarms())
    # When the agent asks to conclude it before it is verified, then it keeps its alarms
    early = s.flow.conclude("rec-1", NOW + timedelta(hours=1))
    assert not early.ok and "not verified" in early.message and sorted(s.alarms()) == guards
    # and once it is verified, its alarms go and it stays as it is
    assert s.store.transition("rec-1", "APPLIED", "VERIFIED", NOW + timedelta(days=1))
    assert s.flow.conclude("rec-1", NOW + timedelta(days=1)).ok
    assert s.alarms() == [] and account.memory(FN) == 512


def test_an_alarm_leaves_a_memory_size_a_deploy_set_since_the_change(account: Account) -> None:
    # Given the agent's change (1024 → 512 MB) and, since, a deploy that set 2048 MB on purpose
    s = Setup(account)
    s.approved()
    s.flow.apply("rec-1", "approval", NOW)
    aws.client("lambda").update_function_configuration(FunctionName=FN, MemorySize=2048)
    # When one of the change's alarms fires
    result = s.flow.on_alarm(s.alarms()[0], NOW + timedelta(hours=1))
    # Then the deploy's size stands (1024 back would undo the deploy, not the agent), and the record,
    # the result and the notice say so
    assert result is not None and result.ok and "memory left at 2048 MB" in result.message
    assert account.memory(FN) == 2048
    rollback = s.store.list_audit()[-1]
    assert rollback.type == "rollback" and rollback.data["memory_left"] == 2048
    assert "memory left at 2048 MB" in account.messages()[-1]["Message"]


def test_revert_restores_the_configuration_from_before_the_first_change(account: Account) -> None:
    s = Setup(account)
    s.approved()
    s.flow.apply("rec-1", "approval", NOW)
    s.store.put_recommendation(
        make_rec(rec_id="rec-2", current=512, proposed=256, revision_id=None, status="APPROVED")
    )
    s.flow.apply("rec-2", "approval", NOW + timedelta(days=1))
    assert account.memory(FN) == 256
    [result] = s.flow.revert(NOW - timedelta(hours=1), FN, NOW + timedelta(days=2))
    assert result.ok and account.memory(FN) == 1024
    assert s.types() == ["change", "change", "revert"]
    assert {s.store.get_recommendation(r).status for r in ("rec-1", "rec-2")} == {"ROLLED_BACK"}  # type: ignore[union-attr]
    assert s.flow.revert(NOW - timedelta(hours=1), FN, NOW + timedelta(days=3)) == []  # already reverted
    assert verify_chain(s.store.list_audit(), s.store.published_head()) == []


def test_the_handler_dispatches_apply_alarm_and_revert_events(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in {
        "LT_STATE_TABLE": STATE,
        "LT_AUDIT_TABLE": AUDIT,
        "LT_TOPIC_ARN": account.topic_arn,
        "LT_ALARM_ACTION_ARN": ACTION,
        "LT_MAX_EVENT_AGE_S": "0",  # the events' days are fixed, not the wall clock's
    }.items():
        monkeypatch.setenv(key, value)
    apply_handler._flow.cache_clear()
    s = Setup(account)
    s.approved()
    out = apply_handler.handler(
        {
            "action": "apply",
            "recommendation_id": "rec-1",
            "requested_by": "approval",
            "time": "2026-11-26T09:00:00Z",
        },
        FakeContext(),
    )
    assert out["ok"] and account.memory(FN) == 512
    alarm = {
        "source": "aws.cloudwatch",
        "alarmArn": "arn:x",
        "time": "2026-11-26T10:00:00.000+0000",
        "alarmData": {"alarmName": s.alarms()[0], "state": {"value": "ALARM"}},
    }
    assert apply_handler.handler(alarm, FakeContext())["ok"] and account.memory(FN) == 1024
    revert = {"action": "revert", "since": "2026-11-26T00:00:00Z", "time": "2026-11-26T11:00:00Z"}
    assert apply_handler.handler(revert, FakeContext()) == {"ok": True, "results": []}  # rolled back already
    with pytest.raises(ValueError, match="validation error"):
        apply_handler.handler({"action": "delete-everything"}, FakeContext())
    apply_handler._flow.cache_clear()


def test_an_engaged_kill_switch_stops_an_approved_change_but_not_a_rollback(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an applied change, then the operator pulls the kill switch
    for key, value in {
        "LT_STATE_TABLE": STATE,
        "LT_AUDIT_TABLE": AUDIT,
        "LT_TOPIC_ARN": account.topic_arn,
        "LT_ALARM_ACTION_ARN": ACTION,
        "LT_KILL_SWITCH_PARAMETER": "/lt/kill",
        "LT_MAX_EVENT_AGE_S": "0",  # the events' days are fixed, not the wall clock's
    }.items():
        monkeypatch.setenv(key, value)
    apply_handler._flow.cache_clear()
    ssm = aws.client("ssm")
    ssm.put_parameter(Name="/lt/kill", Value="run", Type="String")
    s = Setup(account)
    s.approved()
    event = {
        "action": "apply",
        "recommendation_id": "rec-1",
        "requested_by": "approval",
        "time": "2026-11-26T09:00:00Z",
    }
    assert apply_handler.handler(event, FakeContext())["ok"]
    s.store.put_recommendation(
        make_rec(rec_id="rec-2", current=512, proposed=256, revision_id=None, status="APPROVED")
    )
    ssm.put_parameter(Name="/lt/kill", Value="stop", Type="String", Overwrite=True)
    # When the next approved change arrives, nothing is applied and the refusal is audited
    out = apply_handler.handler({**event, "recommendation_id": "rec-2"}, FakeContext())
    assert not out["ok"] and "kill switch" in out["message"] and account.memory(FN) == 512
    assert s.store.get_recommendation("rec-2").status == "FAILED"  # type: ignore[union-attr]
    # But a rollback alarm still undoes the first change
    alarm = {
        "source": "aws.cloudwatch",
        "time": "2026-11-26T10:00:00.000+0000",
        "alarmData": {"alarmName": s.alarms()[0], "state": {"value": "ALARM"}},
    }
    assert apply_handler.handler(alarm, FakeContext())["ok"] and account.memory(FN) == 1024
    assert s.types() == ["change", "refusal", "rollback"]
    apply_handler._flow.cache_clear()


def test_a_change_that_cannot_be_recorded_is_put_back(account: Account) -> None:
    # Given an audit table that refuses the change record
    class AuditDown(Store):
        def append_audit(self, type: str, at: Any, **fields: Any) -> Any:
            if type == "change":
                raise StoreError("audit table unavailable")
            return super().append_audit(type, at, **fields)  # type: ignore[arg-type]

    s = Setup(account)
    s.flow.store = AuditDown(STATE, AUDIT)
    s.approved()
    # When the change is applied, then the failure surfaces and nothing stays changed or guarded
    with pytest.raises(StoreError):
        s.flow.apply("rec-1", "approval", NOW)
    assert account.memory(FN) == 1024 and s.alarms() == []


@pytest.mark.parametrize(
    ("mode", "actor", "applied"),
    [
        ("off", "approval", False),
        ("recommend", "approval", False),
        ("approve", "agent", False),
        ("approve", "approval", True),
        ("auto", "agent", True),
    ],
)
def test_the_mode_tag_is_read_again_just_before_the_change(
    account: Account, mode: str, actor: str, applied: bool
) -> None:
    # Given a change approved before someone tagged the function (the collector sees tags only on refresh)
    s = Setup(account, tags={"lambda-tuner:mode": mode})
    s.approved()
    # When it is applied
    result = s.flow.apply("rec-1", actor, NOW)
    # Then the tag as it is now decides, and a refusal says why and touches nothing
    assert result.ok is applied
    assert account.memory(FN) == (512 if applied else 1024)
    if not applied:
        assert f"mode={mode}" in result.message
        assert s.store.get_recommendation("rec-1").status == "FAILED"  # type: ignore[union-attr]
        assert s.types() == ["refusal"]


def test_an_approved_experiment_is_announced_in_sentences(account: Account) -> None:
    # Given a person's approval of a one-day trial on all traffic
    s = Setup(account)
    trial = {"memory_mb": 512, "max_days": 1, "stop_if_p99_ms_above": 400.0, "best_guess_mb": 1024}
    s.approved(kind="experiment", proposed=trial)
    # When it is applied
    assert s.flow.apply("rec-1", "approval", NOW).ok
    # Then the notice says what was tried, then when it was applied: not "stopped early by its guards
    # applied at", which reads as if the guards were applied
    [msg] = account.messages()
    tried = "memory 1024 → 512 MB, experiment on all traffic, its stops watching it for 1 day(s); the "
    tried += "size stays after that until the next change"
    what, when, *_ = msg["Message"].splitlines()
    assert what == f"orders-api: {tried}.", msg["Message"]
    assert when.startswith(f"Applied at {NOW:%Y-%m-%d %H:%M} UTC (audit "), msg["Message"]
