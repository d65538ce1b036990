"""GetMetricData: queries packed within AWS's limits, NextToken followed, failures kept per query."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.stub import ANY, Stubber

from lambda_tuner.adapters import metrics
from lambda_tuner.adapters.metrics import MetricQuery

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _cw() -> Any:
    return boto3.client(
        "cloudwatch", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def _q(i: int, points: int) -> MetricQuery:
    return metrics.invocations_query(f"fn-{i}", "", 3600, points)


def test_batches_never_exceed_500_queries_or_100800_datapoints():
    rng = random.Random(5)
    queries = [_q(i, rng.choice([0, 1, 24, 336, 1440, 20160])) for i in range(7000)]
    batches = metrics.plan_batches(queries)
    assert sorted(q.key for b in batches for q in b) == sorted(q.key for q in queries)
    assert all(len(b) <= 500 for b in batches)
    assert all(sum(q.expected_points for q in b) <= 100_800 for b in batches)


def test_batches_are_dense_close_to_the_bound_the_limits_allow():
    queries = [_q(i, 336) for i in range(3000)]  # 2 weeks of hourly points each
    batches = metrics.plan_batches(queries)
    # 300 series of 336 points fill 100,800 exactly: 10 calls, the least possible
    assert len(batches) == 10


def test_long_and_short_series_share_calls_so_both_limits_bind_together():
    # 3,000 two-week hourly series (1,008,000 points) and 2,000 one-point series: 5,000 queries.
    # The least possible is max(5,000 / 500, 1,010,000 / 100,800) = 11 calls; packing by points alone
    # would need 10 calls for the long series and 4 more for the short ones.
    queries = [_q(i, 336) for i in range(3000)] + [_q(3000 + i, 1) for i in range(2000)]
    batches = metrics.plan_batches(queries)
    assert len(batches) == 11
    assert all(len(b) <= 500 and sum(q.expected_points for q in b) <= 100_800 for b in batches)


def test_many_small_series_are_limited_by_the_query_count():
    assert len(metrics.plan_batches([_q(i, 3) for i in range(1200)])) == 3


def test_next_token_pages_are_joined_into_one_series_per_query():
    cw = _cw()
    queries = [_q(0, 336), _q(1, 336)]
    t = [T0 + timedelta(hours=h) for h in range(3)]
    with Stubber(cw) as stub:
        stub.add_response(
            "get_metric_data",
            {
                "MetricDataResults": [
                    {"Id": "q0", "Timestamps": t[:2], "Values": [1.0, 2.0], "StatusCode": "PartialData"}
                ],
                "NextToken": "n1",
            },
            {"MetricDataQueries": ANY, "StartTime": ANY, "EndTime": ANY, "ScanBy": ANY},
        )
        stub.add_response(
            "get_metric_data",
            {
                "MetricDataResults": [
                    {"Id": "q0", "Timestamps": t[2:], "Values": [3.0], "StatusCode": "Complete"},
                    {"Id": "q1", "Timestamps": t[:1], "Values": [9.0], "StatusCode": "Complete"},
                ]
            },
            {"MetricDataQueries": ANY, "StartTime": ANY, "EndTime": ANY, "ScanBy": ANY, "NextToken": "n1"},
        )
        got = metrics.fetch(queries, T0, T0 + timedelta(days=1), client=cw, threads=1)
        stub.assert_no_pending_responses()
    assert got.calls == 2 and got.queries == 2
    assert list(got.series[("fn-0", "", "inv")].values()) == [1.0, 2.0, 3.0]
    assert got.series[("fn-1", "", "inv")] == {t[0]: 9.0}


def test_a_failed_call_is_recorded_against_its_queries_and_others_go_on():
    cw = _cw()
    queries = [_q(0, 100_000), _q(1, 100_000)]  # too many points to share a call: two calls
    with Stubber(cw) as stub:
        stub.add_client_error(
            "get_metric_data", service_error_code="InternalServiceError", http_status_code=500
        )
        stub.add_response(
            "get_metric_data",
            {
                "MetricDataResults": [
                    {"Id": "q0", "Timestamps": [T0], "Values": [5.0], "StatusCode": "Complete"}
                ]
            },
        )
        got = metrics.fetch(queries, T0, T0 + timedelta(days=1), client=cw, threads=1)
    assert len(got.failed) == 1 and "InternalServiceError" in next(iter(got.failed.values()))
    assert len(got.series) == 1


def test_requests_carry_the_dimensions_and_stat_asked_for():
    query = metrics.pc_queries("api", "live", 60, 10)[0]
    api = query.to_api("q0")
    assert api["MetricStat"]["Metric"]["Dimensions"] == [
        {"Name": "FunctionName", "Value": "api"},
        {"Name": "Resource", "Value": "api:live"},
    ]
    assert (api["MetricStat"]["Period"], api["MetricStat"]["Stat"]) == (60, "Maximum")
    assert {q.stat for q in metrics.detail_queries("api", "", 3600, 1)} >= {"p50", "p95", "p99", "Average"}


def test_point_series_behave_as_an_ordered_mapping_from_time_to_value():
    t = [T0 + timedelta(hours=h) for h in range(3)]
    series = metrics.PointSeries([(t[2], 3.0), (t[0], 1.0), (t[2], 3.5)])  # unordered, one repeat
    assert list(series) == [t[0], t[2]] and list(series.values()) == [1.0, 3.5]
    assert series[t[0]] == 1.0 and series.get(t[1]) is None and t[1] not in series and len(series) == 2
    assert dict(series.items()) == {t[0]: 1.0, t[2]: 3.5}
