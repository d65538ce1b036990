"""How long a change's rollback alarms guard it. An all-traffic memory experiment is stopped by tight,
trial-only alarms (its p99 stop inside the allowance, its cost stop at the mean duration the model
promised): those judge its day and end with it. What guards the function after that is what guards an
ordinary change, until the change is verified; a verified change is settled and no alarm of its rolls
it back. Before, the trial's stops stayed in place after the trial was verified, and an ordinary slow
day weeks later put the function back to the size before the trial — a change nobody asked for."""

from __future__ import annotations

from datetime import datetime, timedelta

import boto3
import pytest
from botocore.config import Config
from e2e_support import T0, Account, deployed, small_fleet

from lambda_tuner.adapters import alarms, aws
from lambda_tuner.adapters.store import Store
from lambda_tuner.core.models import Recommendation
from lambda_tuner.handlers import agent
from lambda_tuner.twin import person


def _memory(function: str) -> int:
    return int(boto3.client("lambda").get_function_configuration(FunctionName=function)["MemorySize"])


def _alarms_left(names: list[str]) -> list[str]:
    return [
        a["AlarmName"]
        for a in boto3.client("cloudwatch").describe_alarms()["MetricAlarms"]
        if a["AlarmName"] in names
    ]


def _rollbacks(store: Store, rec: Recommendation) -> list[str]:
    """The alarms that rolled `rec` back."""
    return [
        str(r.data.get("alarm"))
        for r in store.list_audit(function=rec.function)
        if r.type == "rollback" and r.recommendation_id == rec.id
    ]


def _p99s(function: str, since: datetime, until: datetime) -> list[float]:
    """The function's p99 Duration in the six-hour windows of [since, until), as CloudWatch gives them."""
    metric = {
        "Namespace": "AWS/Lambda",
        "MetricName": "Duration",
        "Dimensions": [{"Name": "FunctionName", "Value": function}],
    }
    period = alarms.STOP_PERIOD_S
    got = boto3.client("cloudwatch").get_metric_data(
        MetricDataQueries=[{"Id": "m", "MetricStat": {"Metric": metric, "Period": period, "Stat": "p99"}}],
        StartTime=since,
        EndTime=until,
    )
    return [float(v) for v in got["MetricDataResults"][0]["Values"]]


def _all_traffic_trial(rec: Recommendation) -> bool:
    return rec.kind == "experiment" and "canary_weight" not in rec.proposed


def test_a_verified_trial_is_not_rolled_back_by_its_stops_days_later(auto: Account) -> None:
    # Given the agent in auto mode making all-traffic memory experiments, one of which was verified and
    # left in place (nothing since moved its function)
    store = auto.store()
    for day in range(4):
        auto.run_agent(T0 + timedelta(days=day))
    later = {r.function for r in store.list_recommendations() if r.status in ("APPROVED", "APPLIED")}
    kept = [
        r
        for r in store.list_recommendations(status="VERIFIED")
        if _all_traffic_trial(r)
        and r.function not in later
        and _memory(r.function) == r.proposed["memory_mb"]
    ]
    assert kept, "the scenario needs a verified all-traffic experiment left in place"
    trial = kept[0]
    [verified] = [
        r
        for r in store.list_audit(function=trial.function)
        if r.type == "verification" and r.recommendation_id == trial.id
    ]
    mean = float(verified.data["realised"]["duration_ms"])  # type: ignore[index]
    p99 = float(verified.data["realised"]["p99_ms"])  # type: ignore[index]
    mean_stop, p99_stop = (
        float(trial.proposed["stop_if_mean_ms_above"]),
        float(trial.proposed["stop_if_p99_ms_above"]),
    )
    # (its alarms as its change record names them: the change lists none once they are removed)
    records = store.list_audit(function=trial.function)
    [change] = [r for r in records if (r.type, r.recommendation_id) == ("change", trial.id)]
    names = [str(name) for name in change.data["alarms"]]  # type: ignore[union-attr]
    assert any(n.endswith(f"-{alarms.COST}") for n in names), names
    # When, two days on, the function gets mildly slower: its mean past the trial's cost stop, its p99
    # still inside the p99 stop (so well inside the allowance the change was judged by)
    factor = 1.2 * mean_stop / mean
    assert factor > 1 and p99 * factor < p99_stop, (factor, p99, p99_stop)
    now = T0 + timedelta(days=3)
    auto.world.inject_regression(trial.function, factor, at=now + timedelta(days=2))
    auto.twin.advance(now + timedelta(days=4))
    # Then nothing rolls it back: it stays at the size it was verified at
    assert _rollbacks(store, trial) == []
    assert _memory(trial.function) == trial.proposed["memory_mb"]
    assert (store.get_recommendation(trial.id) or trial).status == "VERIFIED"
    # and its alarms, the trial's stops among them, went when it was verified
    assert _alarms_left(names) == []


