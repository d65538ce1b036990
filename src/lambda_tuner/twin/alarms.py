"""Metric alarms on AWS/Lambda metrics, evaluated against the World whenever the twin's clock moves.

moto keeps the alarms (PutMetricAlarm/DescribeAlarms/DeleteAlarms); the twin decides their state like
CloudWatch: the last EvaluationPeriods periods, DatapointsToAlarm of them breaching, TreatMissingData.
Each period boundary crossed by `Twin.advance` is evaluated, so a regression that starts and stops
inside one advance still fires. An alarm on metric math (a canary's p99 over the live version's) is
evaluated the same way, on the expression's series (metricmath.py). A state change fires the alarm's
actions: a Lambda ARN gets the "alarm state change" event AWS sends to Lambda, an SNS topic the
notification AWS publishes.

Actions run when the alarm changes state, not at the end of the advance: a rollback handler changes the
configuration within seconds of the alarm on AWS, and the hours after it must be simulated at the
restored size. So `Twin.advance` first reads each alarm's series ahead to the advance's end (one World
query per alarm, the clock still at the start; `next_action`), moves the clock only to the earliest
boundary where some alarm would change to a state that has actions, evaluates every alarm up to there
(reusing those reads while the functions' configuration is unchanged) and fires the actions; then it
looks ahead again from there, as the handlers may have changed configuration or alarms.
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

from lambda_tuner.twin import metricmath
from lambda_tuner.twin.lambda_invoke import run_async

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


@dataclass(frozen=True)
class _Read:
    """An alarm's series, read for `key` (its queries, first period, its functions' configuration
    revisions) up to `last`: valid for any evaluation up to `last` while the key stays the same."""

    key: tuple[object, ...]
    last: datetime
    series: dict[datetime, float]


@dataclass
class AlarmEvaluator:
    twin: Twin
    evaluated_until: dict[str, datetime] = field(default_factory=dict)
    fired: list[Firing] = field(default_factory=list)  # observable by tests and benchmarks
    _reads: dict[str, _Read] = field(default_factory=dict)  # look-ahead reads of the current advance

    def start_new(self) -> None:
        """Alarms created since the last evaluation start from now, before the clock moves: CloudWatch
        judges every period after an alarm's creation, not only those at the end of the next advance.
        A deleted alarm is forgotten, so one created again under its name starts afresh."""
        alarms = self._lambda_alarms()
        names = {alarm.name for alarm in alarms}
        for name in [n for n in self.evaluated_until if n not in names]:
            del self.evaluated_until[name]
        for alarm in alarms:
            if alarm.name not in self.evaluated_until:
                period = timedelta(seconds=_period(alarm))
                self.evaluated_until[alarm.name] = _floor(self.twin.world.now, period)

    def next_action(self, to: datetime) -> datetime | None:
        """The earliest period boundary before `to` at which an alarm would change to a state with
        actions, read ahead with the clock where it is (one World query per alarm); None if none."""
        self._reads.clear()
        earliest: datetime | None = None
        for alarm in self._lambda_alarms():
            steps = self._steps(alarm, to, to)
            if not steps:
                continue
            read = self._read(alarm, steps, to, until=to)
            self._reads[alarm.name] = read
            state = alarm.state_value
            for end, window in _windows(alarm, read.series, steps):
                new = decide(alarm, window)
                if new is None or new == state:
                    continue
                if alarm.actions_enabled and _actions(alarm, new):
                    earliest = end if earliest is None else min(earliest, end)
                    break
                state = new
        return earliest

    def evaluate(self, to: datetime | None = None) -> None:
        """Judge every alarm at each boundary up to the clock; `to`, the end of the advance under way,
        bounds the evaluations per alarm (`MAX_STEPS`) as if the clock had jumped there at once."""
        horizon = self.twin.world.now if to is None else max(to, self.twin.world.now)
        for alarm in self._lambda_alarms():
            self._evaluate(alarm, horizon)

    def _lambda_alarms(self) -> list[Any]:
        backend = cloudwatch_backends[self.twin.account][self.twin.region]
        return [a for a in list(backend.alarms.values()) if a.rule is None and _on_lambda(a)]

    def _steps(self, alarm: Any, now: datetime, horizon: datetime) -> list[datetime]:
        """The boundaries still to judge up to `now`: at most `MAX_STEPS` before the horizon's."""
        period = timedelta(seconds=_period(alarm))
        last = _floor(now, period)
        since = self.evaluated_until.get(alarm.name, last - period)
        since = max(since, _floor(horizon, period) - MAX_STEPS * period)
        return [since + i * period for i in range(1, int((last - since) / period) + 1)]

    def _evaluate(self, alarm: Any, horizon: datetime) -> None:
        steps = self._steps(alarm, self.twin.world.now, horizon)
        if not steps:
            return
        self.evaluated_until[alarm.name] = steps[-1]
        read = self._read(alarm, steps, steps[-1])
        for end, window in _windows(alarm, read.series, steps):
            state = decide(alarm, window)
            if state is not None and state != alarm.state_value:
                self._transition(alarm, state, window, end)

    def _read(
        self, alarm: Any, steps: list[datetime], last: datetime, until: datetime | None = None
    ) -> _Read:
        """The series the windows ending at `steps` need, up to `last`: the look-ahead's if still valid."""
        period = timedelta(seconds=_period(alarm))
        first = steps[0] - int(alarm.evaluation_periods) * period
        queries = _queries(alarm)
        with self.twin.lock:
            key = (repr(queries), _expression(alarm), first, self._revisions(queries))
            ahead = self._reads.get(alarm.name)
            if ahead is not None and ahead.key == key and ahead.last >= last:
                return ahead
            results = self.twin.world.metric_data(queries, first, last, until=until)
        by_id = {
            r["id"]: dict(zip((_utc(t) for t in r["timestamps"]), r["values"], strict=True)) for r in results
        }
        expression = _expression(alarm)
        series = by_id["m1"] if expression is None else metricmath.evaluate(expression, by_id)
        return _Read(key, last, series)

    def _revisions(self, queries: list[dict[str, Any]]) -> tuple[int, ...]:
        """The configuration revision of each simulated function the queries read."""
        world = self.twin.world
        names = [
            d["Value"]
            for q in queries
            for d in q["MetricStat"]["Metric"]["Dimensions"]
            if d["Name"] == "FunctionName"
        ]
        return tuple(world.timeline(name).revision if name in world.specs else -1 for name in names)

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
        for action in _actions(alarm, state):
            self.fired.append(Firing(alarm.name, state, action))
            if ":lambda:" in action:
                self._invoke(action, lambda_event(self.twin, alarm, previous, at))
            elif ":sns:" in action:
                self._publish(action, alarm, previous["value"], at)

    def _invoke(self, arn: str, event: dict[str, Any]) -> None:
        name = arn.split(":function:", 1)[1].split(":", maxsplit=1)[0]
        if name in self.twin.handlers:  # CloudWatch invokes asynchronously: Lambda retries a failure
            run_async(self.twin, name, event)

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
            "Trigger": _trigger(alarm),
        }
        subject = f'ALARM: "{alarm.name}" in {self.twin.region}'[:100]
        topic.publish(json.dumps(message), subject=subject)


