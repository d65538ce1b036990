"""One collection over HTTP against the twin: what the cycle gets, and what it costs."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from collect_helpers import NOW, FakeClock, run_collect

from lambda_tuner.collect import join_state, split_state

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def first(twin):
    return run_collect(twin)


def _fn(result, name):
    return next(f for f in result.inventory.functions if f.name == name)


def test_every_function_is_discovered_with_its_configuration(first):
    assert {f.name for f in first.inventory.functions} >= {"cruncher", "checkout", "json-warn", "idle"}
    checkout = _fn(first, "checkout")
    (live,) = checkout.aliases
    assert (live.name, live.function_version, live.routing, live.pc_requested) == ("live", "2", {"1": 0.1}, 4)
    assert (_fn(first, "json-warn").log_format, _fn(first, "json-warn").system_log_level) == ("JSON", "WARN")
    assert _fn(first, "json-info").log_group == "/custom/json-info"


def test_tags_become_policies_and_iac_marks(first):
    cruncher = _fn(first, "cruncher")
    assert cruncher.policy.mode == "auto" and cruncher.iac == "cloudformation:orders"
    bad = _fn(first, "bad-tags").policy
    assert bad.max_mb is None and "lambda-tuner:max-mb" in bad.errors[0]


def test_busy_functions_get_hourly_epochs_with_report_facts_from_both_log_formats(first):
    for name in ("cruncher", "json-info"):
        obs = first.observations[name]
        assert obs.status == "ok", obs.reason
        (epoch,) = obs.epochs
        assert epoch.periods == 14 * 24 and epoch.invocations > 0
        assert (
            epoch.duration_p50_ms <= epoch.duration_p95_ms <= epoch.duration_p99_ms <= epoch.duration_max_ms
        )
        assert epoch.reports is not None and epoch.reports.invocations > 0
        assert epoch.reports.max_memory_used_mb_max is not None


def test_traffic_served_by_an_alias_is_observed_on_that_alias_with_pc_facts(first):
    obs = first.observations["checkout"]
    assert obs.qualifier == "live"
    assert obs.concurrency is not None and obs.concurrency.period_s == 60  # PC: per-minute concurrency
    assert len(obs.concurrency.pc_utilization_max) == len(obs.concurrency.max_concurrency) == 14 * 1440


def test_a_json_function_at_warn_level_is_reported_as_hiding_its_report_lines(first):
    assert "REPORT records hidden" in first.stats.notes["json-warn"]
    assert first.observations["json-warn"].status == "ok"
    assert first.observations["json-warn"].epochs[0].reports is None


def test_a_shared_log_group_is_told_apart_by_memory_size_or_flagged_as_ambiguous(first):
    assert first.observations["shared-a"].epochs[0].reports is not None  # 256 MB vs 512 MB: attributable
    assert first.observations["shared-b"].epochs[0].reports is not None
    assert first.observations["shared-c"].epochs[0].reports is None  # same size: cannot be told apart
    assert any("/shared/cd is shared by shared-c, shared-d" in p for p in first.stats.partial)


def test_an_idle_function_is_insufficient_and_costs_no_detail_queries(first):
    obs = first.observations["idle"]
    assert obs.status == "insufficient" and obs.reason == "no invocations in the last 14 days"


def test_the_cycle_accounts_for_its_calls_and_cost(first):
    stats = first.stats
    assert stats.api_calls["lambda.ListFunctions"] >= 1 and stats.api_calls["cloudwatch.GetMetricData"] >= 2
    assert stats.metric_queries > 0 and stats.insights_bytes_scanned > 0 and stats.insights_queries >= 1
    assert stats.cost_usd > 0 and stats.functions == 10


def test_control_plane_calls_are_paced_to_the_configured_share(twin):
    clock = FakeClock()
    result = run_collect(twin, clock=clock, control_plane_rps=5.0)
    lambda_calls = sum(n for op, n in result.stats.api_calls.items() if op.startswith("lambda."))
    assert lambda_calls >= 10
    assert clock.t >= lambda_calls / 5.0


def test_the_next_day_scans_only_new_log_bytes_and_reads_details_only_when_due(twin, first):
    twin.advance(NOW + timedelta(days=1))
    second = run_collect(twin, now=NOW + timedelta(days=1), state=first.state)
    assert second.stats.insights_bytes_scanned < first.stats.insights_bytes_scanned / 5
    assert second.stats.api_calls.get("lambda.GetFunction", 0) < len(first.inventory.functions)
    assert second.state["logs"]["/aws/lambda/cruncher"] > first.state["logs"]["/aws/lambda/cruncher"]
    reports = second.observations["cruncher"].epochs[0].reports
    assert (
        reports is not None
        and reports.invocations > first.observations["cruncher"].epochs[0].reports.invocations
    )
    # tags survive in state for functions not re-read today
    assert _fn(second, "cruncher").policy.mode == "auto"


def test_the_state_splits_into_small_per_function_parts_and_joins_back(first):
    shared, parts = split_state(first.state)
    assert join_state(shared, parts) == first.state
    assert set(parts) == {f.name for f in first.inventory.functions}
    # Each part fits easily in one store item (DynamoDB allows 400 KB); the shared part stays small too
    assert max(len(json.dumps(p)) for p in parts.values()) < 8_000
    assert len(json.dumps(shared)) < 2_000
