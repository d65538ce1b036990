"""The moto internals the twin builds on. If a moto upgrade breaks one, these fail first and say which.

The twin reuses moto's routing, serialisers, backends and server class instead of writing protocol code;
none of that is public API, so every piece is pinned here.
"""

from __future__ import annotations

import inspect
import io
import json

import moto
from moto.applicationautoscaling.models import FakeScheduledAction
from moto.awslambda.models import LambdaAlias, LambdaStorage
from moto.awslambda.utils import get_backend
from moto.cloudwatch.models import Alarm
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.models import default_user_config
from moto.core.request import Request
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.sns.models import Topic

from lambda_tuner.twin.wire import Call, aws_error, identify

VERIFIED_MOTO = "5.2.5"
AUTH = (
    "AWS4-HMAC-SHA256 Credential=testing/20261126/us-east-1/{service}/aws4_request, "
    "SignedHeaders=host, Signature=x"
)


def environ(
    method: str, path: str, service: str, body: bytes = b"", query: str = "", **headers: str
) -> dict[str, object]:
    env: dict[str, object] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "RAW_URI": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "5000",
        "HTTP_HOST": "127.0.0.1:5000",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_AUTHORIZATION": AUTH.format(service=service),
    }
    env.update({f"HTTP_{k.upper()}": v for k, v in headers.items()})
    return env


def test_the_moto_version_is_the_one_this_layer_was_verified_against() -> None:
    assert moto.__version__ == VERIFIED_MOTO, (
        f"moto {moto.__version__} is not {VERIFIED_MOTO}: run tests/twin/server, then update VERIFIED_MOTO"
    )


def test_moto_routing_names_rest_json_json_and_query_operations() -> None:
    lam = environ("GET", "/2019-09-30/functions/f/provisioned-concurrency", "lambda", query="List=ALL")
    logs = environ("POST", "/", "logs", b"{}", X_AMZ_TARGET="Logs_20140328.StartQuery")
    cw = environ("POST", "/", "monitoring", b"{}", X_AMZ_TARGET="GraniteServiceVersion20100801.GetMetricData")
    cw["CONTENT_TYPE"] = "application/x-amz-json-1.0"  # botocore 1.44 resolves CloudWatch to awsJson1.0
    logs["CONTENT_TYPE"] = "application/x-amz-json-1.1"
    assert identify(lam, b"")[:2] == ("lambda", "ListProvisionedConcurrencyConfigs")  # type: ignore[index]
    assert identify(logs, b"{}")[:2] == ("logs", "StartQuery")  # type: ignore[index]
    assert identify(cw, b"{}")[:2] == ("cloudwatch", "GetMetricData")  # type: ignore[index]
    assert isinstance(Request(lam), Request)


def test_moto_serialises_errors_in_each_protocol_with_the_modelled_status() -> None:
    lam = Call("lambda", "ListFunctions", environ("GET", "/2015-03-31/functions", "lambda"), b"")
    throttled = aws_error(lam, "TooManyRequestsException", "slow down")
    assert throttled.status == 429
    assert throttled.header("x-amzn-errortype") == "TooManyRequestsException"
    logs = Call("logs", "StartQuery", environ("POST", "/", "logs"), b"", forward=lambda: throttled)
    logs.environ["CONTENT_TYPE"] = "application/x-amz-json-1.1"
    assert json.loads(aws_error(logs, "LimitExceededException", "busy").body)["__type"].endswith(
        "LimitExceededException"
    )


def test_moto_backends_keep_what_the_twin_reads_and_writes() -> None:
    previous = default_user_config.get("lambda")
    default_user_config["lambda"] = {"use_docker": False}  # what Twin.start sets through /moto-api/config
    try:
        assert type(get_backend("123456789012", "us-east-1")).__module__.startswith("moto.awslambda_simple")
    finally:
        default_user_config["lambda"] = previous
    assert {"publish_version", "list_aliases", "list_versions_by_function"} <= set(dir(LambdaStorage))
    assert "revision_id" in inspect.signature(
        LambdaAlias.__init__
    ).parameters or "revision_id" in inspect.getsource(LambdaAlias.__init__)
    assert "code_or_config_updated" in inspect.getsource(LambdaStorage.publish_version)
    # lambda_api.all_versions reads the storage's groups directly (moto's listing deep-copies each function)
    assert '"latest"' in inspect.getsource(LambdaStorage.all) and '"versions"' in inspect.getsource(
        LambdaStorage.all
    )
    assert "self._functions" in inspect.getsource(LambdaStorage.all)
    alarm_fields = inspect.getsource(Alarm.__init__)
    for name in (
        "evaluation_periods",
        "datapoints_to_alarm",
        "treat_missing_data",
        "extended_statistic",
        "state_value",
    ):
        assert f"self.{name}" in alarm_fields
    assert "update_state" in dir(Alarm)
    assert "scalable_target_action" in inspect.signature(FakeScheduledAction.__init__).parameters
    assert "sent_notifications" in inspect.getsource(Topic)


def test_moto_server_and_response_hooks_exist() -> None:
    assert "_server_entry" in dir(ThreadedMotoServer)
    assert "_server_ready_event" in inspect.getsource(ThreadedMotoServer.__init__)
    assert {"get_metric_data", "_get_params", "cloudwatch_backend"} <= set(dir(CloudWatchResponse))
