"""Robustness: throttling, server errors, deletions and memory changes during the look-back."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config
from collect_helpers import EPOCH, NOW, clients, fleet, run_collect

from lambda_tuner.collect import CollectError, history_from_audit
from lambda_tuner.core.models import AuditRecord
from lambda_tuner.twin.server import Twin
from lambda_tuner.twin.world import World

COLLECTOR_OPERATIONS = (
    "lambda.ListFunctions",
    "lambda.GetAccountSettings",
    "lambda.GetFunction",
    "lambda.ListAliases",
    "lambda.ListProvisionedConcurrencyConfigs",
    "cloudwatch.GetMetricData",
    "logs.StartQuery",
    "logs.GetQueryResults",
)
NO_RETRIES = Config(retries={"mode": "standard", "max_attempts": 1})


@pytest.mark.parametrize("kind", ["throttle", "5xx"])
def test_one_fault_on_every_collector_call_is_retried_and_the_cycle_is_whole(fresh, kind):
    for operation in COLLECTOR_OPERATIONS:
        fresh.inject_fault(operation, kind, count=1)
    result = run_collect(fresh)
    assert set(fresh.faults.fired) >= set(COLLECTOR_OPERATIONS)  # every operation was hit once
    assert not result.inventory.errors and not [p for p in result.stats.partial if "shared" not in p]
    assert result.observations["cruncher"].status == "ok"


def test_persistent_server_errors_leave_a_finished_cycle_that_names_what_it_could_not_read(fresh):
    for operation in COLLECTOR_OPERATIONS[2:]:  # everything but the listing itself
        fresh.inject_fault(operation, "5xx", rate=1.0)
    result = run_collect(fresh, **clients(fresh, NO_RETRIES))
    names = {f.name for f in result.inventory.functions}
    assert names >= {"cruncher", "checkout"}
    assert set(result.inventory.errors) == names  # details unreadable for every function ...
    assert all(f.policy.errors for f in result.inventory.functions)  # ... so no changes anywhere
    cruncher = result.observations["cruncher"]
    assert cruncher.status == "insufficient" and "unreadable" in (cruncher.reason or "")
    assert any("StartQuery" in p for p in result.stats.partial)


def test_a_function_throttled_throughout_is_reported_and_the_others_are_read(fresh):
    fresh.inject_fault("lambda.GetFunction", "throttle", rate=1.0, function="cruncher")
    result = run_collect(fresh, **clients(fresh, NO_RETRIES))
    assert "throttled" in result.inventory.errors["cruncher"]
    cruncher = next(f for f in result.inventory.functions if f.name == "cruncher")
    assert cruncher.policy.errors and cruncher.policy.mode is None
    assert next(f for f in result.inventory.functions if f.name == "checkout").aliases
    assert result.observations["cruncher"].status == "ok"  # its metrics were still read


def test_an_unreadable_function_list_stops_the_collection_with_a_clear_error(fresh):
    fresh.inject_fault("lambda.ListFunctions", "5xx", rate=1.0)
    with pytest.raises(CollectError, match="cannot list functions"):
        run_collect(fresh, **clients(fresh, NO_RETRIES))


def test_a_function_deleted_during_the_cycle_is_insufficient_with_the_reason(fresh):
    made = clients(fresh, NO_RETRIES)
    admin = boto3.client(
        "lambda",
        endpoint_url=fresh.endpoint_url,
        region_name=fresh.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )

    def delete_after_listing(**_):
        admin.delete_function(FunctionName="cruncher")  # someone deletes it right after we listed it

    made["lambda_client"].meta.events.register("after-call.lambda.ListFunctions", delete_after_listing)
    result = run_collect(fresh, **made)
    assert "deleted during the cycle" in result.inventory.errors["cruncher"]
    assert "cruncher" not in {f.name for f in result.inventory.functions}
    obs = result.observations["cruncher"]
    assert obs.status == "insufficient" and "deleted" in (obs.reason or "")
    assert "cruncher" not in result.state["functions"]


def test_a_memory_change_in_the_look_back_gives_one_epoch_per_size(twin):
    # Given the agent changed cruncher from 512 MB to 1024 MB eight days into the look-back
    changed_at = EPOCH + timedelta(days=8)
    twin.reset(World(fleet(), seed=3, epoch=EPOCH, now=changed_at))
    lam = _lambda(twin)
    lam.update_function_configuration(FunctionName="cruncher", MemorySize=1024)
    twin.advance(NOW)
    # When the cycle collects with the agent's own record of the change
    result = run_collect(twin, memory_history={"cruncher": [(changed_at, 1024)]})
    # Then the hours before and after are kept apart, each with its own durations and REPORT facts
    before, after = result.observations["cruncher"].epochs
    assert (before.memory_mb, after.memory_mb) == (512, 1024)
    assert before.end <= changed_at + timedelta(hours=1) and after.start >= changed_at
    assert after.duration_avg_ms < before.duration_avg_ms  # CPU-bound: more memory, faster
    assert before.reports is not None and after.reports is not None


def test_a_function_with_lambda_insights_gets_its_facts_from_metrics_without_a_log_scan(twin):
    # Given a function whose Lambda Insights extension layer is attached
    _with_insights(twin, now=NOW)
    # When the cycle collects
    result = run_collect(twin)
    # Then its REPORT facts come from LambdaInsights series and its log group is not scanned
    (epoch,) = result.observations["cruncher"].epochs
    assert epoch.reports is not None and epoch.reports.cpu_ms_avg is not None
    assert epoch.reports.cold_starts > 0 and epoch.reports.init_ms_avg is not None
    assert "/aws/lambda/cruncher" not in result.state["logs"]


def test_an_insights_function_keeps_the_hours_before_the_agents_change_at_the_size_it_found(twin):
    # Given a function with Lambda Insights (no log scan, so no REPORT windows say which size ran when),
    # and the agent's own change record of eight days ago: 512 MB found, 1024 MB set. Before, the
    # 8 days at 512 MB were dropped on the next cycle (the demo's score-calculator then asked to try the
    # 128 MB it had measured for two weeks "to learn")
    changed_at = EPOCH + timedelta(days=8)
    lam = _with_insights(twin, now=changed_at)
    lam.update_function_configuration(FunctionName="cruncher", MemorySize=1024)
    twin.advance(NOW)
    record = _change_record(changed_at, 512, 1024)
    # When the cycle collects with the history it reads back from the audit
    result = run_collect(twin, memory_history=history_from_audit([record]))
    # Then the hours before the change are an epoch at the size the change found
    assert "/aws/lambda/cruncher" not in result.state["logs"]
    before, after = result.observations["cruncher"].epochs
    assert (before.memory_mb, after.memory_mb) == (512, 1024)
    assert before.end <= changed_at + timedelta(hours=1) <= after.start + timedelta(hours=1)
    assert before.end - before.start >= timedelta(days=6) and before.invocations > 0  # its days, not an hour
    assert after.duration_avg_ms < before.duration_avg_ms


def test_a_deploy_that_sets_another_size_on_an_insights_function_keeps_the_days_at_the_old_size(twin):
    # Given a function with Lambda Insights (no log scan, so no REPORT windows say which size ran when),
    # 14 days at 512 MB, collected once
    first = NOW - timedelta(days=1)
    lam = _with_insights(twin, now=first)
    one = run_collect(twin, now=first)
    assert [e.memory_mb for e in one.observations["cruncher"].epochs] == [512]
    # When a deploy sets 1,024 MB two hours later, and the next days' cycles collect
    twin.advance(first + timedelta(hours=2))
    lam.update_function_configuration(FunctionName="cruncher", MemorySize=1024)
    twin.advance(NOW)
    two = run_collect(twin, now=NOW, state=one.state)
    # Then the days before are still 512 MB, and the day the change fell in is neither size (before, the
    # whole look-back was taken for 1,024 MB, with 512 MB's durations: one epoch, 2.7 s at 1,024 MB)
    [before] = two.observations["cruncher"].epochs
    assert before.memory_mb == 512 and (before.start, before.end) == (NOW - timedelta(days=14), first)
    twin.advance(NOW + timedelta(days=1))
    three = run_collect(twin, now=NOW + timedelta(days=1), state=two.state)
    old, new = three.observations["cruncher"].epochs
    assert (old.memory_mb, old.end, new.memory_mb, new.start) == (512, first, 1024, NOW)
    assert new.duration_avg_ms < 0.7 * old.duration_avg_ms
    # And a change of the agent's own between two cycles is its record's to tell, not one seen
    changed_at = NOW + timedelta(days=1, minutes=30)
    twin.advance(changed_at)
    lam.update_function_configuration(FunctionName="cruncher", MemorySize=2048)
    twin.advance(NOW + timedelta(days=2))
    record = _change_record(changed_at, 1024, 2048)
    four = run_collect(twin, now=NOW + timedelta(days=2), state=three.state,
                       memory_history=history_from_audit([record]))
    sizes = [(e.memory_mb, e.start, e.end) for e in four.observations["cruncher"].epochs]
    assert sizes == [(512, NOW - timedelta(days=12), first), (1024, NOW, NOW + timedelta(days=1)),
                     (2048, NOW + timedelta(days=1, hours=1), NOW + timedelta(days=2))]


def _lambda(twin: Twin) -> Any:
    return clients(twin)["lambda_client"]


def _with_insights(twin: Twin, *, now: datetime) -> Any:
    """The fleet at `now` with cruncher's Lambda Insights extension layer attached; a Lambda client."""
    specs = [s if s.name != "cruncher" else replace(s, insights=True) for s in fleet()]
    twin.reset(World(specs, seed=3, epoch=EPOCH, now=now))
    lam = _lambda(twin)
    layer = lam.publish_layer_version(
        LayerName="LambdaInsightsExtension", Content={"ZipFile": b"PK\x05\x06" + b"\0" * 18}
    )
    lam.update_function_configuration(FunctionName="cruncher", Layers=[layer["LayerVersionArn"]])
    return lam


def _change_record(at: datetime, before_mb: int, after_mb: int) -> AuditRecord:
    """The agent's record of its memory change of cruncher."""
    return AuditRecord(
        id="a1", seq=1, type="change", at=at, function="cruncher", prev_hash="x", hash="y",
        data={"ok": True, "before": {"memory_mb": before_mb}, "after": {"memory_mb": after_mb}},
    )
