"""Alarms evaluated against the World on advance, their actions fired; scheduled PC actions carried out."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from moto.sns.models import sns_backends
from server_support import client

from lambda_tuner.twin.server import Twin


def p99_alarm(twin: Twin, name: str, threshold: float, action: str, period: int = 60) -> None:
    client(twin, "cloudwatch").put_metric_alarm(
        AlarmName=name,
        Namespace="AWS/Lambda",
        MetricName="Duration",
        Dimensions=[{"Name": "FunctionName", "Value": "cruncher"}],
        ExtendedStatistic="p99",
        Period=period,
        EvaluationPeriods=3,
        DatapointsToAlarm=2,
        Threshold=threshold,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
        AlarmActions=[action],
    )


def current_p99(twin: Twin) -> float:
    query = {
        "Id": "p",
        "MetricStat": {
            "Metric": {
                "Namespace": "AWS/Lambda",
                "MetricName": "Duration",
                "Dimensions": [{"Name": "FunctionName", "Value": "cruncher"}],
            },
            "Period": 60,
            "Stat": "p99",
        },
    }
    values = client(twin, "cloudwatch").get_metric_data(
        MetricDataQueries=[query], StartTime=twin.world.now - timedelta(minutes=30), EndTime=twin.world.now
    )["MetricDataResults"][0]["Values"]
    return max(values)


def function_arn(twin: Twin, name: str) -> str:
    return str(client(twin, "lambda").get_function(FunctionName=name)["Configuration"]["FunctionArn"])


def test_an_injected_regression_fires_the_alarm_and_invokes_the_registered_handler(fresh: Twin) -> None:
    # Given a p99 alarm at twice today's p99 whose action is the rollback function
    events: list[dict[str, Any]] = []
    fresh.register_handler("quiet-0", lambda event, _context: events.append(event))
    p99_alarm(fresh, "cruncher-p99", 2 * current_p99(fresh), function_arn(fresh, "quiet-0"))

    # When time passes normally, nothing fires
    fresh.advance(fresh.world.now + timedelta(minutes=10))
    assert events == []

    # When the function regresses fivefold and time passes
    fresh.world.inject_regression("cruncher", 5.0, at=fresh.world.now)
    fresh.advance(fresh.world.now + timedelta(minutes=10))

    # Then the alarm is in ALARM and the handler got CloudWatch's alarm state change event, once
    [alarm] = client(fresh, "cloudwatch").describe_alarms(AlarmNames=["cruncher-p99"])["MetricAlarms"]
    assert alarm["StateValue"] == "ALARM"
    [event] = events
    assert event["source"] == "aws.cloudwatch"
    assert event["alarmArn"] == alarm["AlarmArn"]
    assert event["alarmData"]["alarmName"] == "cruncher-p99"
    assert event["alarmData"]["state"]["value"] == "ALARM"
    assert event["alarmData"]["previousState"]["value"] == "OK"
    metric = event["alarmData"]["configuration"]["metrics"][0]["metricStat"]
    assert metric["metric"] == {
        "namespace": "AWS/Lambda",
        "name": "Duration",
        "dimensions": {"FunctionName": "cruncher"},
    }
    assert metric["stat"] == "p99"


def test_an_alarm_with_an_sns_action_publishes_the_notification(fresh: Twin) -> None:
    topic = client(fresh, "sns").create_topic(Name="alarms")["TopicArn"]
    p99_alarm(fresh, "to-sns", 2 * current_p99(fresh), topic)

    fresh.world.inject_regression("cruncher", 5.0, at=fresh.world.now)
    fresh.advance(fresh.world.now + timedelta(minutes=10))

    sent = sns_backends[fresh.account][fresh.region].topics[topic].sent_notifications
    [(_, message, subject, *_)] = sent
    assert json.loads(message)["NewStateValue"] == "ALARM"
    assert json.loads(message)["OldStateValue"] == "OK"
    assert "to-sns" in subject


def test_a_due_scheduled_action_sets_the_alias_pc_at_its_time(fresh: Twin) -> None:
    # Given a daily 08:00 UTC schedule raising checkout:live to 25, at midnight
    aas = client(fresh, "application-autoscaling")
    resource = "function:checkout:live"
    aas.register_scalable_target(
        ServiceNamespace="lambda",
        ResourceId=resource,
        ScalableDimension="lambda:function:ProvisionedConcurrency",
        MinCapacity=0,
        MaxCapacity=100,
    )
    aas.put_scheduled_action(
        ServiceNamespace="lambda",
        ScheduledActionName="morning",
        ResourceId=resource,
        ScalableDimension="lambda:function:ProvisionedConcurrency",
        Schedule="cron(0 8 * * ? *)",
        ScalableTargetAction={"MinCapacity": 25, "MaxCapacity": 100},
    )
    day = fresh.world.now
    assert (day.hour, day.minute) == (0, 0)

    # When the clock passes 08:00
    fresh.advance(day + timedelta(hours=9))

    # Then the World has PC 25 from 08:00 on, and the Lambda API reports it
    assert fresh.world.pc_at("checkout", "live", day + timedelta(hours=7, minutes=59)) == 4
    assert fresh.world.pc_at("checkout", "live", day + timedelta(hours=8, minutes=1)) == 25
    config = client(fresh, "lambda").get_provisioned_concurrency_config(
        FunctionName="checkout", Qualifier="live"
    )
    assert config["RequestedProvisionedConcurrentExecutions"] == 25


def test_a_metric_math_alarm_judges_the_expression_over_its_metrics(fresh: Twin) -> None:
    # Given an alarm on cruncher's p99 over checkout's, at twice the ratio seen now, acting on a
    # handler and a topic
    def p99(function: str) -> dict[str, Any]:
        dims = [{"Name": "FunctionName", "Value": function}]
        metric = {"Namespace": "AWS/Lambda", "MetricName": "Duration", "Dimensions": dims}
        return {
            "Id": function,
            "MetricStat": {"Metric": metric, "Period": 60, "Stat": "p99"},
            "ReturnData": False,
        }

    ratio = {"Id": "ratio", "Expression": "cruncher / checkout", "ReturnData": True}
    cw = client(fresh, "cloudwatch")
    now = cw.get_metric_data(
        MetricDataQueries=[{**p99("cruncher"), "ReturnData": True}, {**p99("checkout"), "ReturnData": True}],
        StartTime=fresh.world.now - timedelta(minutes=30),
        EndTime=fresh.world.now,
    )["MetricDataResults"]
    seen = max(now[0]["Values"]) / min(now[1]["Values"])
    events: list[dict[str, Any]] = []
    fresh.register_handler("quiet-0", lambda event, _context: events.append(event))
    topic = client(fresh, "sns").create_topic(Name="ratio")["TopicArn"]
    cw.put_metric_alarm(
        AlarmName="cruncher-over-checkout",
        Metrics=[p99("cruncher"), p99("checkout"), ratio],
        EvaluationPeriods=3,
        DatapointsToAlarm=2,
        Threshold=2 * seen,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
        AlarmActions=[function_arn(fresh, "quiet-0"), topic],
    )
    # When time passes normally, nothing fires
    fresh.advance(fresh.world.now + timedelta(minutes=10))
    assert events == []
    # When cruncher alone regresses fivefold
    fresh.world.inject_regression("cruncher", 5.0, at=fresh.world.now)
    fresh.advance(fresh.world.now + timedelta(minutes=10))
    # Then the alarm fired, and both actions describe it as metric math, as CloudWatch does
    [alarm] = cw.describe_alarms(AlarmNames=["cruncher-over-checkout"])["MetricAlarms"]
    assert alarm["StateValue"] == "ALARM"
    [event] = events
    metrics = {m["id"]: m for m in event["alarmData"]["configuration"]["metrics"]}
    assert metrics["ratio"]["expression"] == "cruncher / checkout" and metrics["ratio"]["returnData"]
    assert metrics["cruncher"]["metricStat"]["stat"] == "p99" and not metrics["cruncher"]["returnData"]
    [(_, message, *_)] = sns_backends[fresh.account][fresh.region].topics[topic].sent_notifications
    trigger = json.loads(message)["Trigger"]
    assert [m["id"] for m in trigger["Metrics"]] == ["cruncher", "checkout", "ratio"]
    assert trigger["Threshold"] == 2 * seen


def test_an_alarm_is_judged_from_its_creation_even_when_the_clock_then_jumps_a_day(fresh: Twin) -> None:
    # Given an hourly p99 alarm (two of three hours) created now, and a regression an hour later
    events: list[dict[str, Any]] = []
    fresh.register_handler("quiet-0", lambda event, _context: events.append(event))
    created = fresh.world.now
    p99_alarm(fresh, "cruncher-hourly", 2 * current_p99(fresh), function_arn(fresh, "quiet-0"), period=3600)
    fresh.world.inject_regression("cruncher", 5.0, at=created + timedelta(hours=1))
    # When the clock moves a whole day in one step (as the demo's daily cycles do)
    fresh.advance(created + timedelta(days=1))
    # Then the alarm fired within hours of the regression, as CloudWatch would, not at the day's end
    [event] = events
    fired = datetime.fromisoformat(event["time"].replace("+0000", "+00:00"))
    assert created + timedelta(hours=2) <= fired <= created + timedelta(hours=4)


def test_an_alarm_action_whose_function_fails_is_retried_as_lambda_retries_it(fresh: Twin) -> None:
    # Given a rollback function that fails its first attempt (CloudWatch invokes it asynchronously, and
    # Lambda retries a failed asynchronous invocation twice)
    events: list[dict[str, Any]] = []

    def flaky(event: dict[str, Any], _context: object) -> None:
        events.append(event)
        if len(events) == 1:
            raise RuntimeError("throttled writing the rollback record")

    fresh.register_handler("quiet-0", flaky)
    p99_alarm(fresh, "cruncher-p99", 2 * current_p99(fresh), function_arn(fresh, "quiet-0"))
    before = len(fresh.async_failures)
    # When the function regresses and the alarm fires
    fresh.world.inject_regression("cruncher", 5.0, at=fresh.world.now)
    fresh.advance(fresh.world.now + timedelta(minutes=10))
    # Then the event was delivered again after the failure, and the retry finished
    assert len(events) == 2 and events[0] == events[1]
    assert fresh.async_failures[before:] == []


def mean_duration(twin: Twin, start: datetime, end: datetime) -> float:
    dims = [{"Name": "FunctionName", "Value": "cruncher"}]
    query = {
        "Id": "d",
        "MetricStat": {
            "Metric": {"Namespace": "AWS/Lambda", "MetricName": "Duration", "Dimensions": dims},
            "Period": 60,
            "Stat": "Average",
        },
    }
    [result] = client(twin, "cloudwatch").get_metric_data(
        MetricDataQueries=[query], StartTime=start, EndTime=end
    )["MetricDataResults"]
    return sum(result["Values"]) / len(result["Values"])


def test_an_alarm_action_changes_the_configuration_when_the_alarm_fires_not_when_the_advance_ends(
    fresh: Twin,
) -> None:
    # Given cruncher (CPU-bound) moved from 512 to 1024 MB, a one-minute p99 alarm at twice its p99 at
    # 512 MB, and a rollback handler that sets 512 MB back when the alarm fires
    lam = client(fresh, "lambda")
    threshold = 2 * current_p99(fresh)
    lam.update_function_configuration(FunctionName="cruncher", MemorySize=1024)
    events: list[dict[str, Any]] = []

    def rollback(event: dict[str, Any], _context: object) -> None:
        events.append(event)
        lam.update_function_configuration(FunctionName="cruncher", MemorySize=512)

    fresh.register_handler("quiet-0", rollback)
    p99_alarm(fresh, "cruncher-p99", threshold, function_arn(fresh, "quiet-0"))
    # and a fivefold slowdown from six hours into the day
    day = fresh.world.now
    slowdown = day + timedelta(hours=6)
    fresh.world.inject_regression("cruncher", 5.0, at=slowdown)

    # When the clock moves a whole day in one step
    fresh.advance(day + timedelta(days=1))

    # Then the alarm fired minutes after the slowdown, and its rollback took effect then, as on AWS
    fired = datetime.fromisoformat(events[0]["time"].replace("+0000", "+00:00"))
    assert slowdown < fired <= slowdown + timedelta(minutes=10)
    assert fresh.world.memory_at("cruncher", fired - timedelta(seconds=1)) == 1024
    assert fresh.world.memory_at("cruncher", fired) == 512
    # and the hours after it ran at 512 MB: twice as slow as the slowed minutes at 1024 MB before it
    at_1024 = mean_duration(fresh, slowdown, fired)
    restored = mean_duration(fresh, slowdown + timedelta(hours=2), slowdown + timedelta(hours=3))
    assert restored > 1.5 * at_1024