def _actions(alarm: Any, state: str) -> list[str]:
    """The actions the alarm takes on entering `state`."""
    actions = {"ALARM": alarm.alarm_actions, "OK": alarm.ok_actions}.get(
        state, alarm.insufficient_data_actions
    )
    return list(actions or [])


def _windows(
    alarm: Any, series: dict[datetime, float], steps: list[datetime]
) -> list[tuple[datetime, list[float | None]]]:
    """(boundary, the EvaluationPeriods datapoints before it, oldest first) for each boundary."""
    period = timedelta(seconds=_period(alarm))
    n = int(alarm.evaluation_periods)
    return [(end, [series.get(end - (i + 1) * period) for i in range(n)][::-1]) for end in steps]


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
                "metrics": _event_metrics(alarm),
            },
        },
    }


def _trigger(alarm: Any) -> dict[str, Any]:
    """The alarm's trigger as CloudWatch describes it in the SNS notification."""
    common = {
        "EvaluationPeriods": int(alarm.evaluation_periods),
        "ComparisonOperator": alarm.comparison_operator,
        "Threshold": float(alarm.threshold),
        "TreatMissingData": alarm.treat_missing_data or "missing",
    }
    if alarm.metric_data_queries:
        return {"Metrics": _event_metrics(alarm), **common}
    return {
        "MetricName": alarm.metric_name,
        "Namespace": alarm.namespace,
        "Statistic": alarm.statistic,
        "ExtendedStatistic": alarm.extended_statistic,
        "Dimensions": [{"name": d.name, "value": d.value} for d in alarm.dimensions],
        "Period": int(alarm.period),
        **common,
    }


