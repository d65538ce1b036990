"""The lower bound of a cycle's calls, on fleets small enough to count by hand."""

from __future__ import annotations

import zlib

from lambda_tuner.bench.lower_bound import CycleFacts, FunctionFacts, lower_bound

DAY = 739_900


def test_a_three_function_cold_cycle_counted_by_hand():
    fleet = [
        FunctionFacts("a", active_hours=10, log_group="/aws/lambda/a"),
        FunctionFacts(
            "b",
            versions=2,
            aliases=1,
            pc_aliases=1,
            active_hours=24,
            active_minutes=500,
            peak_hour_invocations=1000,
            log_group="/aws/lambda/b",
        ),
        FunctionFacts("c"),  # idle: census only, no log scan
    ]
    bound = lower_bound(fleet, CycleFacts(day=DAY, budget_calls=1000))
    assert bound.calls == {
        "lambda.ListFunctions": 1,  # 3 functions + 2 versions fit one page of 50
        "lambda.GetAccountSettings": 1,
        "lambda.GetFunction": 3,  # all new
        "lambda.ListAliases": 1,
        "lambda.ListProvisionedConcurrencyConfigs": 1,  # only b has versions
        "cloudwatch.GetMetricData": 1,  # 31 series, 2,394 points
        "logs.StartQuery": 1,
        "logs.GetQueryResults": 1,  # a and b in one query
    }
    assert bound.total == 10


def test_listing_pages_count_versions_too():
    fleet = [FunctionFacts(f"f{i}", versions=1 if i < 30 else 0) for i in range(120)]
    assert lower_bound(fleet, CycleFacts(day=DAY, budget_calls=0)).calls["lambda.ListFunctions"] == 3


def test_metric_calls_are_bound_by_datapoints_when_series_are_long():
    # 400 functions busy every hour of 14 days: 3,600 series (8 calls by count), 1,209,600 points (12 calls)
    fleet = [FunctionFacts(f"f{i}", active_hours=336, active_minutes=0) for i in range(400)]
    assert lower_bound(fleet, CycleFacts(day=DAY, budget_calls=0)).calls["cloudwatch.GetMetricData"] == 12


def test_metric_calls_are_bound_by_query_count_when_series_are_short():
    fleet = [FunctionFacts(f"f{i}", active_hours=2) for i in range(100)]  # 900 series, 1,800 points
    assert lower_bound(fleet, CycleFacts(day=DAY, budget_calls=0)).calls["cloudwatch.GetMetricData"] == 2


def test_a_warm_cycle_reads_details_only_for_changed_pc_and_due_functions_within_budget():
    names = [f"f{i}" for i in range(70)]
    fleet = [FunctionFacts(n) for n in names] + [FunctionFacts("pc", versions=1, aliases=1, pc_aliases=1)]
    known = frozenset([*names, "pc"])
    last = dict.fromkeys(known, DAY)  # read yesterday: only the weekly seventh is due
    due = sum(1 for n in names if zlib.crc32(n.encode()) % 7 == (DAY + 1) % 7)
    cycle = CycleFacts(
        day=DAY + 1, budget_calls=1000, known=known, changed=frozenset({"f1"}), last_read_day=last
    )
    calls = lower_bound(fleet, cycle).calls
    f1_due = zlib.crc32(b"f1") % 7 == (DAY + 1) % 7
    assert calls["lambda.GetFunction"] == due + (0 if f1_due else 1) + 1
    assert calls["lambda.ListAliases"] == 1  # the PC holder
    tight = CycleFacts(
        day=DAY + 1, budget_calls=2, known=known, changed=frozenset({"f1"}), last_read_day=last
    )
    # changed f1 first (1 call); the PC holder (3 calls) no longer fits, one due function (1 call) does
    assert lower_bound(fleet, tight).calls["lambda.GetFunction"] == 2
