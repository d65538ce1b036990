"""CloudWatch over Smithy RPC v2 CBOR: served although moto speaks only awsJson/query for CloudWatch.

botocore 1.44.8 sends awsJson 1.0 for CloudWatch; these tests make botocore prefer CBOR (as CloudWatch's
model lists it first) to prove the twin answers either way.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import botocore.model
import pytest
from botocore.exceptions import ClientError
from server_support import NO_RETRIES, client

from lambda_tuner.twin.server import Twin


@pytest.fixture
def cw(twin: Twin, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setattr(
        botocore.model, "PRIORITY_ORDERED_SUPPORTED_PROTOCOLS", ("smithy-rpc-v2-cbor", "json")
    )
    cbor_client = client(twin, "cloudwatch", NO_RETRIES)
    assert cbor_client.meta.service_model.resolved_protocol == "smithy-rpc-v2-cbor"
    yield cbor_client
    twin.clear_faults()


def p99(function: str) -> dict[str, Any]:
    return {
        "Id": "p",
        "MetricStat": {
            "Metric": {
                "Namespace": "AWS/Lambda",
                "MetricName": "Duration",
                "Dimensions": [{"Name": "FunctionName", "Value": function}],
            },
            "Period": 3600,
            "Stat": "p99",
        },
    }


def test_a_p99_query_over_cbor_returns_values_and_timestamps(twin: Twin, cw: Any) -> None:
    end = twin.world.now
    [result] = cw.get_metric_data(
        MetricDataQueries=[p99("cruncher")], StartTime=end - timedelta(hours=3), EndTime=end
    )["MetricDataResults"]
    assert len(result["Values"]) == 3
    assert all(v > 0 for v in result["Values"])
    assert result["Timestamps"][0] == end - timedelta(hours=1)  # CBOR tag-1 timestamps, newest first


def test_moto_served_cloudwatch_operations_work_over_cbor(twin: Twin, cw: Any) -> None:
    cw.put_metric_alarm(
        AlarmName="cbor-alarm",
        Namespace="AWS/Lambda",
        MetricName="Errors",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1.0,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    [alarm] = cw.describe_alarms(AlarmNames=["cbor-alarm"])["MetricAlarms"]
    assert alarm["AlarmName"] == "cbor-alarm"
    assert alarm["StateUpdatedTimestamp"].tzinfo is not None


def test_errors_and_faults_over_cbor_carry_aws_codes(twin: Twin, cw: Any) -> None:
    with pytest.raises(ClientError) as refused:
        cw.get_metric_data(
            MetricDataQueries=[{**p99("cruncher"), "Id": f"q{i}"} for i in range(501)],
            StartTime=twin.world.now - timedelta(hours=1),
            EndTime=twin.world.now,
        )
    twin.inject_fault("cloudwatch.GetMetricData", "throttle", count=1)
    with pytest.raises(ClientError) as throttled:
        cw.get_metric_data(
            MetricDataQueries=[p99("cruncher")],
            StartTime=twin.world.now - timedelta(hours=1),
            EndTime=twin.world.now,
        )
    assert refused.value.response["Error"]["Code"] == "ValidationError"
    assert throttled.value.response["Error"]["Code"] == "Throttling"
