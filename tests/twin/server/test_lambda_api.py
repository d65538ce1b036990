"""Lambda through boto3 over HTTP: paging, RevisionId, LastModified, publish, aliases, World updates."""

from __future__ import annotations

from datetime import timedelta

import boto3
import pytest
from botocore.exceptions import ClientError
from server_support import client, make_world

from lambda_tuner.twin.server import Twin
from lambda_tuner.twin.shapes import io_bound
from lambda_tuner.twin.spec import FunctionSpec
from lambda_tuner.twin.traffic import steady


def test_list_functions_pages_120_functions_into_pages_of_at_most_50(twin: Twin) -> None:
    # Given an account with 120 functions
    many = [FunctionSpec(name=f"f-{i:03d}", curve=io_bound(10.0), traffic=steady(1.0)) for i in range(120)]
    twin.reset(make_world(many))
    lam = client(twin, "lambda")

    # When a caller pages through ListFunctions asking for more than AWS gives
    pages = list(lam.get_paginator("list_functions").paginate(PaginationConfig={"PageSize": 200}))

    # Then AWS's cap of 50 holds and every function is listed once
    assert [len(p["Functions"]) for p in pages] == [50, 50, 20]
    names = [f["FunctionName"] for p in pages for f in p["Functions"]]
    assert sorted(names) == sorted(s.name for s in many)
    assert "NextMarker" not in pages[-1]


def test_max_items_below_50_is_honoured(fresh: Twin) -> None:
    page = client(fresh, "lambda").list_functions(MaxItems=4)
    assert len(page["Functions"]) == 4
    assert page["NextMarker"]


def test_a_bad_marker_is_refused(fresh: Twin) -> None:
    with pytest.raises(ClientError) as error:
        client(fresh, "lambda").list_functions(Marker="not-a-marker")
    assert error.value.response["Error"]["Code"] == "InvalidParameterValueException"


def test_revision_id_changes_on_every_configuration_update_and_is_returned_everywhere(fresh: Twin) -> None:
    lam = client(fresh, "lambda")
    before = lam.get_function_configuration(FunctionName="cruncher")

    updated = lam.update_function_configuration(
        FunctionName="cruncher", Timeout=60, RevisionId=before["RevisionId"]
    )

    assert updated["RevisionId"] != before["RevisionId"]
    assert lam.get_function(FunctionName="cruncher")["Configuration"]["RevisionId"] == updated["RevisionId"]
    listed = {f["FunctionName"]: f for f in lam.list_functions()["Functions"]}
    assert listed["cruncher"]["RevisionId"] == updated["RevisionId"]


def test_update_with_a_stale_revision_id_fails_with_412(fresh: Twin) -> None:
    lam = client(fresh, "lambda")
    stale = lam.get_function_configuration(FunctionName="cruncher")["RevisionId"]
    lam.update_function_configuration(FunctionName="cruncher", Timeout=45)

    with pytest.raises(ClientError) as error:
        lam.update_function_configuration(FunctionName="cruncher", MemorySize=2048, RevisionId=stale)

    assert error.value.response["Error"]["Code"] == "PreconditionFailedException"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert lam.get_function_configuration(FunctionName="cruncher")["MemorySize"] == 512  # nothing applied


def test_last_modified_follows_simulated_time_and_the_update_waiter_passes(fresh: Twin) -> None:
    lam = client(fresh, "lambda")
    fresh.advance(fresh.world.now + timedelta(hours=5))

    lam.update_function_configuration(FunctionName="cruncher", MemorySize=1024)
    lam.get_waiter("function_updated_v2").wait(FunctionName="cruncher", WaiterConfig={"Delay": 1})

    config = lam.get_function_configuration(FunctionName="cruncher")
    assert config["LastModified"] == fresh.world.now.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    assert config["LastUpdateStatus"] == "Successful"


def test_memory_change_reaches_the_world_and_the_next_metrics_reflect_it(fresh: Twin) -> None:
    # Given a CPU-bound function at 512 MB with a day of history
    lam, cw = client(fresh, "lambda"), client(fresh, "cloudwatch")
    changed_at = fresh.world.now

    # When its memory is raised and a day passes
    lam.update_function_configuration(FunctionName="cruncher", MemorySize=2048)
    fresh.advance(changed_at + timedelta(days=1))

    # Then the World runs it at 2048 MB from the change on, and its average duration drops
    assert fresh.world.memory_at("cruncher", changed_at + timedelta(minutes=1)) == 2048
    query = {
        "Id": "d",
        "MetricStat": {
            "Metric": {
                "Namespace": "AWS/Lambda",
                "MetricName": "Duration",
                "Dimensions": [{"Name": "FunctionName", "Value": "cruncher"}],
            },
            "Period": 86400,
            "Stat": "Average",
        },
    }
    before = cw.get_metric_data(
        MetricDataQueries=[query], StartTime=changed_at - timedelta(days=1), EndTime=changed_at
    )
    after = cw.get_metric_data(
        MetricDataQueries=[query], StartTime=changed_at, EndTime=changed_at + timedelta(days=1)
    )
    assert after["MetricDataResults"][0]["Values"][0] < 0.5 * before["MetricDataResults"][0]["Values"][0]


def test_out_of_range_memory_is_refused_like_aws(fresh: Twin) -> None:
    with pytest.raises(ClientError) as error:
        client(fresh, "lambda").update_function_configuration(FunctionName="cruncher", MemorySize=12288)
    assert error.value.response["Error"]["Code"] == "InvalidParameterValueException"


