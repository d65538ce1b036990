"""Metric alarms on AWS/Lambda metrics, evaluated against the World whenever the twin's clock moves.

moto keeps the alarms (PutMetricAlarm/DescribeAlarms/DeleteAlarms); the twin decides their state like
CloudWatch: the last EvaluationPeriods periods, DatapointsToAlarm of them breaching, TreatMissingData.
Each period boundary crossed by `Twin.advance` is evaluated (from one World query per alarm), so a
regression that starts and stops inside one advance still fires. A state change fires the alarm's
actions: a Lambda ARN gets the "alarm state change" event AWS sends to Lambda, an SNS topic the
notification AWS publishes.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from moto.cloudwatch.models import cloudwatch_backends
from moto.sns.models import sns_backends

from lambda_tuner.twin.lambda_invoke import run_handler

if TYPE_CHECKING:
    from lambda_tuner.twin.server import Twin

COMPARE: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanThreshold": operator.gt,
    "GreaterThanOrEqualToThreshold": operator.ge,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}
MAX_STEPS = 2_000  # evaluations per alarm per advance; a longer jump evaluates only its last steps


@dataclass
class Firing:
    alarm: str
    state: str
    action: str


@dataclass
class AlarmEvaluator:
    twin: Twin
    evaluated_until: dict[str, datetime] = field(default_factory=dict)
    fired: list[Firing] = field(default_factory=list)  # observable by tests and benchmarks

    def evaluate(self) -> None:
        backend = cloudwatch_backends[self.twin.account][self.twin.region]
        for alarm in list(backend.alarms.values()):
            if alarm.rule is None and alarm.namespace == "AWS/Lambda" and alarm.metric_name:
                self._evaluate(alarm)

    def _evaluate(self, alarm: Any) -> None:
        period = timedelta(seconds=int(alarm.period))
        now = _floor(self.twin.world.now, period)
        since = self.evaluated_until.get(alarm.name, now - period)
        steps = max(0, min(int((now - since) / period), MAX_STEPS))
        self.evaluated_until[alarm.name] = now
        if steps == 0:
            return
        n = int(alarm.evaluation_periods)
        first = now - (steps - 1 + n) * period
        with self.twin.lock:
            result = self.twin.world.metric_data([_query(alarm)], first, now)[0]
        series = dict(zip((_utc(t) for t in result["timestamps"]), result["values"], strict=True))
        for step in range(steps):
            end = now - (steps - 1 - step) * period
            window = [series.get(end - (i + 1) * period) for i in range(n)][::-1]
            state = decide(alarm, window)
            if state is not None and state != alarm.state_value:
                self._transition(alarm, state, window, end)

    def _transition(self, alarm: Any, state: str, window: list[float | None], at: datetime) -> None:
        previous = {
            "value": alarm.state_value,
            "reason": alarm.state_reason,
            "timestamp": _iso(_utc(alarm.state_updated_timestamp)),
        }
        reason = _reason(alarm, window, state)
        data = {
            "version": "1.0",
            "queryDate": _iso(at),
            "recentDatapoints": [v for v in window if v is not None],
        }
        alarm.update_state(reason, json.dumps(data), state)
        alarm.state_updated_timestamp = at
        if not alarm.actions_enabled:
            return
        actions = {"ALARM": alarm.alarm_actions, "OK": alarm.ok_actions}.get(
            state, alarm.insufficient_data_actions
        )
        for action in actions or []:
            self.fired.append(Firing(alarm.name, state, action))
            if ":lambda:" in action:
                self._invoke(action, lambda_event(self.twin, alarm, previous, at))
            elif ":sns:" in action:
                self._publish(action, alarm, previous["value"], at)

    def _invoke(self, arn: str, event: dict[str, Any]) -> None:
        name = arn.split(":function:", 1)[1].split(":", maxsplit=1)[0]
        if name in self.twin.handlers:
            result, failed = run_handler(self.twin, name, event)
            if failed:
                self.twin.async_failures.append((name, result))

    def _publish(self, arn: str, alarm: Any, old_state: str, at: datetime) -> None:
        topic = sns_backends[self.twin.account][self.twin.region].topics.get(arn)
        if topic is None:
            return
        message = {
            "AlarmName": alarm.name,
            "AlarmDescription": alarm.description,
            "AWSAccountId": self.twin.account,
            "NewStateValue": alarm.state_value,
            "NewStateReason": alarm.state_reason,
            "StateChangeTime": _iso(at),
            "Region": self.twin.region,
            "AlarmArn": alarm.alarm_arn,
            "OldStateValue": old_state,
            "Trigger": {
                "MetricName": alarm.metric_name,
                "Namespace": alarm.namespace,
                "Statistic": alarm.statistic,
                "ExtendedStatistic": alarm.extended_statistic,
                "Dimensions": [{"name": d.name, "value": d.value} for d in alarm.dimensions],
                "Period": int(alarm.period),
                "EvaluationPeriods": int(alarm.evaluation_periods),
                "ComparisonOperator": alarm.comparison_operator,
                "Threshold": float(alarm.threshold),
                "TreatMissingData": alarm.treat_missing_data or "missing",
            },
        }
        subject = f'ALARM: "{alarm.name}" in {self.twin.region}'[:100]
        topic.publish(json.dumps(message), subject=subject)


def decide(alarm: Any, window: list[float | None]) -> str | None:
    """The state the window implies, or None to keep the current one (TreatMissingData=ignore)."""
    treat = alarm.treat_missing_data or "missing"
    compare = COMPARE[alarm.comparison_operator]
    needed = int(alarm.datapoints_to_alarm or alarm.evaluation_periods)
    present = [v for v in window if v is not None]
    if not present and treat in ("missing", "ignore"):
        return "INSUFFICIENT_DATA" if treat == "missing" else None
    breaching = sum(1 for v in present if compare(v, float(alarm.threshold)))
    if treat == "breaching":
        breaching += len(window) - len(present)
    return "ALARM" if breaching >= needed else "OK"


def lambda_event(twin: Twin, alarm: Any, previous: dict[str, str], at: datetime) -> dict[str, Any]:
    """The event CloudWatch sends to a Lambda alarm action."""
    stat = alarm.statistic or alarm.extended_statistic
    return {
        "source": "aws.cloudwatch",
        "alarmArn": alarm.alarm_arn,
        "accountId": twin.account,
        "time": _iso(at),
        "region": twin.region,
        "alarmData": {
            "alarmName": alarm.name,
            "state": {
                "value": alarm.state_value,
                "reason": alarm.state_reason,
                "reasonData": alarm.state_reason_data,
                "timestamp": _iso(at),
            },
            "previousState": previous,
            "configuration": {
                "description": alarm.description,
                "metrics": [
                    {
                        "id": "m1",
                        "metricStat": {
                            "metric": {
                                "namespace": alarm.namespace,
                                "name": alarm.metric_name,
                                "dimensions": {d.name: d.value for d in alarm.dimensions},
                            },
                            "period": int(alarm.period),
                            "stat": stat,
                        },
                        "returnData": True,
                    }
                ],
            },
        },
    }


def _query(alarm: Any) -> dict[str, Any]:
    return {
        "Id": "m1",
        "MetricStat": {
            "Metric": {
                "Namespace": alarm.namespace,
                "MetricName": alarm.metric_name,
                "Dimensions": [{"Name": d.name, "Value": d.value} for d in alarm.dimensions],
            },
            "Period": int(alarm.period),
            "Stat": alarm.statistic or alarm.extended_statistic,
        },
    }


def _reason(alarm: Any, window: list[float | None], state: str) -> str:
    present = [v for v in window if v is not None]
    compare = COMPARE[alarm.comparison_operator]
    breaching = [v for v in present if compare(v, float(alarm.threshold))]
    shown = ", ".join(f"{v:g}" for v in (breaching if state == "ALARM" else present)[:5])
    relation = alarm.comparison_operator.replace("Threshold", "").replace("Than", " than").lower()
    return (
        f"Threshold Crossed: {len(breaching)} out of the last {len(window)} datapoints [{shown}] "
        f"{'were' if len(breaching) != 1 else 'was'} {relation} the threshold ({float(alarm.threshold):g})."
    )


def _floor(t: datetime, period: timedelta) -> datetime:
    seconds = int(period.total_seconds())
    return datetime.fromtimestamp(int(t.timestamp()) // seconds * seconds, UTC)


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _iso(t: datetime) -> str:
    return _utc(t).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
