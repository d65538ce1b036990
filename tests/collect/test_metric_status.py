"""A GetMetricData query that failed inside a successful call (StatusCode other than Complete) is a failed
read, never an empty series: an empty census reads as "no invocations" and marks the function quiet."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.stub import ANY, Stubber
from collect_helpers import clients, run_collect

from lambda_tuner.adapters import metrics

T0 = datetime(2026, 11, 1, tzinfo=UTC)
PARAMS = {"MetricDataQueries": ANY, "StartTime": ANY, "EndTime": ANY, "ScanBy": ANY}


def _cw() -> Any:
    return boto3.client(
        "cloudwatch", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def test_a_query_with_an_error_status_is_failed_and_its_neighbours_are_read():
    cw = _cw()
    queries = [metrics.invocations_query(f"fn-{i}", "", 3600, 24) for i in range(3)]
    with Stubber(cw) as stub:
        stub.add_response(
            "get_metric_data",
            {
                "MetricDataResults": [
                    {"Id": "q0", "Timestamps": [T0], "Values": [4.0], "StatusCode": "Complete"},
                    {"Id": "q1", "Timestamps": [], "Values": [], "StatusCode": "InternalError"},
                    {
                        "Id": "q2",
                        "Timestamps": [],
                        "Values": [],
                        "StatusCode": "Forbidden",
                        "Messages": [{"Code": "Forbidden", "Value": "not authorized"}],
                    },
                ]
            },
            PARAMS,
        )
        got = metrics.fetch(queries, T0, T0 + timedelta(days=1), client=cw, threads=1)
    assert set(got.series) == {("fn-0", "", "inv")}
    assert "InternalError" in got.failed[("fn-1", "", "inv")]
    assert "not authorized" in got.failed[("fn-2", "", "inv")]


def test_partial_data_is_followed_to_completion_and_left_partial_it_is_failed():
    cw = _cw()
    queries = [metrics.invocations_query(f"fn-{i}", "", 3600, 24) for i in range(2)]
    t = [T0 + timedelta(hours=h) for h in range(2)]
    with Stubber(cw) as stub:
        stub.add_response(
            "get_metric_data",
            {
                "MetricDataResults": [
                    {"Id": "q0", "Timestamps": t[:1], "Values": [1.0], "StatusCode": "PartialData"},
                    {"Id": "q1", "Timestamps": t[:1], "Values": [1.0], "StatusCode": "PartialData"},
                ],
                "NextToken": "n1",
            },
            PARAMS,
        )
        stub.add_response(
            "get_metric_data",
            {
                "MetricDataResults": [
                    {"Id": "q0", "Timestamps": t[1:], "Values": [2.0], "StatusCode": "Complete"},
                    {"Id": "q1", "Timestamps": [], "Values": [], "StatusCode": "PartialData"},  # and no token
                ]
            },
            {**PARAMS, "NextToken": "n1"},
        )
        got = metrics.fetch(queries, T0, T0 + timedelta(days=1), client=cw, threads=1)
    assert list(got.series[("fn-0", "", "inv")].values()) == [1.0, 2.0]
    assert ("fn-1", "", "inv") not in got.series and "PartialData" in got.failed[("fn-1", "", "inv")]


def _fail_census_of(cloudwatch: Any, victim: str) -> None:
    """The victim's Invocations census query comes back InternalError inside a successful call."""
    ids: set[str] = set()

    def remember(params: dict[str, Any], **_: Any) -> None:
        ids.clear()
        for q in params.get("MetricDataQueries", []):
            metric = q["MetricStat"]["Metric"]
            if metric["MetricName"] == "Invocations" and metric["Dimensions"] == [
                {"Name": "FunctionName", "Value": victim}
            ]:
                ids.add(q["Id"])

    def break_it(parsed: dict[str, Any], **_: Any) -> None:
        for result in parsed.get("MetricDataResults", []):
            if result["Id"] in ids:
                result.update(StatusCode="InternalError", Timestamps=[], Values=[])

    cloudwatch.meta.events.register("before-parameter-build.cloudwatch.GetMetricData", remember)
    cloudwatch.meta.events.register("after-call.cloudwatch.GetMetricData", break_it)


def test_a_census_query_that_failed_server_side_is_not_read_as_idle(fresh):
    made = clients(fresh)
    _fail_census_of(made["cloudwatch_client"], "json-info")
    result = run_collect(fresh, **made)
    observed = result.observations["json-info"]
    assert "no invocations" not in (observed.reason or "") and "InternalError" in (observed.reason or "")
    assert "q" not in result.state["functions"]["json-info"]  # not marked quiet: read again tomorrow
    assert any("json-info" in p and "InternalError" in p for p in result.stats.partial)
    assert result.observations["cruncher"].status == "ok"  # the other queries of the call are used
