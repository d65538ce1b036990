"""Injected faults look like AWS's errors to botocore, and botocore's retries recover from them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from server_support import NO_RETRIES, client

from lambda_tuner.twin.faults import FaultInjector
from lambda_tuner.twin.server import Twin

ADAPTIVE = Config(retries={"mode": "adaptive", "total_max_attempts": 4})


@pytest.fixture(autouse=True)
def no_faults_left(twin: Twin) -> None:
    twin.clear_faults()


def test_a_lambda_throttle_is_a_429_too_many_requests(twin: Twin) -> None:
    twin.inject_fault("lambda.ListFunctions", "throttle", count=1)
    with pytest.raises(ClientError) as error:
        client(twin, "lambda", NO_RETRIES).list_functions()
    assert error.value.response["Error"]["Code"] == "TooManyRequestsException"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429


def test_cloudwatch_and_logs_throttles_use_their_own_codes(twin: Twin) -> None:
    twin.inject_fault("GetMetricData", "throttle", count=1)
    twin.inject_fault("logs.DescribeLogGroups", "throttle", count=1)
    cw, logs = client(twin, "cloudwatch", NO_RETRIES), client(twin, "logs", NO_RETRIES)
    query = {
        "Id": "a",
        "MetricStat": {
            "Metric": {"Namespace": "AWS/Lambda", "MetricName": "Invocations"},
            "Period": 60,
            "Stat": "Sum",
        },
    }

    with pytest.raises(ClientError) as cw_error:
        cw.get_metric_data(
            MetricDataQueries=[query], StartTime=twin.world.now - timedelta(hours=1), EndTime=twin.world.now
        )
    with pytest.raises(ClientError) as logs_error:
        logs.describe_log_groups()

    assert cw_error.value.response["Error"]["Code"] == "Throttling"
    assert logs_error.value.response["Error"]["Code"] == "ThrottlingException"


def test_a_5xx_is_a_lambda_service_exception(twin: Twin) -> None:
    twin.inject_fault("lambda.GetFunction", "5xx", count=1)
    with pytest.raises(ClientError) as error:
        client(twin, "lambda", NO_RETRIES).get_function(FunctionName="cruncher")
    assert error.value.response["Error"]["Code"] == "ServiceException"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500


def test_adaptive_retries_recover_from_a_single_throttle(twin: Twin) -> None:
    twin.inject_fault("lambda.ListFunctions", "throttle", count=1)
    before = twin.calls["lambda.ListFunctions"]

    answer = client(twin, "lambda", ADAPTIVE).list_functions()

    assert answer["Functions"]
    assert answer["ResponseMetadata"]["RetryAttempts"] == 1
    assert twin.calls["lambda.ListFunctions"] - before == 2  # AWS counts the throttled call too


def test_a_fault_can_target_one_function(twin: Twin) -> None:
    twin.inject_fault("lambda.GetFunctionConfiguration", "throttle", count=5, function="checkout")
    lam = client(twin, "lambda", NO_RETRIES)

    assert lam.get_function_configuration(FunctionName="cruncher")["FunctionName"] == "cruncher"
    with pytest.raises(ClientError):
        lam.get_function_configuration(FunctionName="checkout")


def test_a_rate_fault_fires_on_roughly_that_share_of_calls(twin: Twin) -> None:
    twin.inject_fault("lambda.GetAccountSettings", "throttle", rate=0.5)
    lam = client(twin, "lambda", NO_RETRIES)
    failures = 0
    for _ in range(60):
        try:
            lam.get_account_settings()
        except ClientError:
            failures += 1
    assert 15 <= failures <= 45
    assert twin.faults.fired.count("lambda.GetAccountSettings") == failures


def test_bad_fault_requests_are_refused_with_a_clear_error(twin: Twin) -> None:
    with pytest.raises(ValueError, match="exactly one of count"):
        twin.inject_fault("lambda.ListFunctions", "throttle")
    with pytest.raises(ValueError, match="fault kind"):
        twin.inject_fault("lambda.ListFunctions", "slow", count=1)  # type: ignore[arg-type]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_lambda_quotas_throttle_a_burst_beyond_15_per_second_until_time_passes(twin: Twin) -> None:
    # Given AWS's Lambda control-plane quota on a frozen clock
    clock = FakeClock()
    twin.faults = FaultInjector(monotonic=clock)
    twin.enforce_lambda_quotas()
    lam = client(twin, "lambda", NO_RETRIES)

    # When 16 control-plane calls arrive in the same second
    for _ in range(15):
        lam.list_aliases(FunctionName="checkout")
    with pytest.raises(ClientError) as error:
        lam.list_aliases(FunctionName="checkout")

    # Then the 16th is throttled, GetFunction has its own larger quota, and a second later calls flow again
    assert error.value.response["Error"]["Code"] == "TooManyRequestsException"
    assert lam.get_function(FunctionName="checkout")["Configuration"]["FunctionName"] == "checkout"
    clock.now += 1.0
    assert lam.list_aliases(FunctionName="checkout")["Aliases"]


def test_a_fault_after_n_calls_lets_those_through_first(twin: Twin) -> None:
    # Given a fault on the second and third GetFunction (a flow's later read, not its first)
    twin.inject_fault("lambda.GetFunction", "5xx", count=2, after=1)
    lam = client(twin, "lambda", NO_RETRIES)
    lam.get_function(FunctionName="cruncher")
    for _ in range(2):
        with pytest.raises(ClientError):
            lam.get_function(FunctionName="cruncher")
    lam.get_function(FunctionName="cruncher")  # and then it is spent