def test_a_trials_stops_end_with_its_day_even_before_it_is_verified(auto: Account) -> None:
    # Given all-traffic experiments made by the agent, and no cycle after them for days (a weekly
    # schedule, or cycles that could not run), so none of them is verified
    store = auto.store()
    auto.run_agent(T0)
    day = T0 + timedelta(days=1, hours=2)
    auto.twin.advance(day)
    running = [r for r in store.list_recommendations(status="APPLIED") if _all_traffic_trial(r)]
    assert running, "the scenario needs an all-traffic experiment that kept to its stops for its day"
    trial = running[0]
    p99s = _p99s(trial.function, T0 + timedelta(hours=1), day)
    p99_stop = float(trial.proposed["stop_if_p99_ms_above"])
    # When, after its day, the function gets slower: its p99 past the trial's stop, not a gross
    # regression (the p99 guard every change keeps until verified trips at GROSS x the stop)
    factor = 1.1 * p99_stop / min(p99s)
    assert factor > 1 and max(p99s) * factor < alarms.GROSS * p99_stop, (factor, p99s, p99_stop)
    auto.world.inject_regression(trial.function, factor, at=day)
    auto.twin.advance(day + timedelta(days=2))
    # Then the trial's own stop no longer acts on it: it is not rolled back
    assert _rollbacks(store, trial) == []
    assert _memory(trial.function) == trial.proposed["memory_mb"]
    assert (store.get_recommendation(trial.id) or trial).status == "APPLIED"
    # while the guards of any change still stand over it
    names = list((store.get_recommendation_item(trial.id) or {})["attrs"]["alarms"])
    left = {name.rpartition("-")[2] for name in _alarms_left(names)}
    assert left == {*alarms.METRICS, alarms.STOP, alarms.COST}, left


NO_RETRIES = Config(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=5, read_timeout=30)


def _approved_and_made(account: Account, function: str) -> str:
    """A change to `function` asked for by the first cycle, approved by a person and made; its id."""
    first = account.run_agent(T0)["summary"]
    [ask] = [
        r
        for r in first["recommendations"]
        if r["recommendation"]["function"] == function and r["route"] == "approve"
    ]
    page, answer = person.decide(ask["links"]["approve"])
    assert answer is not None and answer.status == 200, page.title
    return str(ask["recommendation"]["id"])


def test_the_alarms_of_a_verified_change_go_even_if_the_request_to_remove_them_was_lost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with deployed(small_fleet(), "approve") as account:
        # Given a change a person approved, made and guarded by its rollback alarms
        rec_id = _approved_and_made(account, "orders-api")
        store = account.store()
        guards = list((store.get_recommendation_item(rec_id) or {})["attrs"]["alarms"])
        assert guards and _alarms_left(guards) == guards
        # And the cycle that verifies it unable to reach the apply function (its invoke throttled past
        # the client's retries: turned off here, so the cycle does not back off for minutes)
        account.twin.inject_fault("lambda.Invoke", "throttle", rate=1.0)
        monkeypatch.setattr(aws, "CLIENT_CONFIG", NO_RETRIES)
        aws.reset_clients()
        agent._wiring.cache_clear()
        second = account.run_agent(T0 + timedelta(days=1))["summary"]
        assert rec_id in second["verifications"] and rec_id in second["handover_failed"]
        assert _alarms_left(guards) == guards
        # When a later cycle reaches the apply function
        account.twin.clear_faults()
        account.run_agent(T0 + timedelta(days=2))
        # Then the verified change's alarms are gone (each costs $0.10 a month and fires on a slow day
        # it no longer answers for), and it stays verified
        assert _alarms_left(guards) == []
        assert (store.get_recommendation(rec_id) or Recommendation.model_construct()).status == "VERIFIED"
