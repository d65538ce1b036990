"""The apply function's side of a canary experiment, against moto over HTTP: applied behind the alias and
guarded on the canary version alone; concluded once (routing removed, alarms dropped, audited, VERIFIED);
and a conclusion that cannot be made is a clear failure that leaves nothing half done."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from approval_support import AUDIT, NOW, STATE, Account, FakeContext, Refusing
from canary_apply_support import ACTION, ALIAS, FN, alias_state, behind_alias, canary_rec

from lambda_tuner.adapters import aws
from lambda_tuner.adapters.applier import Applier
from lambda_tuner.adapters.apply_flow import ApplyFlow
from lambda_tuner.adapters.notifier import Notifier
from lambda_tuner.adapters.store import Store
from lambda_tuner.handlers import apply as apply_handler

LATER = NOW + timedelta(days=1)


class Setup:
    def __init__(self, account: Account, lam: Any = None) -> None:
        self.account, self.v1 = account, behind_alias(account)
        self.store = Store(STATE, AUDIT)
        self.cw = aws.client("cloudwatch")
        self.flow = self.flow_with(lam)

    def flow_with(self, lam: Any) -> ApplyFlow:
        applier = Applier(lam, sleep=lambda _: None, poll_delay_s=1)
        return ApplyFlow(self.store, applier, Notifier(self.account.topic_arn), alarm_action_arn=ACTION)

    def applied(self, **extra: Any) -> str:
        """Apply the canary experiment; returns the version published for it."""
        self.store.put_recommendation(canary_rec(**extra))
        result = self.flow.apply("rec-1", "approval", NOW)
        assert result.ok, result.message
        return str(result.after["published_version"])

    def status(self) -> str:
        rec = self.store.get_recommendation("rec-1")
        assert rec is not None
        return rec.status

    def alarms(self) -> list[dict[str, Any]]:
        return list(self.cw.describe_alarms()["MetricAlarms"])


def test_an_approved_canary_is_applied_behind_the_alias_and_guarded_on_its_own_version(
    account: Account,
) -> None:
    # Given a canary experiment approved for a function that usually fails 6 calls a minute
    s = Setup(account)
    trial = s.applied(current={"memory_mb": 1024, "errors_per_min": 6.0})
    # Then the alias sends 10 % to the trial version and $LATEST kept its size
    assert alias_state() == (s.v1, {trial: 0.1}) and account.memory(FN) == 1024
    assert s.status() == "APPLIED"
    [change] = s.store.list_audit()
    assert change.data["after"]["canary_weight"] == 0.1  # type: ignore[index]
    # And every alarm but the throttles' judges only the calls the trial version ran, as AWS publishes them
    # for an alias (a throttled call runs no version: throttles are judged on the alias, from the change on)
    dims = {
        tuple(sorted((d["Name"], d["Value"]) for d in a["Dimensions"]))
        for a in s.alarms()
        if not a["AlarmName"].endswith("-throttles")
    }
    assert dims == {(("ExecutedVersion", trial), ("FunctionName", FN), ("Resource", f"{FN}:{ALIAS}"))}
    [throttles] = [a for a in s.alarms() if a["AlarmName"].endswith("-throttles")]
    [metric] = [q["MetricStat"]["Metric"] for q in throttles["Metrics"] if "MetricStat" in q]
    assert {d["Name"] for d in metric["Dimensions"]} == {"FunctionName", "Resource"}
    by_metric = {a["AlarmName"].rsplit("-", 1)[1]: a for a in s.alarms()}
    assert by_metric["stop"]["Threshold"] == 400.0 and by_metric["stop"]["Period"] == 21_600  # the stop
    assert by_metric["p99"]["Threshold"] == 500.0  # gross regressions: 1.25 x the stop
    # the usual 6 errors a minute, scaled to the canary's 10 % share: above 0.6 a minute plus noise
    assert by_metric["errors"]["Threshold"] == 5.0


def test_concluding_removes_the_routing_drops_the_alarms_audits_and_closes_it(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a canary a day old
    s = Setup(account)
    trial = s.applied()
    # When the cycle asks the apply function to conclude it
    result = apply_handler_conclude(s, monkeypatch)
    # Then the alias serves version 1 alone, $LATEST was not touched, and its alarms are gone
    assert result["ok"] is True
    assert alias_state() == (s.v1, {}) and account.memory(FN) == 1024 and s.alarms() == []
    # And the audit says what happened, after the change it concludes
    change, verification = s.store.list_audit()
    assert verification.type == "verification" and verification.caused_by == change.id
    assert verification.data["detail"] == (
        f"experiment concluded after 1 day: canary routing removed; trial version {trial} deleted"
    )
    assert verification.data["canary_version"] == trial
    assert s.status() == "VERIFIED"


def apply_handler_conclude(s: Setup, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The apply function's handler, as the cycle invokes it, with this test's flow behind it."""
    monkeypatch.setattr(apply_handler, "_flow", lambda: s.flow)
    payload = {"action": "conclude", "recommendation_id": "rec-1", "time": LATER.isoformat()}
    return apply_handler.handler(payload, FakeContext())


def test_concluding_twice_changes_and_audits_nothing_the_second_time(account: Account) -> None:
    s = Setup(account)
    s.applied()
    assert s.flow.conclude("rec-1", LATER).ok
    records = len(s.store.list_audit())
    spy = Refusing(aws.client("lambda"), "none", "", 0)
    again = s.flow_with(spy).conclude("rec-1", LATER + timedelta(minutes=5))
    assert again.ok and again.message.startswith("already ended")
    assert len(s.store.list_audit()) == records and spy.used == []
    assert s.status() == "VERIFIED"


