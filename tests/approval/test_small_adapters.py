"""Kill switch, signing secret, notifier and rollback alarms against moto (Stubber where moto cannot)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import boto3
import pytest
from approval_support import SECRET, Account
from botocore.exceptions import ReadTimeoutError
from botocore.stub import Stubber

from lambda_tuner.adapters import alarms, aws, secrets
from lambda_tuner.adapters.control import kill_switch_engaged
from lambda_tuner.adapters.notifier import Notifier


@pytest.mark.parametrize(
    ("value", "engaged"), [("run", False), ("stop", True), ("STOP ", True), ("paused", True), ("", False)]
)
def test_the_kill_switch_reads_the_parameter(account: Account, value: str, engaged: bool) -> None:
    aws.client("ssm").put_parameter(Name="/lt/kill", Value=value or " ", Type="String", Overwrite=True)
    assert kill_switch_engaged("/lt/kill") is engaged


def test_no_kill_switch_configured_or_created_means_running(account: Account) -> None:
    assert kill_switch_engaged(None) is False
    assert kill_switch_engaged("/lt/never-created") is False


def test_a_kill_switch_that_cannot_be_read_counts_as_engaged() -> None:
    ssm = boto3.client("ssm", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(ssm) as stub:
        stub.add_client_error(
            "get_parameter", service_error_code="AccessDeniedException", http_status_code=400
        )
        assert kill_switch_engaged("/lt/kill", client=ssm) is True


def test_a_kill_switch_that_does_not_answer_counts_as_engaged() -> None:
    class Silent:
        def get_parameter(self, **_: object) -> None:
            raise ReadTimeoutError(endpoint_url="https://ssm.us-east-1.amazonaws.com")

    assert kill_switch_engaged("/lt/kill", client=Silent()) is True  # not an exception out of the cycle


def test_the_signing_key_is_read_once_per_container(account: Account) -> None:
    sm = boto3.client("secretsmanager")
    calls: list[str] = []
    sm.meta.events.register("before-call.secrets-manager.GetSecretValue", lambda **_: calls.append("get"))
    assert secrets.signing_key(account.secret_arn, client=sm) == SECRET.encode()
    assert secrets.signing_key(account.secret_arn, client=sm) == SECRET.encode()
    assert calls == ["get"]


def test_a_missing_or_short_secret_is_a_clear_error(account: Account) -> None:
    short = aws.client("secretsmanager").create_secret(Name="short", SecretString="abc")["ARN"]
    with pytest.raises(secrets.SecretError, match="shorter than 16"):
        secrets.signing_key(short)
    with pytest.raises(secrets.SecretError, match="cannot read"):
        secrets.signing_key("arn:aws:secretsmanager:us-east-1:123456789012:secret:nope")


def test_the_notifier_sends_attributes_and_an_sns_safe_subject(account: Account) -> None:
    message_id = Notifier(account.topic_arn).publish(
        "Approve → 3 changes\nnow " + "x" * 200,
        "body",
        {"severity": "info", "functions": "a,b", "count": "3"},
    )
    [msg] = account.messages()
    assert message_id == msg["MessageId"]
    assert "\n" not in msg["Subject"] and len(msg["Subject"]) <= 100 and msg["Subject"].isascii()
    assert {k: v["Value"] for k, v in msg["MessageAttributes"].items()} == {
        "severity": "info",
        "functions": "a,b",
        "count": "3",
    }


def test_rollback_alarms_watch_the_function_and_act_through_the_apply_function(account: Account) -> None:
    arn = "arn:aws:lambda:us-east-1:123456789012:function:lt-apply"
    names = alarms.create_rollback_alarms(
        "orders-api", "rec-1", arn, p99_ms=300.0, timeout_s=30, qualifier="live"
    )
    got = {a["AlarmName"]: a for a in aws.client("cloudwatch").describe_alarms()["MetricAlarms"]}
    assert set(got) == set(names) == set(alarms.alarm_names("orders-api", "rec-1"))
    p99 = got[next(n for n in names if n.endswith("-p99"))]
    assert p99["ExtendedStatistic"] == "p99" and p99["Threshold"] == 450.0
    timeouts = got[next(n for n in names if n.endswith("-timeouts"))]
    assert timeouts["Threshold"] == 28_500.0
    assert all(a["AlarmActions"] == [arn] for a in got.values())
    assert all({"Name": "Resource", "Value": "orders-api:live"} in a["Dimensions"] for a in got.values())
    alarms.delete_alarms(names)
    assert aws.client("cloudwatch").describe_alarms()["MetricAlarms"] == []


def test_an_experiments_stop_is_judged_on_a_days_six_hour_p99s_and_gross_regressions_within_hours(
    account: Account,
) -> None:
    # Given an experiment whose p99 stop sits at 330 ms (its projection's upper end is 300 ms)
    names = alarms.create_rollback_alarms(
        "orders-api", "rec-3", "arn:x", p99_ms=300.0, timeout_s=30, p99_stop_ms=330.0, mean_stop_ms=120.0
    )
    got = {a["AlarmName"]: a for a in aws.client("cloudwatch").describe_alarms()["MetricAlarms"]}
    assert set(got) == set(names) == set(alarms.alarm_names("orders-api", "rec-3", stop=True))
    stop = got[next(n for n in names if n.endswith("-stop"))]
    # Then its stop trips at 330 ms when the p99 of two of the last four six-hour windows is above it
    assert (stop["Threshold"], stop["Period"], stop["ExtendedStatistic"]) == (330.0, 21_600, "p99")
    assert stop["EvaluationPeriods"] == 4 and stop["DatapointsToAlarm"] == 2
    # And the p99 alarm trips at 1.25 x the stop in two of three hours (a gross regression ends quickly)
    p99 = got[next(n for n in names if n.endswith("-p99"))]
    assert (p99["Threshold"], p99["Period"]) == (412.5, 3600)
    assert p99["EvaluationPeriods"] == 3 and p99["DatapointsToAlarm"] == 2
    # And its cost stop trips on the same windows when the mean duration (its cost per call) passes 120 ms
    cost = got[next(n for n in names if n.endswith("-cost"))]
    assert (cost["Threshold"], cost["Period"], cost["Statistic"], cost["MetricName"]) == (
        120.0,
        21_600,
        "Average",
        "Duration",
    )
    assert cost["EvaluationPeriods"] == 4 and cost["DatapointsToAlarm"] == 2
    # And the other guards keep their one-minute periods
    assert {a["Period"] for n, a in got.items() if not n.endswith(("-p99", "-stop", "-cost"))} == {60}


def test_a_canarys_ratio_stop_is_metric_math_over_both_versions_through_the_alias(account: Account) -> None:
    # Given a canary (version 8 beside the live version 7 behind alias live) whose stop is a ratio
    names = alarms.create_rollback_alarms(
        "orders-api",
        "rec-4",
        "arn:x",
        p99_ms=300.0,
        timeout_s=30,
        qualifier="live",
        executed_version="8",
        p99_stop_ms=330.0,
        p99_stop_ratio=1.06,
        live_version="7",
        mean_stop_ms=120.0,
        mean_stop_ratio=1.3,
    )
    got = {a["AlarmName"]: a for a in aws.client("cloudwatch").describe_alarms()["MetricAlarms"]}
    assert set(got) == set(names) == set(alarms.alarm_names("orders-api", "rec-4", stop=True))
    stop = got[next(n for n in names if n.endswith("-stop"))]
    # Then a fifth alarm trips when the canary's p99 is over 1.06 x the live version's (2 of 4 x 6 h)
    assert stop["Threshold"] == 1.06 and "MetricName" not in stop
    assert (stop["EvaluationPeriods"], stop["DatapointsToAlarm"]) == (4, 2)
    queries = {q["Id"]: q for q in stop["Metrics"]}
    assert queries["ratio"]["Expression"] == "canary / live" and queries["ratio"]["ReturnData"]
    for query_id, version in (("canary", "8"), ("live", "7")):
        stat = queries[query_id]["MetricStat"]
        assert (stat["Stat"], stat["Period"], queries[query_id]["ReturnData"]) == ("p99", 21_600, False)
        assert {d["Name"]: d["Value"] for d in stat["Metric"]["Dimensions"]} == {
            "FunctionName": "orders-api",
            "Resource": "orders-api:live",
            "ExecutedVersion": version,
        }
    # And the hourly p99 alarm on the canary's own calls is left for gross regressions (1.25 x the stop)
    p99 = got[next(n for n in names if n.endswith("-p99"))]
    assert (p99["Threshold"], p99["Period"]) == (412.5, 3600)
    assert {"Name": "ExecutedVersion", "Value": "8"} in p99["Dimensions"]
    # And its cost stop is the ratio of the two versions' mean durations, not the fixed 120 ms
    cost = got[next(n for n in names if n.endswith("-cost"))]
    assert cost["Threshold"] == 1.3 and (cost["EvaluationPeriods"], cost["DatapointsToAlarm"]) == (4, 2)
    means = {q["Id"]: q for q in cost["Metrics"]}
    assert means["ratio"]["Expression"] == "canary / live"
    assert {means[v]["MetricStat"]["Stat"] for v in ("canary", "live")} == {"Average"}


def test_a_canarys_throttles_are_judged_on_the_whole_alias_from_its_start(account: Account) -> None:
    # A throttled call runs no version: under ExecutedVersion the alarm could never see one
    since = datetime(2026, 11, 1, 12, 0, 30, tzinfo=UTC)
    names = alarms.create_rollback_alarms(
        "orders-api",
        "rec-7",
        "arn:x",
        p99_ms=300.0,
        timeout_s=30,
        qualifier="live",
        executed_version="8",
        since=since,
    )
    got = {a["AlarmName"]: a for a in aws.client("cloudwatch").describe_alarms()["MetricAlarms"]}
    throttles = got[next(n for n in names if n.endswith("-throttles"))]
    queries = {q["Id"]: q for q in throttles["Metrics"]}
    metric = queries["m"]["MetricStat"]["Metric"]
    assert (metric["MetricName"], queries["m"]["MetricStat"]["Stat"]) == ("Throttles", "Sum")
    assert {d["Name"]: d["Value"] for d in metric["Dimensions"]} == {
        "FunctionName": "orders-api",
        "Resource": "orders-api:live",
    }
    assert queries["after"]["Expression"] == f"IF(EPOCH(m) >= {int(since.timestamp())}, m)"
    assert throttles["Threshold"] == 0.0
    # while the canary's errors stay its own version's
    errors = got[next(n for n in names if n.endswith("-errors"))]
    assert {"Name": "ExecutedVersion", "Value": "8"} in errors["Dimensions"]


def test_a_proposal_from_before_cost_stops_keeps_its_other_alarms(account: Account) -> None:
    # Given an experiment approved from a proposal that has a p99 stop but no mean stop
    names = alarms.create_rollback_alarms(
        "orders-api", "rec-6", "arn:x", p99_ms=300.0, timeout_s=30, p99_stop_ms=330.0
    )
    # Then it is guarded as before, by five alarms, and none claims to limit its cost
    assert [n.rsplit("-", 1)[1] for n in names] == ["errors", "throttles", "timeouts", "p99", "stop"]


def test_a_ratio_stop_without_the_live_version_is_refused_before_any_alarm_exists(account: Account) -> None:
    with pytest.raises(alarms.AlarmError, match="both are needed"):
        alarms.create_rollback_alarms(
            "orders-api",
            "rec-5",
            "arn:x",
            p99_ms=300.0,
            timeout_s=30,
            qualifier="live",
            executed_version="8",
            p99_stop_ratio=1.06,
        )
    assert aws.client("cloudwatch").describe_alarms()["MetricAlarms"] == []


def test_without_a_projection_there_is_no_p99_alarm(account: Account) -> None:
    names = alarms.create_rollback_alarms("orders-api", "rec-2", "arn:x", p99_ms=None, timeout_s=30)
    assert [n.rsplit("-", 1)[1] for n in names] == ["errors", "throttles", "timeouts"]


def test_the_errors_threshold_is_any_error_for_a_clean_function_and_well_above_a_noisy_ones_rate() -> None:
    assert alarms.errors_threshold(None) == alarms.errors_threshold(0) == 0.0
    assert alarms.errors_threshold(6.0) == 21.0  # 2 × 6 + 3 × √6 + 1 = 20.3, rounded up
    assert alarms.errors_threshold(100.0) > 200.0


@pytest.mark.parametrize(
    "stack", ["s" * 55, "a-stack-" + "x" * 120], ids=["55-char stack", "128-char stack (the most allowed)"]
)
def test_rollback_alarm_names_keep_the_whole_stack_prefix_that_iam_scopes_them_to(
    account: Account, stack: str
) -> None:
    # Given the template's prefix for a long stack name and a function name of Lambda's maximum length
    prefix, function = f"{stack}-rollback-", "f" * 64
    # When the alarms of a change are created
    names = alarms.create_rollback_alarms(
        function, "rec-1", "arn:x", p99_ms=300.0, timeout_s=30, prefix=prefix
    )
    # Then every name matches the IAM resource `alarm:${AWS::StackName}-rollback-*` and fits CloudWatch
    assert len(set(names)) == 4
    assert all(n.startswith(prefix) and len(n) <= 255 for n in names)
    got = {a["AlarmName"] for a in aws.client("cloudwatch").describe_alarms()["MetricAlarms"]}
    assert got == set(names)


def test_an_alarm_prefix_that_leaves_no_room_for_names_is_a_clear_error() -> None:
    with pytest.raises(alarms.AlarmError, match="prefix is 250 characters"):
        alarms.alarm_names("orders-api", "rec-1", prefix="p" * 250)


def _cloudwatch_refusals(alarm: dict[str, object]) -> list[str]:
    """What PutMetricAlarm's documented limits would refuse in one alarm (moto checks none of them)."""
    queries = alarm.get("Metrics") or []
    assert isinstance(queries, list)
    periods = [int(q["MetricStat"]["Period"]) for q in queries if "MetricStat" in q] or [
        int(str(alarm["Period"]))
    ]
    n, m = (
        int(str(alarm["EvaluationPeriods"])),
        int(str(alarm.get("DatapointsToAlarm") or alarm["EvaluationPeriods"])),
    )
    out = [f"period {p}" for p in periods if p not in (10, 20, 30) and p % 60]
    for p in periods:  # at most seven days judged, and one day when the period is under an hour
        if p * n > (86_400 if p < 3_600 else 604_800):
            out.append(f"{n} x {p} s")
    if m > n:
        out.append(f"{m} of {n}")
    if queries:
        if len(queries) > 10 or sum(bool(q.get("ReturnData", True)) for q in queries) != 1:
            out.append("metric math must return one series from at most ten queries")
        out += [f"id {q['Id']}" for q in queries if not re.fullmatch(r"[a-z][a-zA-Z0-9_]*", q["Id"])]
    return out