@dataclass(frozen=True)
class _Query:
    """One of an alarm's metric queries, as metric math lists them: a single-metric alarm is one, `m1`."""

    id: str
    returns: bool
    expression: str | None = None
    label: str | None = None
    namespace: str | None = None
    metric: str | None = None
    dimensions: tuple[tuple[str, str], ...] = ()
    period: int = 0
    stat: str | None = None


def _alarm_queries(alarm: Any) -> list[_Query]:
    if not alarm.metric_data_queries:
        dims = tuple((d.name, d.value) for d in alarm.dimensions)
        stat = alarm.statistic or alarm.extended_statistic
        return [
            _Query("m1", True, None, None, alarm.namespace, alarm.metric_name, dims, int(alarm.period), stat)
        ]
    out = []
    for q in alarm.metric_data_queries:
        returns = str(q.return_data).lower() != "false"
        ms = q.metric_stat
        if ms is None:
            out.append(_Query(q.id, returns, q.expression, q.label))
            continue
        dims = tuple((d.name, d.value) for d in ms.metric.dimensions)
        out.append(
            _Query(
                q.id,
                returns,
                q.expression,
                q.label,
                ms.metric.namespace,
                ms.metric.metric_name,
                dims,
                int(ms.period),
                ms.stat,
            )
        )
    return out


def _event_metrics(alarm: Any) -> list[dict[str, Any]]:
    """The alarm's metrics as CloudWatch lists them in the event it sends a Lambda action."""
    out: list[dict[str, Any]] = []
    for q in _alarm_queries(alarm):
        entry: dict[str, Any] = {"id": q.id, "returnData": q.returns}
        if q.expression:
            entry["expression"] = q.expression
            entry["label"] = q.label
        if q.metric:
            metric = {"namespace": q.namespace, "name": q.metric, "dimensions": dict(q.dimensions)}
            entry["metricStat"] = {"metric": metric, "period": q.period, "stat": q.stat}
        out.append(entry)
    return out


def _on_lambda(alarm: Any) -> bool:
    """A metric alarm on AWS/Lambda metrics: one metric, or metric math over such metrics only."""
    stats = [q for q in _alarm_queries(alarm) if q.metric]
    return bool(stats) and all(q.namespace == "AWS/Lambda" for q in stats)


def _period(alarm: Any) -> int:
    return max(q.period for q in _alarm_queries(alarm) if q.metric)


def _expression(alarm: Any) -> str | None:
    """The expression whose value the alarm judges (the one query returning data), if it is math."""
    math_queries = [q for q in _alarm_queries(alarm) if q.expression]
    returned = [q for q in math_queries if q.returns]
    return (returned or math_queries)[0].expression if math_queries else None


def _queries(alarm: Any) -> list[dict[str, Any]]:
    """GetMetricData queries for the alarm's metrics, every one returning data (the math reads them)."""
    return [
        {
            "Id": q.id,
            "MetricStat": {
                "Metric": {
                    "Namespace": q.namespace,
                    "MetricName": q.metric,
                    "Dimensions": [{"Name": n, "Value": v} for n, v in q.dimensions],
                },
                "Period": q.period,
                "Stat": q.stat,
            },
        }
        for q in _alarm_queries(alarm)
        if q.metric
    ]


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
