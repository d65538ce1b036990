"""A canary in the twin: the alias really splits its calls, the twin answers the canary version's own
metrics (FunctionName + Resource + ExecutedVersion, as AWS publishes them), its alarms judge those calls
alone, a slow canary trips its stop and is rolled back, and a healthy one runs its day and is concluded.
A canary's stop given as a ratio is a metric-math alarm on its p99 over the live version's, the same day."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from approval_support import NOW, Deployed, FakeContext
from canary_apply_support import ACTION, ALIAS, alias_state, canary_rec, render_behind_alias, reset_twin

from lambda_tuner.adapters import aws
from lambda_tuner.handlers import apply
from lambda_tuner.twin.server import Twin
from lambda_tuner.twin.world import World

FN = "render"  # CPU-bound: about 175 ms at 1024 MB, 690 ms at 256 MB, 100 ms from 1769 MB up


def world() -> World:
    return render_behind_alias(calls_per_min=120.0, seed=5)


@pytest.fixture(scope="module")
def twin() -> Iterator[Twin]:
    with Twin(world()) as running:
        yield running


@pytest.fixture
def live(twin: Twin, monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployed]:
    account = reset_twin(twin, world(), monkeypatch)
    account.create_function("lt-apply", memory_mb=256)
    deployed = Deployed(account, monkeypatch, create=False, extra_env={"LT_ALARM_ACTION_ARN": ACTION})
    twin.register_handler("lt-apply", apply.handler)
    yield deployed
    apply._flow.cache_clear()
    aws.reset_clients()


def _apply_canary(
    live: Deployed,
    memory_mb: int,
    stop_ms: float,
    ratio: float | None = None,
    mean_ratio: float | None = None,
) -> str:
    rec = canary_rec(function=FN)
    proposed = {
        **rec.proposed,
        "memory_mb": memory_mb,
        "best_guess_mb": memory_mb,
        "stop_if_p99_ms_above": stop_ms,
        **({"stop_if_p99_ratio_above": ratio} if ratio is not None else {}),
        **({"stop_if_mean_ratio_above": mean_ratio, "stop_if_mean_ms_above": 1e6} if mean_ratio else {}),
    }
    live.store.put_recommendation(rec.model_copy(update={"proposed": proposed}))
    event = {
        "action": "apply",
        "recommendation_id": rec.id,
        "requested_by": "approval",
        "time": NOW.isoformat(),
    }
    result = apply.handler(event, FakeContext())
    assert result["ok"], result["message"]
    return str(result["after"]["published_version"])


def _status(live: Deployed) -> str:
    rec = live.store.get_recommendation("rec-1")
    assert rec is not None
    return rec.status


def _calls(dims: dict[str, str], start: Any, end: Any) -> float:
    got = aws.client("cloudwatch").get_metric_data(
        MetricDataQueries=[
            {
                "Id": "m",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/Lambda",
                        "MetricName": "Invocations",
                        "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
                    },
                    "Period": 3600,
                    "Stat": "Sum",
                },
            }
        ],
        StartTime=start,
        EndTime=end,
    )
    return float(sum(got["MetricDataResults"][0]["Values"]))


def test_a_slow_canary_trips_its_stop_and_the_rollback_removes_its_routing(
    twin: Twin, live: Deployed
) -> None:
    # Given a canary at 256 MB (about 690 ms a call) whose stop is a p99 above 450 ms
    trial = _apply_canary(live, 256, 450.0)
    assert alias_state(FN) == ("1", {trial: 0.1})
    # When a few simulated hours pass
    twin.advance(NOW + timedelta(hours=4))
    # Then its p99 alarm fired, invoked the apply function, and the alias serves version 1 alone again
    assert _status(live) == "ROLLED_BACK" and alias_state(FN) == ("1", {})
    rollback = live.store.list_audit()[-1]
    assert rollback.type == "rollback" and str(rollback.data["alarm"]).endswith("-p99")
    assert twin.async_failures == []


def test_a_healthy_canary_is_judged_on_its_own_calls_and_concluded_after_its_day(
    twin: Twin, live: Deployed
) -> None:
    # Given a canary at 2048 MB (about 100 ms) whose stop, 150 ms, the main version's calls exceed
    trial = _apply_canary(live, 2048, 150.0)
    # When a day passes
    twin.advance(NOW + timedelta(days=1))
    # Then its alarms, judging the canary version's calls alone, never fired
    assert _status(live) == "APPLIED" and alias_state(FN) == ("1", {trial: 0.1})
    # And the twin answers that version's own calls: about a tenth of the alias's
    alias = {"FunctionName": FN, "Resource": f"{FN}:{ALIAS}"}
    day = (NOW, NOW + timedelta(days=1))
    share = _calls({**alias, "ExecutedVersion": trial}, *day) / _calls(alias, *day)
    assert share == pytest.approx(0.1, abs=0.02)
    # When the cycle asks the apply function to conclude it
    event = {
        "action": "conclude",
        "recommendation_id": "rec-1",
        "time": (NOW + timedelta(days=1)).isoformat(),
    }
    result = apply.handler(event, FakeContext())
    # Then the routing is gone, its alarms too, and $LATEST never left 1024 MB
    assert result["ok"] and alias_state(FN) == ("1", {}) and _status(live) == "VERIFIED"
    assert aws.client("cloudwatch").describe_alarms()["MetricAlarms"] == []
    assert aws.client("lambda").get_function_configuration(FunctionName=FN)["MemorySize"] == 1024


@pytest.mark.parametrize(
    ("memory_mb", "stopped"), [(896, True), (1024, False)], ids=["14 % slower", "as fast"]
)
def test_a_canarys_ratio_stop_judges_its_p99_against_the_live_versions_the_same_day(
    twin: Twin, live: Deployed, memory_mb: int, stopped: bool
) -> None:
    # Given a canary whose stop is a p99 over 1.08 x the live version's (1024 MB, about 175 ms), and a
    # fixed stop at 300 ms, which only a gross regression passes (its hourly guard sits at 1.25 x it)
    trial = _apply_canary(live, memory_mb, 300.0, ratio=1.08)
    [stop] = [
        a
        for a in aws.client("cloudwatch").describe_alarms()["MetricAlarms"]
        if a["AlarmName"].endswith("-stop")
    ]
    # Then its stop is metric math over both versions' p99s through the alias, at the ratio, in at
    # least two of the last four six-hour windows
    assert stop["Threshold"] == 1.08 and "MetricName" not in stop
    queries = {q["Id"]: q for q in stop["Metrics"]}
    assert queries["ratio"]["Expression"] == "canary / live"
    versions = {
        k: {d["Name"]: d["Value"] for d in q["MetricStat"]["Metric"]["Dimensions"]}["ExecutedVersion"]
        for k, q in queries.items()
        if "MetricStat" in q
    }
    assert versions == {"canary": trial, "live": "1"}
    assert {q["MetricStat"]["Period"] for q in queries.values() if "MetricStat" in q} == {21_600}
    assert (stop["EvaluationPeriods"], stop["DatapointsToAlarm"]) == (4, 2)
    # When its day passes
    twin.advance(NOW + timedelta(days=1))
    # Then a canary at 896 MB (about 200 ms, 1.14 x) was stopped by it; one at the live size ran on
    if stopped:
        assert _status(live) == "ROLLED_BACK" and alias_state(FN) == ("1", {})
        rollback = live.store.list_audit()[-1]
        assert rollback.type == "rollback" and str(rollback.data["alarm"]).endswith("-stop")
    else:
        assert _status(live) == "APPLIED" and alias_state(FN) == ("1", {trial: 0.1})
    assert twin.async_failures == []


def test_beside_a_ratio_stop_a_gross_regression_still_ends_within_hours(twin: Twin, live: Deployed) -> None:
    # Given a canary at 256 MB (about 690 ms, 3.9 x the live version) with a ratio stop and a 400 ms stop
    _apply_canary(live, 256, 400.0, ratio=1.08)
    # When a few simulated hours pass (long before the day's ratio is judged)
    twin.advance(NOW + timedelta(hours=4))
    # Then the hourly guard (1.25 x 400 ms) rolled it back
    assert _status(live) == "ROLLED_BACK" and alias_state(FN) == ("1", {})
    rollback = live.store.list_audit()[-1]
    assert str(rollback.data["alarm"]).endswith("-p99")


@pytest.mark.parametrize(
    ("memory_mb", "stopped"), [(896, True), (1024, False)], ids=["14 % dearer a call", "as dear"]
)
def test_a_canarys_cost_stop_judges_its_mean_against_the_live_versions_the_same_day(
    twin: Twin, live: Deployed, memory_mb: int, stopped: bool
) -> None:
    # Given a canary whose p99 stop (1.5 x the live version's) lets a slower size through, and whose cost
    # stop is a mean duration over 1.08 x the live version's (the model promised no more)
    _apply_canary(live, memory_mb, 1e6, ratio=1.5, mean_ratio=1.08)
    # When its day passes
    twin.advance(NOW + timedelta(days=1))
    # Then a canary at 896 MB (about 1.14 x the live version's mean) was stopped by its cost alarm, and
    # one at the live size ran on
    if stopped:
        assert _status(live) == "ROLLED_BACK" and alias_state(FN) == ("1", {})
        rollback = live.store.list_audit()[-1]
        assert rollback.type == "rollback" and str(rollback.data["alarm"]).endswith("-cost")
    else:
        assert _status(live) == "APPLIED"
    assert twin.async_failures == []