def test_logging_config_is_returned_as_aws_does(fresh: Twin) -> None:
    lam = client(fresh, "lambda")
    json_config = lam.get_function_configuration(FunctionName="json-logger")["LoggingConfig"]
    text_config = lam.get_function_configuration(FunctionName="cruncher")["LoggingConfig"]
    assert json_config == {
        "LogFormat": "JSON",
        "LogGroup": "/custom/json-logger",
        "ApplicationLogLevel": "INFO",
        "SystemLogLevel": "INFO",
    }
    assert text_config == {"LogFormat": "Text", "LogGroup": "/aws/lambda/cruncher"}


def test_publish_version_snapshots_config_and_tells_the_world(fresh: Twin) -> None:
    lam = client(fresh, "lambda")
    lam.update_function_configuration(FunctionName="checkout", MemorySize=2048)
    latest = lam.get_function_configuration(FunctionName="checkout")

    published = lam.publish_version(FunctionName="checkout", CodeSha256=latest["CodeSha256"])

    assert published["Version"] == "3"
    assert published["MemorySize"] == 2048
    assert published["CodeSha256"] == latest["CodeSha256"]
    assert fresh.world.memory_at("checkout", fresh.world.now + timedelta(minutes=1), qualifier="3") == 2048
    # $LATEST's change did not touch the version the alias serves
    assert fresh.world.memory_at("checkout", fresh.world.now + timedelta(minutes=1), qualifier="2") == 1024
    again = lam.publish_version(FunctionName="checkout")
    assert again["Version"] == "3"  # no change since: AWS returns the existing version


def test_publish_version_with_a_wrong_code_sha_is_refused(fresh: Twin) -> None:
    with pytest.raises(ClientError) as error:
        client(fresh, "lambda").publish_version(FunctionName="checkout", CodeSha256="bm90LXRoZS1zaGE=")
    assert error.value.response["Error"]["Code"] == "InvalidParameterValueException"


def test_update_alias_moves_the_world_and_changes_the_alias_revision(fresh: Twin) -> None:
    lam = client(fresh, "lambda")
    alias = lam.get_alias(FunctionName="checkout", Name="live")

    updated = lam.update_alias(
        FunctionName="checkout",
        Name="live",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {}},
        RevisionId=alias["RevisionId"],
    )

    assert updated["RevisionId"] != alias["RevisionId"]
    assert fresh.world.alias_at("checkout", "live", fresh.world.now + timedelta(minutes=1)) == ("1", {})
    with pytest.raises(ClientError) as error:
        lam.update_alias(
            FunctionName="checkout", Name="live", FunctionVersion="2", RevisionId=alias["RevisionId"]
        )
    assert error.value.response["Error"]["Code"] == "PreconditionFailedException"


def test_aliases_and_versions_are_listed_with_routing(fresh: Twin) -> None:
    lam = client(fresh, "lambda")
    aliases = lam.list_aliases(FunctionName="checkout")["Aliases"]
    versions = lam.list_versions_by_function(FunctionName="checkout")["Versions"]
    assert [(a["Name"], a["FunctionVersion"], a["RoutingConfig"]) for a in aliases] == [
        ("live", "2", {"AdditionalVersionWeights": {"1": 0.1}})
    ]
    assert [v["Version"] for v in versions] == ["$LATEST", "1", "2"]
    assert all(v["RevisionId"] for v in versions)


def test_lambda_insights_functions_carry_the_extension_layer(fresh: Twin) -> None:
    lam = client(fresh, "lambda")
    layers = lam.get_function_configuration(FunctionName="cruncher")["Layers"]
    assert [layer["Arn"].split(":")[6] for layer in layers] == ["LambdaInsightsExtension"]
    assert lam.get_function_configuration(FunctionName="quiet-0").get("Layers", []) == []


def test_tags_from_the_spec_are_provisioned(fresh: Twin) -> None:
    lam = client(fresh, "lambda")
    arn = lam.get_function(FunctionName="checkout")["Configuration"]["FunctionArn"]
    assert lam.list_tags(Resource=arn)["Tags"] == {"team": "payments"}


def test_env_alone_lets_boto3_reach_the_twin(fresh: Twin, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(key, raising=False)
    for key, value in fresh.env().items():
        monkeypatch.setenv(key, value)
    names = [f["FunctionName"] for f in boto3.client("lambda").list_functions()["Functions"]]
    assert "cruncher" in names


def test_calls_count_every_served_operation(fresh: Twin) -> None:
    lam = client(fresh, "lambda")
    lam.list_functions()
    lam.get_function(FunctionName="cruncher")
    lam.get_function(FunctionName="cruncher")
    assert fresh.calls["lambda.ListFunctions"] == 1
    assert fresh.calls["lambda.GetFunction"] == 2


def test_functions_created_over_the_api_get_revisions_but_are_not_simulated(fresh: Twin) -> None:
    lam, iam = client(fresh, "lambda"), client(fresh, "iam")
    role = iam.create_role(RoleName="agent", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    created = lam.create_function(
        FunctionName="agent",
        Runtime="python3.12",
        Role=role,
        Handler="index.handler",
        Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
        LoggingConfig={"LogFormat": "JSON"},
    )

    updated = lam.update_function_configuration(
        FunctionName="agent", MemorySize=256, RevisionId=created["RevisionId"]
    )

    assert updated["RevisionId"] != created["RevisionId"]
    assert updated["LoggingConfig"]["LogFormat"] == "JSON"
    assert "agent" not in fresh.world.specs


def test_a_second_twin_in_the_same_process_is_refused_clearly(twin: Twin) -> None:
    with pytest.raises(RuntimeError, match="already running"):
        Twin(make_world()).start()
    assert client(twin, "lambda").list_functions()["Functions"]  # the running one is unharmed
