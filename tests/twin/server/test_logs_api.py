"""Logs Insights through boto3: start, poll, results and statistics, and AWS's limits."""

from __future__ import annotations

from datetime import timedelta

import pytest
from botocore.exceptions import ClientError
from server_support import client

from lambda_tuner.adapters.reports import REPORT_QUERY  # the twin must parse exactly what the collector sends
from lambda_tuner.twin.logs_api import MAX_RUNNING
from lambda_tuner.twin.server import Twin


def window(twin: Twin) -> dict[str, int]:
    end = twin.world.now
    return {"startTime": int((end - timedelta(hours=6)).timestamp()), "endTime": int(end.timestamp())}


class StepClock:
    """The twin's query clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_query_is_scheduled_first_then_complete_with_rows_and_statistics(fresh: Twin) -> None:
    # Given a query clock the test moves
    clock = StepClock()
    fresh.queries.clock = clock
    logs = client(fresh, "logs")
    query_id = logs.start_query(
        logGroupNames=["/aws/lambda/cruncher", "/custom/json-logger"],
        queryString=REPORT_QUERY,
        **window(fresh),
    )["queryId"]

    # When it is polled at once, and again after its run time (start-up plus its bytes at the scan rate)
    first = logs.get_query_results(queryId=query_id)
    early = logs.get_query_results(queryId=query_id)
    clock.now += fresh.queries.run_time_s(1e9)
    second = logs.get_query_results(queryId=query_id)

    # Then it was Scheduled, then Running, then Complete with the rows
    assert first["status"] == "Scheduled" and early["status"] == "Running"
    assert first["results"] == []
    assert second["status"] == "Complete"
    rows = [{f["field"]: f["value"] for f in row} for row in second["results"]]
    assert {r["@log"] for r in rows} == {
        "123456789012:/aws/lambda/cruncher",
        "123456789012:/custom/json-logger",
    }
    assert all(int(float(r["invocations"])) > 0 for r in rows)
    assert second["statistics"]["bytesScanned"] > 0
    assert second["statistics"]["recordsMatched"] > 0


def test_more_than_50_log_groups_are_refused(fresh: Twin) -> None:
    with pytest.raises(ClientError) as error:
        client(fresh, "logs").start_query(
            logGroupNames=[f"/aws/lambda/g{i}" for i in range(51)], queryString=REPORT_QUERY, **window(fresh)
        )
    assert error.value.response["Error"]["Code"] == "InvalidParameterException"


def test_the_31st_concurrent_query_hits_the_limit_until_one_completes(fresh: Twin) -> None:
    logs = client(fresh, "logs")
    ids = [
        logs.start_query(logGroupName="/aws/lambda/quiet-0", queryString=REPORT_QUERY, **window(fresh))[
            "queryId"
        ]
        for _ in range(MAX_RUNNING)
    ]
    with pytest.raises(ClientError) as error:
        logs.start_query(logGroupName="/aws/lambda/quiet-0", queryString=REPORT_QUERY, **window(fresh))
    assert error.value.response["Error"]["Code"] == "LimitExceededException"

    logs.stop_query(queryId=ids[0])
    assert logs.start_query(logGroupName="/aws/lambda/quiet-0", queryString=REPORT_QUERY, **window(fresh))[
        "queryId"
    ]


def test_a_query_the_world_cannot_parse_is_malformed(fresh: Twin) -> None:
    with pytest.raises(ClientError) as error:
        client(fresh, "logs").start_query(
            logGroupName="/aws/lambda/cruncher", queryString="stats frobnicate(@duration)", **window(fresh)
        )
    assert error.value.response["Error"]["Code"] == "MalformedQueryException"


def test_an_unknown_log_group_is_not_found(fresh: Twin) -> None:
    with pytest.raises(ClientError) as error:
        client(fresh, "logs").start_query(
            logGroupName="/aws/lambda/nope", queryString=REPORT_QUERY, **window(fresh)
        )
    assert error.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_stopping_a_finished_query_is_refused(fresh: Twin) -> None:
    logs = client(fresh, "logs")
    clock = StepClock()
    fresh.queries.clock = clock
    query_id = logs.start_query(
        logGroupName="/aws/lambda/cruncher", queryString=REPORT_QUERY, **window(fresh)
    )["queryId"]
    clock.now += fresh.queries.run_time_s(1e9)
    assert logs.get_query_results(queryId=query_id)["status"] == "Complete"
    with pytest.raises(ClientError) as error:
        logs.stop_query(queryId=query_id)
    assert error.value.response["Error"]["Code"] == "InvalidParameterException"


def test_log_groups_are_provisioned_for_every_function(fresh: Twin) -> None:
    groups = {g["logGroupName"] for g in client(fresh, "logs").describe_log_groups()["logGroups"]}
    assert {"/aws/lambda/cruncher", "/aws/lambda/checkout", "/custom/json-logger"} <= groups
