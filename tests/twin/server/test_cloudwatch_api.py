"""GetMetricData: World-backed Lambda metrics with AWS's limits; other namespaces still served by moto."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from server_support import EPOCH, client, make_world

from lambda_tuner.twin.server import Twin


def duration_query(qid: str, function: str, stat: str, period: int = 60) -> dict[str, Any]:
    return {
        "Id": qid,
        "MetricStat": {
            "Metric": {
                "Namespace": "AWS/Lambda",
                "MetricName": "Duration",
                "Dimensions": [{"Name": "FunctionName", "Value": function}],
            },
            "Period": period,
            "Stat": stat,
        },
    }


def test_percentiles_come_back_ordered_over_the_wire(twin: Twin) -> None:
    cw = client(twin, "cloudwatch")
    end = twin.world.now
    queries = [
        duration_query(q, "cruncher", s, 3600) for q, s in (("a", "p50"), ("b", "p99"), ("c", "Maximum"))
    ]

    results = {
        r["Id"]: r
        for r in cw.get_metric_data(
            MetricDataQueries=queries, StartTime=end - timedelta(hours=6), EndTime=end
        )["MetricDataResults"]
    }

    assert len(results["b"]["Values"]) == 6
    assert all(r["StatusCode"] == "Complete" for r in results.values())
    for p50, p99, peak in zip(
        results["a"]["Values"], results["b"]["Values"], results["c"]["Values"], strict=True
    ):
        assert 0 < p50 <= p99 <= peak
    assert results["b"]["Timestamps"] == sorted(
        results["b"]["Timestamps"], reverse=True
    )  # AWS's default order


def test_501_queries_are_refused(twin: Twin) -> None:
    cw = client(twin, "cloudwatch")
    queries = [duration_query(f"q{i}", "cruncher", "Average") for i in range(501)]
    with pytest.raises(ClientError) as error:
        cw.get_metric_data(
            MetricDataQueries=queries, StartTime=twin.world.now - timedelta(hours=1), EndTime=twin.world.now
        )
    assert error.value.response["Error"]["Code"] == "ValidationError"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_500_queries_are_answered(twin: Twin) -> None:
    cw = client(twin, "cloudwatch")
    queries = [duration_query(f"q{i}", "quiet-0" if i % 2 else "cruncher", "Sum", 3600) for i in range(500)]
    answer = cw.get_metric_data(
        MetricDataQueries=queries, StartTime=twin.world.now - timedelta(hours=2), EndTime=twin.world.now
    )
    assert len(answer["MetricDataResults"]) == 500


def test_datapoints_beyond_max_datapoints_continue_with_next_token(twin: Twin) -> None:
    # Given two series of 120 one-minute points each and a page size of 100
    cw = client(twin, "cloudwatch")
    queries = [duration_query("a", "cruncher", "Average"), duration_query("b", "checkout", "Average")]
    start, end = twin.world.now - timedelta(hours=2), twin.world.now
    full = cw.get_metric_data(MetricDataQueries=queries, StartTime=start, EndTime=end)

    # When the caller pages with MaxDatapoints=100
    pages = list(
        cw.get_paginator("get_metric_data").paginate(
            MetricDataQueries=queries, StartTime=start, EndTime=end, MaxDatapoints=100
        )
    )

    # Then each page has at most 100 points and together they are the unpaged answer
    assert [sum(len(r["Values"]) for r in p["MetricDataResults"]) for p in pages] == [100, 100, 40]
    assert pages[0]["MetricDataResults"][0]["StatusCode"] == "PartialData"
    joined: dict[str, list[float]] = {}
    for p in pages:
        for r in p["MetricDataResults"]:
            joined.setdefault(r["Id"], []).extend(r["Values"])
    assert joined == {r["Id"]: r["Values"] for r in full["MetricDataResults"]}


def test_a_forged_next_token_is_refused(twin: Twin) -> None:
    with pytest.raises(ClientError) as error:
        client(twin, "cloudwatch").get_metric_data(
            MetricDataQueries=[duration_query("a", "cruncher", "Average")],
            StartTime=twin.world.now - timedelta(hours=1),
            EndTime=twin.world.now,
            NextToken="Zm9yZ2VkOjE=",
        )
    assert error.value.response["Error"]["Code"] == "InvalidNextToken"


def test_start_time_after_end_time_is_refused(twin: Twin) -> None:
    with pytest.raises(ClientError) as error:
        client(twin, "cloudwatch").get_metric_data(
            MetricDataQueries=[duration_query("a", "cruncher", "Average")],
            StartTime=twin.world.now,
            EndTime=twin.world.now - timedelta(hours=1),
        )
    assert error.value.response["Error"]["Code"] == "ValidationError"


def test_custom_namespaces_still_go_to_moto(twin: Twin) -> None:
    cw = client(twin, "cloudwatch")
    now = twin.world.now
    cw.put_metric_data(
        Namespace="LambdaTuner", MetricData=[{"MetricName": "Savings", "Value": 12.5, "Timestamp": now}]
    )
    query = {
        "Id": "s",
        "MetricStat": {
            "Metric": {"Namespace": "LambdaTuner", "MetricName": "Savings"},
            "Period": 60,
            "Stat": "Sum",
        },
    }

    answer = cw.get_metric_data(
        MetricDataQueries=[query], StartTime=now - timedelta(minutes=5), EndTime=now + timedelta(minutes=5)
    )

    assert answer["MetricDataResults"][0]["Values"] == [12.5]


def test_alarms_are_kept_by_moto(twin: Twin) -> None:
    cw = client(twin, "cloudwatch")
    cw.put_metric_alarm(
        AlarmName="kept",
        Namespace="AWS/Lambda",
        MetricName="Errors",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1.0,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    assert [a["AlarmName"] for a in cw.describe_alarms(AlarmNames=["kept"])["MetricAlarms"]] == ["kept"]
    cw.delete_alarms(AlarmNames=["kept"])
    assert cw.describe_alarms(AlarmNames=["kept"])["MetricAlarms"] == []


@pytest.fixture
def twenty_days_in(twin: Twin) -> Iterator[Twin]:
    twin.reset(make_world(now=EPOCH + timedelta(days=20)))
    yield twin
    twin.reset(make_world())


def test_one_minute_data_older_than_15_days_is_gone_but_hourly_data_remains(twenty_days_in: Twin) -> None:
    # Given a World 20 days past its epoch
    cw, now = client(twenty_days_in, "cloudwatch"), twenty_days_in.world.now
    window = {"StartTime": now - timedelta(days=19), "EndTime": now - timedelta(days=16)}

    minutely = cw.get_metric_data(MetricDataQueries=[duration_query("m", "cruncher", "Average")], **window)
    hourly = cw.get_metric_data(
        MetricDataQueries=[duration_query("h", "cruncher", "Average", 3600)], **window
    )

    assert minutely["MetricDataResults"][0]["Values"] == []
    assert len(hourly["MetricDataResults"][0]["Values"]) == 72
