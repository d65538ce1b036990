"""CloudWatch: the rollback alarms put on a function after a change, whose action is the apply function.

Four alarms per change, on the AWS/Lambda metrics of the function (or the alias it serves): Errors
above the function's usual rate (any, if it had none; the agent passes the rate as
`current["errors_per_min"]`), any Throttles (for a canary too on the whole alias: a throttled call runs no
version), p99 Duration well above what the change projected, and
Duration near the timeout. An experiment gets a fifth, `stop`, its p99 stop, which sits close to the
allowance and is judged the way the stop's margin was set, on about a day: its value over six hours
above the stop in at least two of the last four such windows. For a trial on all traffic
(`p99_stop_ms`) the value is the p99; for a canary with a ratio (`p99_stop_ratio`) it is metric math,
the canary version's p99 over the live version's through the alias, so that the day's drift, which both
see, cancels out. Not hours: a p99 of the few dozen calls a canary gets in an hour reads low (its
expected order statistic sits near the 97th percentile), and half a day's hourly ratios would let
through most canaries just past the allowance. Not a one-day period: its window is the calendar day,
so a canary approved late in the day would be judged on an hour or two of its calls. An experiment's
hourly p99 alarm guards against gross regressions (GROSS x the fixed stop, two of three hours), so a
trial much slower than allowed still ends within hours. A sixth, `cost`, limits what the experiment
costs: a call costs its duration times its memory, so it is the mean duration on the same windows, for
a canary as the ratio of its mean to the live version's, above the upper end of the model's interval
(`core/mean_stop.py`). Both stops judge the trial, and end with it: a canary's with its conclusion, a
trial on all traffic's (which stays at the trial size after its day, unless the next cycle moves it)
with its day, `max_days`, after which they read no calls; a slow day weeks later is not the trial's.
An alarm is created just after its change, and CloudWatch judges it at once on the latest periods,
which were the old configuration's: a change that made a function twice as fast would trip its own
p99 alarm on the minutes before it. Given `since` (the change's time), an alarm whose metrics also hold
those calls (all but a canary's, whose version is new) is metric math that keeps only the datapoints
from then on: `IF(EPOCH(m) >= since, m)`; what it drops counts as missing, that is, not breaching.
A change's alarms guard it until it is verified (verification.py: a day after it, or up to a week for
a memory change that gets too few calls to tell), when the cycle asks the apply function to remove
them (this role's permission, not the agent's): from then on a slow day is not the change's doing, and
an alarm of a verified change left behind rolls nothing back. The next change also removes them.
Names start with a prefix (`<stack>-rollback-` in the template) to which the IAM permission and the
alarms' permission to invoke the apply function are scoped.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lambda_tuner.adapters import aws

PREFIX = "lambda-tuner-rollback-"
P99_MARGIN = 1.5  # trip only well above the projected p99's upper bound: noise must not undo a change
GROSS = 1.25  # beside an experiment's stop, its hourly p99 alarm trips this far above the stop
GROSS_PERIOD_S = 3600  # an experiment's gross-regression alarm is judged on hourly p99s
STOP_PERIOD_S = 21_600  # its stop on six-hour windows ...
STOP_WINDOWS, STOP_BREACHING = 4, 2  # ... at least two of the last four (a day)
MAX_NAME = 255  # CloudWatch's limit on alarm names
METRICS = ("errors", "throttles", "p99", "timeouts")
STOP = "stop"  # the fifth alarm, an experiment's p99 stop
COST = "cost"  # the sixth, its cost: its mean duration (a call costs duration x memory)


class AlarmError(Exception):
    def __init__(self, message: str, left: list[str] | None = None) -> None:
        """`left`: alarms created before the failure whose deletion failed too: they still exist."""
        super().__init__(message)
        self.left = list(left or [])


def errors_threshold(errors_per_min: float | None) -> float:
    """Errors per minute that count as "worse than before": any, for a function that had none; else
    clearly above its usual rate (twice it plus a Poisson-sized margin), so normal noise does not undo a
    change."""
    if not errors_per_min or errors_per_min <= 0:
        return 0.0
    return float(math.ceil(2 * errors_per_min + 3 * math.sqrt(errors_per_min) + 1))


def alarm_names(function: str, change_key: str, prefix: str = PREFIX, *, stop: bool = False) -> list[str]:
    """The alarm names of one change: `<prefix><function>-<digest of the change>-<metric>` for the
    four METRICS, and with `stop` an experiment's p99 stop and its cost stop.

    The prefix is kept whole, since IAM and the apply function's invoke permission match names by it;
    only the function part is cut to stay within the limit (the digest keeps the names unique)."""
    tag = hashlib.sha256(change_key.encode()).hexdigest()[:10]
    room = MAX_NAME - len(prefix) - len(f"-{tag}-") - max(len(m) for m in (*METRICS, STOP, COST))
    if room < 1:
        raise AlarmError(f"alarm name prefix is {len(prefix)} characters: too long for alarm names")
    return [f"{prefix}{function[:room]}-{tag}-{m}" for m in (*METRICS, *([STOP, COST] if stop else []))]


def create_rollback_alarms(
    function: str,
    change_key: str,
    action_arn: str,
    *,
    p99_ms: float | None,
    timeout_s: int,
    qualifier: str | None = None,
    prefix: str = PREFIX,
    errors_per_min: float | None = None,
    p99_stop_ms: float | None = None,
    executed_version: str | None = None,
    p99_stop_ratio: float | None = None,
    live_version: str | None = None,
    mean_stop_ms: float | None = None,
    mean_stop_ratio: float | None = None,
    since: datetime | None = None,
    stop_until: datetime | None = None,
    client: Any = None,
) -> list[str]:
    """Create (or overwrite) the alarms guarding one change; returns their names.

    `p99_stop_ms` (experiments) adds the experiment's stop, and the p99 alarm trips at GROSS x it.
    `executed_version` (a canary behind a weighted alias) judges only the calls that version ran: AWS
    publishes them under FunctionName + Resource (`<function>:<alias>`) + ExecutedVersion.
    `p99_stop_ratio` with `live_version` (a canary) makes that stop the ratio of the canary's p99 to
    the live version's, over six-hour windows. `mean_stop_ms` adds the experiment's cost stop, its
    mean duration over the same windows; beside a ratio stop it is `mean_stop_ratio`, the canary's
    mean over the live version's. (A proposal made before cost stops existed has neither: it keeps
    its other alarms.) `stop_until` (with `since`; a trial on all traffic): the end of the trial's day,
    after which its two stops read no datapoints and so never fire; its other alarms go on guarding it
    as they guard any change."""
    if executed_version and not qualifier:
        raise AlarmError("an executed version is measured only through the alias that routes to it")
    if p99_stop_ratio is not None and not (executed_version and live_version):
        raise AlarmError("a p99 ratio stop compares a canary's version with the live one: both are needed")
    cw = client or aws.client("cloudwatch")
    dims = [{"Name": "FunctionName", "Value": function}]
    if qualifier:
        dims.append({"Name": "Resource", "Value": f"{function}:{qualifier}"})
    if executed_version:
        dims.append({"Name": "ExecutedVersion", "Value": executed_version})
    with_ratio = p99_stop_ratio is not None and p99_stop_ratio > 0
    with_stop = with_ratio or (p99_stop_ms is not None and p99_stop_ms > 0)
    errors, throttles, p99, timeouts, *stop = alarm_names(function, change_key, prefix, stop=with_stop)

    def single(
        metric: str, stat: dict[str, Any], period: int, of: tuple[int, int] = (2, 3)
    ) -> dict[str, Any]:
        what = {"Namespace": "AWS/Lambda", "MetricName": metric, "Dimensions": dims, "Period": period}
        return {**what, **stat, "EvaluationPeriods": of[1], "DatapointsToAlarm": of[0]}

    # A throttled call runs no version, so no ExecutedVersion is certain to carry it: throttles are
    # judged on the alias (or function) as a whole. A canary's slower trial raises the function's
    # concurrency for both versions; its calls from before the change are left out like any other's.
    throttled = single("Throttles", {"Statistic": "Sum"}, 60)
    throttled["Dimensions"] = [d for d in dims if d["Name"] != "ExecutedVersion"]
    if since is not None and executed_version:
        throttled = _after(throttled, since)
    specs: list[tuple[str, dict[str, Any], float]] = [
        (errors, single("Errors", {"Statistic": "Sum"}, 60), errors_threshold(errors_per_min)),
        (throttles, throttled, 0.0),
        (timeouts, single("Duration", {"Statistic": "Maximum"}, 60), timeout_s * 1000.0 * 0.95),
    ]
    p99_stat = {"ExtendedStatistic": "p99"}
    if p99_stop_ms is not None and p99_stop_ms > 0:  # beside the stop, gross regressions only
        specs.append((p99, single("Duration", p99_stat, GROSS_PERIOD_S), p99_stop_ms * GROSS))
    elif p99_ms is not None and p99_ms > 0:
        specs.append((p99, single("Duration", p99_stat, 60), p99_ms * P99_MARGIN))
    if with_stop:
        versions = (function, str(qualifier), str(executed_version), str(live_version))
        ratios = (p99_stop_ratio if with_ratio else None, mean_stop_ratio)
        specs += _stops(stop, single, versions, (p99_stop_ms, mean_stop_ms), ratios)
    if since is not None and not executed_version:
        specs = [
            (name, _after(metric, since, stop_until if name in stop else None), threshold)
            for name, metric, threshold in specs
        ]
    created = []
    try:
        for name, metric, threshold in specs:
            cw.put_metric_alarm(
                AlarmName=name,
                AlarmDescription=f"lambda-tuner: roll back change {change_key} on {function}",
                Threshold=threshold,
                ComparisonOperator="GreaterThanThreshold",
                TreatMissingData="notBreaching",
                AlarmActions=[action_arn],
                **metric,
            )
            created.append(name)
    except (ClientError, BotoCoreError) as exc:  # no answer is no alarm: the change is not guarded
        left: list[str] = []
        try:  # the undo the caller makes must run even if this cleanup fails: it says which are left
            delete_alarms(created, client=cw)  # no half-guarded change: all alarms or none
        except AlarmError:
            left = created
        raise AlarmError(f"cannot create rollback alarms for {function}: {exc}", left) from exc
    return created


def _stops(
    names: list[str],
    single: Callable[..., dict[str, Any]],
    versions: tuple[str, str, str, str],
    fixed: tuple[float | None, float | None],
    ratios: tuple[float | None, float | None],
) -> list[tuple[str, dict[str, Any], float]]:
    """An experiment's p99 stop and cost stop, on two of the last four six-hour windows: as ratios to
    the live version in the same hours when the p99 stop is one (`ratios`), else against `fixed`
    values (p99 ms, mean ms)."""
    windows = {"EvaluationPeriods": STOP_WINDOWS, "DatapointsToAlarm": STOP_BREACHING}
    of = (STOP_BREACHING, STOP_WINDOWS)
    p99_ratio, mean_ratio = ratios
    if p99_ratio:
        out = [(names[0], {"Metrics": _ratio_metrics(*versions, "p99"), **windows}, p99_ratio)]
    else:
        p99 = single("Duration", {"ExtendedStatistic": "p99"}, STOP_PERIOD_S, of)
        out = [(names[0], p99, float(fixed[0] or 0.0))]
    if p99_ratio and mean_ratio:
        out.append((names[1], {"Metrics": _ratio_metrics(*versions, "Average"), **windows}, mean_ratio))
    elif fixed[1]:
        out.append((names[1], single("Duration", {"Statistic": "Average"}, STOP_PERIOD_S, of), fixed[1]))
    return out


def _after(spec: dict[str, Any], since: datetime, until: datetime | None = None) -> dict[str, Any]:
    """A single-metric alarm's spec as metric math that reads only the datapoints from `since` on, and
    with `until` only those of periods that began before it (a ratio stop is a canary's, whose new
    version has no calls from before: it never comes here)."""
    metric = {k: spec[k] for k in ("Namespace", "MetricName", "Dimensions")}
    stat = spec.get("Statistic") or spec.get("ExtendedStatistic")
    query = {
        "Id": "m",
        "MetricStat": {"Metric": metric, "Period": spec["Period"], "Stat": stat},
        "ReturnData": False,
    }
    kept, label = "m", "since the change"
    if until is not None:
        kept, label = f"IF(EPOCH(m) < {math.ceil(until.timestamp())}, m)", "in the trial's day"
    after = {
        "Id": "after",
        "Expression": f"IF(EPOCH(m) >= {math.ceil(since.timestamp())}, {kept})",
        "Label": f"{spec['MetricName']} {stat} {label}",
        "ReturnData": True,
    }
    periods = {k: spec[k] for k in ("EvaluationPeriods", "DatapointsToAlarm")}
    return {"Metrics": [query, after], **periods}


def _ratio_metrics(function: str, alias: str, canary: str, live: str, stat: str) -> list[dict[str, Any]]:
    """Metric math: the canary version's `stat` of Duration over the live version's, both through the
    alias."""

    def stat_of(query_id: str, version: str) -> dict[str, Any]:
        dims = [
            {"Name": "FunctionName", "Value": function},
            {"Name": "Resource", "Value": f"{function}:{alias}"},
            {"Name": "ExecutedVersion", "Value": version},
        ]
        metric = {"Namespace": "AWS/Lambda", "MetricName": "Duration", "Dimensions": dims}
        return {
            "Id": query_id,
            "MetricStat": {"Metric": metric, "Period": STOP_PERIOD_S, "Stat": stat},
            "ReturnData": False,
        }

    name = "p99" if stat == "p99" else "mean"
    ratio = {
        "Id": "ratio",
        "Expression": "canary / live",
        "Label": f"canary {name} / live {name}",
        "ReturnData": True,
    }
    return [stat_of("canary", canary), stat_of("live", live), ratio]


def delete_alarms(names: list[str], client: Any = None) -> None:
    if not names:
        return
    cw = client or aws.client("cloudwatch")
    try:
        for start in range(0, len(names), 100):  # DeleteAlarms takes at most 100 names
            cw.delete_alarms(AlarmNames=names[start : start + 100])
    except (ClientError, BotoCoreError) as exc:
        raise AlarmError(f"cannot delete alarms {names}: {exc}") from exc