def test_a_canary_the_verification_closed_first_is_still_concluded(account: Account) -> None:
    # Given the canary's recommendation already moved to VERIFIED (the delivery came late)
    s = Setup(account)
    s.applied()
    assert s.store.transition("rec-1", "APPLIED", "VERIFIED", LATER)
    # When it is concluded, then its routing goes all the same
    assert s.flow.conclude("rec-1", LATER).ok
    assert alias_state() == (s.v1, {})


def test_a_rolled_back_canary_needs_no_conclusion(account: Account) -> None:
    s = Setup(account)
    s.applied()
    p99 = next(a["AlarmName"] for a in s.alarms() if a["AlarmName"].endswith("-p99"))
    rolled = s.flow.on_alarm(p99, NOW + timedelta(hours=3))
    assert rolled is not None and rolled.ok and alias_state() == (s.v1, {})
    records = len(s.store.list_audit())
    result = s.flow.conclude("rec-1", LATER)
    assert result.ok and "ROLLED_BACK" in result.message and len(s.store.list_audit()) == records


def test_a_function_deleted_meanwhile_ends_the_experiment_failed_and_audited(account: Account) -> None:
    s = Setup(account)
    s.applied()
    aws.client("lambda").delete_function(FunctionName=FN)
    result = s.flow.conclude("rec-1", LATER)
    assert not result.ok and "ResourceNotFoundException" in result.message
    assert s.status() == "FAILED" and s.alarms() == []
    failure = s.store.list_audit()[-1]
    assert failure.type == "change" and failure.data["ok"] is False
    assert "Experiment ended: orders-api" in account.messages()[-1]["Subject"]


@pytest.mark.parametrize(
    ("operation", "code", "status", "audit_type"),
    [
        ("get_alias", "TooManyRequestsException", 429, "change"),
        ("update_alias", "ResourceConflictException", 409, "conflict"),
    ],
)
def test_a_throttled_or_refused_conclusion_keeps_the_canary_guarded_for_the_next_cycle(
    account: Account, operation: str, code: str, status: int, audit_type: str
) -> None:
    # Given a running canary, and the alias read throttled or its update refused
    s = Setup(account)
    trial = s.applied()
    refusing = Refusing(aws.client("lambda"), operation, code, status)
    # When it is concluded
    result = s.flow_with(refusing).conclude("rec-1", LATER)
    # Then it says it failed, the canary still runs under its alarms, and the audit has the failure
    assert not result.ok and "next cycle" in result.message
    assert alias_state() == (s.v1, {trial: 0.1}) and len(s.alarms()) == 5 and s.status() == "APPLIED"
    failure = s.store.list_audit()[-1]
    assert failure.type == audit_type and failure.data["ok"] is False
    # And the next cycle's conclusion goes through
    assert s.flow.conclude("rec-1", LATER + timedelta(days=1)).ok
    assert alias_state() == (s.v1, {}) and s.status() == "VERIFIED"


def test_only_an_applied_canary_can_be_concluded(account: Account) -> None:
    s = Setup(account)
    s.store.put_recommendation(canary_rec(status="PENDING"))
    result = s.flow.conclude("rec-1", LATER)
    assert not result.ok and "not an applied canary" in result.message
    assert [r.type for r in s.store.list_audit()] == ["refusal"]
    unknown = s.flow.conclude("rec-404", LATER)
    assert not unknown.ok and unknown.message == "unknown recommendation"


def test_a_next_change_to_the_function_concludes_its_running_canary_first(account: Account) -> None:
    # Given a running canary, and a memory change for the same alias approved meanwhile (or handed over
    # in the same cycle as the canary's conclusion, and delivered before it)
    s = Setup(account)
    s.applied()
    s.store.put_recommendation(
        canary_rec(rec_id="rec-2", kind="memory", proposed={"memory_mb": 768}, created_at=LATER)
    )
    # When that change is applied
    result = s.flow.apply("rec-2", "approval", LATER)
    # Then the canary was concluded first, and the alias moved whole to a version at 768 MB
    assert result.ok, result.message
    assert s.status() == "VERIFIED"
    version, routing = alias_state()
    # (plain moto numbers it like the deleted trial version; AWS and the twin never reuse a number)
    assert routing == {} and version != s.v1 and account.memory(FN, qualifier=version) == 768
    types = [r.type for r in s.store.list_audit()]
    assert types == ["change", "verification", "change"]


class AuditFailsOnce(Store):
    """The real store, except that the first verification record cannot be written (a throttled table)."""

    failed = False

    def append_audit(self, type: Any, at: Any, **fields: Any) -> Any:
        if type == "verification" and not self.failed:
            self.failed = True
            raise RuntimeError("ProvisionedThroughputExceededException: audit table throttled")
        return super().append_audit(type, at, **fields)


def test_a_conclusion_whose_record_cannot_be_written_is_recorded_by_the_next_request(
    account: Account,
) -> None:
    # Given an applied canary, and an audit table that refuses the conclusion's record once
    s = Setup(account)
    s.applied()
    s.store = AuditFailsOnce(STATE, AUDIT)
    s.flow = s.flow_with(None)
    # When the first conclusion removes the routing but cannot record it
    with pytest.raises(RuntimeError):
        s.flow.conclude("rec-1", LATER)
    # Then nothing is closed: the canary stays APPLIED, so the next cycle asks again
    assert alias_state() == (s.v1, {}) and s.status() == "APPLIED"
    assert [r.type for r in s.store.list_audit()] == ["change"]
    # And the next request records the conclusion and closes it
    again = s.flow.conclude("rec-1", LATER + timedelta(days=1))
    assert again.ok and s.status() == "VERIFIED"
    _, verification = s.store.list_audit()
    assert verification.type == "verification" and verification.data["concluded"] is True
    assert verification.data["detail"].endswith(
        "canary routing was already gone; trial version 2 already deleted"
    )