@pytest.mark.parametrize(
    "kind",
    ["change", "change on an alias", "trial", "canary", "canary beside $LATEST"],
)
def test_every_alarm_of_every_kind_of_change_is_one_cloudwatch_accepts(account: Account, kind: str) -> None:
    since = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    common: dict[str, object] = {"p99_ms": 300.0, "timeout_s": 30, "since": since}
    extra: dict[str, dict[str, object]] = {
        "change": {},
        "change on an alias": {"qualifier": "live"},
        "trial": {"p99_stop_ms": 330.0, "mean_stop_ms": 120.0},
        "canary": {
            "qualifier": "live",
            "executed_version": "8",
            "live_version": "7",
            "p99_stop_ms": 330.0,
            "p99_stop_ratio": 1.06,
            "mean_stop_ms": 120.0,
            "mean_stop_ratio": 1.3,
        },
        "canary beside $LATEST": {
            "qualifier": "live",
            "executed_version": "8",
            "p99_stop_ms": 330.0,
            "mean_stop_ms": 120.0,
        },
    }
    names = alarms.create_rollback_alarms("orders-api", "rec-9", "arn:x", **common, **extra[kind])
    got = aws.client("cloudwatch").describe_alarms(AlarmNames=names)["MetricAlarms"]
    assert len(got) == len(names) >= 4
    assert {a["AlarmName"]: _cloudwatch_refusals(a) for a in got} == {name: [] for name in names}


def test_the_limits_check_refuses_what_cloudwatch_would() -> None:
    day_of_minutes = {"Period": 60, "EvaluationPeriods": 1441, "DatapointsToAlarm": 2}
    assert _cloudwatch_refusals(day_of_minutes) == ["1441 x 60 s"]
    assert _cloudwatch_refusals({"Period": 90, "EvaluationPeriods": 3}) == ["period 90"]
    two_series = {
        "EvaluationPeriods": 4,
        "DatapointsToAlarm": 5,
        "Metrics": [{"Id": "M1", "MetricStat": {"Period": 21_600}}, {"Id": "e", "Expression": "M1"}],
    }
    assert _cloudwatch_refusals(two_series) == [
        "5 of 4",
        "metric math must return one series from at most ten queries",
        "id M1",
    ]
