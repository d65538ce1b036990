"""Shared fixtures of the approval tests: a moto server over HTTP, the tables/topic/secret the template
creates, sample recommendations, and fakes with observable state for what moto cannot do (RevisionId)."""

from __future__ import annotations

import base64
import io
import json
import re
import threading
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count
from typing import Any
from urllib.parse import parse_qs

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError, ReadTimeoutError
from botocore.httpsession import URLLib3Session
from botocore.response import StreamingBody
from moto.server import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    ThreadedMotoServer,
    create_backend_app,
)
from werkzeug.serving import make_server

from lambda_tuner.adapters import aws, secrets
from lambda_tuner.adapters.notifier import Notifier
from lambda_tuner.adapters.store import Store, StoreError
from lambda_tuner.core.digest import render_digest
from lambda_tuner.core.models import (
    AuditRecord,
    AuditType,
    ChartPoint,
    Interval,
    Projection,
    Reason,
    Recommendation,
)
from lambda_tuner.core.tokens import approval_links
from lambda_tuner.handlers import apply, approval
from lambda_tuner.settings import AgentSettings

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
SECRET = "s" * 64
STATE, AUDIT = "lt-state", "lt-audit"


DYNAMODB_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"})


class AtomicMotoServer(ThreadedMotoServer):
    """moto's server with DynamoDB's writes made atomic, as the twin makes them (twin.server): moto checks
    a condition and then writes, unlocked, so two concurrent conditional writes can both succeed, which
    DynamoDB never allows. Under a loaded machine that made the concurrent-transition test flaky."""

    def _server_entry(self) -> None:
        app = DomainDispatcherApplication(create_backend_app)
        writes = threading.Lock()

        def atomic(environ: dict[str, Any], start_response: Any) -> Any:
            target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
            if target.startswith("DynamoDB_") and target.rpartition(".")[2] in DYNAMODB_WRITES:
                with writes:
                    return list(app(environ, start_response))
            return app(environ, start_response)

        self._server = make_server(
            self._ip_address, self._port, atomic, True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    aws.reset_clients()  # clients built before the endpoint was set would talk to real AWS
    server = AtomicMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    body = json.dumps({"lambda": {"use_docker": False}}).encode()
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/config", data=body, method="POST"))
    yield url
    server.stop()


@pytest.fixture
def aws_env(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for key, value in {
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_SESSION_TOKEN": "testing",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    urllib.request.urlopen(urllib.request.Request(f"{moto_url}/moto-api/reset", data=b"", method="POST"))
    # Clients stay cached across tests (same endpoint all session): building one costs ~0.5 s of CPU.
    # Other tests in this process (the twin's) may have cached clients for their endpoint: drop those.
    if any(c.meta.endpoint_url != moto_url for c in list(aws._clients.values())):
        aws.reset_clients()
    secrets.clear_cache()
    yield moto_url
    secrets.clear_cache()


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("index.py", "def handler(event, context):\n    return {'ok': True}\n")
    return buf.getvalue()


@dataclass
class Account:
    """The resources the SAM template creates, in moto, plus handles to read results back."""

    topic_arn: str
    queue_url: str
    secret_arn: str
    role_arn: str
    functions: list[str] = field(default_factory=list)

    def create_tables(self) -> None:
        ddb = aws.client("dynamodb")
        ddb.create_table(
            TableName=STATE,
            BillingMode="PAY_PER_REQUEST",
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "gsi1pk", "gsi1sk")
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "gsi1",
                    "Projection": {"ProjectionType": "ALL"},
                    "KeySchema": [
                        {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                        {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                    ],
                }
            ],
        )
        ddb.create_table(
            TableName=AUDIT,
            BillingMode="PAY_PER_REQUEST",
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
        )

    def create_function(
        self,
        name: str,
        memory_mb: int = 1024,
        tags: dict[str, str] | None = None,
        environment: dict[str, str] | None = None,
    ) -> str:
        got = aws.client("lambda").create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=self.role_arn,
            Handler="index.handler",
            Code={"ZipFile": _zip()},
            MemorySize=memory_mb,
            Timeout=30,
            Tags=tags or {},
            Environment={"Variables": environment or {}},
        )
        self.functions.append(name)
        return str(got["FunctionArn"])

    def memory(self, name: str, qualifier: str | None = None) -> int:
        kwargs = {"FunctionName": name, **({"Qualifier": qualifier} if qualifier else {})}
        return int(aws.client("lambda").get_function_configuration(**kwargs)["MemorySize"])

    def messages(self) -> list[dict[str, Any]]:
        """Every SNS message published to the topic so far (via an SQS subscription, raw delivery off)."""
        sqs = aws.client("sqs")
        out = []
        while True:
            got = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            batch = got.get("Messages", [])
            if not batch:
                return out
            for m in batch:
                out.append(json.loads(m["Body"]))
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])


@pytest.fixture
def account(aws_env: str) -> Account:
    return provision_account()


def provision_account() -> Account:
    """The template's topic (with a capturing queue), signing secret, tables and a role for functions."""
    sns, sqs = aws.client("sns"), aws.client("sqs")
    topic = sns.create_topic(Name="lambda-tuner")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="digest-capture")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    secret = aws.client("secretsmanager").create_secret(Name="lt-signing", SecretString=SECRET)["ARN"]
    role = aws.client("iam").create_role(
        RoleName="fn-role", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []})
    )["Role"]["Arn"]
    acct = Account(topic_arn=topic, queue_url=queue_url, secret_arn=secret, role_arn=role)
    acct.create_tables()
    return acct


def make_rec(
    *,
    rec_id: str = "rec-1",
    function: str = "orders-api",
    current: int | dict[str, Any] = 1024,
    proposed: int | dict[str, Any] = 512,
    revision_id: str | None = "rev-1",
    status: str = "PENDING",
    kind: str = "memory",
    **extra: Any,
) -> Recommendation:
    def proj(mb: int, ms: float, usd: float) -> Projection:
        return Projection(
            memory_mb=mb,
            duration_ms=Interval(expected=ms, low=ms * 0.9, high=ms * 1.1),
            p99_ms=Interval(expected=ms * 2, low=ms * 1.8, high=ms * 2.2),
            cost_per_invocation_usd=Interval(expected=usd / 1e6, low=usd / 1.1e6, high=usd / 0.9e6),
            monthly_cost_usd=Interval(expected=usd, low=usd * 0.9, high=usd * 1.1),
        )

    cur = {"memory_mb": current} if isinstance(current, int) else current
    new = {"memory_mb": proposed} if isinstance(proposed, int) else proposed
    cur_mb, new_mb = (
        int(cur.get("memory_mb") or 1024),
        int(new.get("memory_mb") or cur.get("memory_mb") or 1024),
    )
    fields: dict[str, Any] = {
        "id": rec_id,
        "function": function,
        "kind": kind,
        "created_at": NOW,
        "current": cur,
        "proposed": new,
        "before": proj(cur_mb, 120.0, 40.0),
        "after": proj(new_mb, 130.0, 22.0),
        "monthly_saving_usd": Interval(expected=18.0, low=14.5, high=21.0),
        "latency_effect": "p99 +20 ms (+8 %)",
        "confidence": "high",
        "reason": Reason(
            summary=f"{function} uses 31 % of its CPU time at {cur_mb} MB; half the memory costs less",
            observed="14 days, 2.1 M invocations at 1024 MB",
            model="amdahl fit, R² 0.97",
            decided_by="cost strategy within p99 objective",
        ),
        "revision_id": revision_id,
        "status": status,
        "chart": tuple(
            ChartPoint(
                memory_mb=m,
                duration_ms=100 + 50_000 / m,
                duration_low_ms=90 + 45_000 / m,
                duration_high_ms=110 + 55_000 / m,
                monthly_cost_usd=m * 0.03,
                observed=m == current,
            )
            for m in (256, 512, 1024, 2048)
        ),
    }
    fields.update(extra)
    return Recommendation(**fields)


class FakeLambda:
    """The two Lambda calls the approval function makes, with state tests can read and set."""

    def __init__(self, revisions: dict[str, str] | None = None) -> None:
        self.revisions = revisions or {"orders-api": "rev-1"}
        self.invocations: list[dict[str, Any]] = []

    def get_function_configuration(self, FunctionName: str) -> dict[str, Any]:
        return {"FunctionName": FunctionName, "RevisionId": self.revisions[FunctionName]}

    def invoke(self, FunctionName: str, InvocationType: str, Payload: bytes) -> dict[str, Any]:
        self.invocations.append({"function": FunctionName, "type": InvocationType, **json.loads(Payload)})
        return {"StatusCode": 202}


def url_event(
    method: str,
    *,
    token: str = "",
    body: str = "",
    at: datetime = NOW,
    ip: str = "198.51.100.7",
    ua: str = "Mozilla/5.0 test",
    base64_body: bool = False,
) -> dict[str, Any]:
    """A Lambda Function URL request (payload format 2.0), as AWS delivers it."""
    raw_body = base64.b64encode(body.encode()).decode() if base64_body else body
    headers = {"host": "abc.lambda-url.us-east-1.on.aws", "user-agent": ua}
    if method == "POST":
        headers["content-type"] = "application/x-www-form-urlencoded"
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": f"token={token}" if token else "",
        "headers": headers,
        **({"queryStringParameters": {"token": token}} if token else {}),
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "abc",
            "domainName": "abc.lambda-url.us-east-1.on.aws",
            "domainPrefix": "abc",
            "requestId": "req-1",
            "routeKey": "$default",
            "stage": "$default",
            "time": at.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(at.timestamp() * 1000),
            "http": {"method": method, "path": "/", "protocol": "HTTP/1.1", "sourceIp": ip, "userAgent": ua},
        },
        **(
            {"body": raw_body, "isBase64Encoded": base64_body}
            if method == "POST"
            else {"isBase64Encoded": False}
        ),
    }


@contextmanager
def answer_lost(client: Any, operation: str) -> Iterator[list[str]]:
    """The first `operation` call reaches DynamoDB and is carried out, but its answer never comes back
    (a read timeout): the SDK sends it again, as it does for any timeout."""
    sent: list[str] = []

    def lose_answer(request: Any, **_: Any) -> None:
        sent.append(operation)
        if len(sent) == 1:
            URLLib3Session().send(request)  # carried out by DynamoDB…
            raise ReadTimeoutError(endpoint_url=request.url)  # …but the answer is lost

    event = f"before-send.dynamodb.{operation}"
    client.meta.events.register(event, lose_answer, unique_id="answer-lost")
    try:
        yield sent
    finally:
        client.meta.events.unregister(event, unique_id="answer-lost")


@dataclass
class FakeContext:
    """The Lambda context fields Powertools' logger reads."""

    function_name: str = "lt-fn"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:lt-fn"
    aws_request_id: str = "req-1"


@contextmanager
def route_invokes(
    client: Any, handlers: dict[str, Callable[[dict[str, Any], Any], Any]]
) -> Iterator[list[str]]:
    """Run Lambda Invoke of the named functions in-process, as the twin's register_handler does.

    Hooks `before-call` of this client only (the Stubber's mechanism); unhooked on exit.
    """
    calls: list[str] = []

    def invoke(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        # before-call sees the serialised request: /2015-03-31/functions/<name>/invocations
        name = str(params["url_path"]).split("/functions/")[1].split("/")[0].split(":")[-1]
        if name not in handlers:
            return None
        calls.append(name)
        result = handlers[name](json.loads(params.get("body") or b"{}"), FakeContext(function_name=name))
        event = params.get("headers", {}).get("X-Amz-Invocation-Type") == "Event"
        status = 202 if event else 200
        body = {"StatusCode": status, "Payload": StreamingBody(io.BytesIO(json.dumps(result).encode()), None)}
        return AWSResponse("http://in-process", status, {}, None), body

    client.meta.events.register("before-call.lambda.Invoke", invoke, unique_id="route-invokes")
    try:
        yield calls
    finally:
        client.meta.events.unregister("before-call.lambda.Invoke", unique_id="route-invokes")


class FunctionUrl:
    """Serves a handler as a Lambda Function URL (payload 2.0) on 127.0.0.1, like the twin will."""

    def __init__(
        self, handler: Callable[[dict[str, Any], Any], dict[str, Any]], now: Callable[[], datetime]
    ) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                query = self.path.partition("?")[2]
                token = parse_qs(query).get("token", [""])[0]
                event = url_event(
                    self.command,
                    token=token,
                    body=body,
                    at=now(),
                    ip=self.client_address[0],
                    ua=self.headers.get("user-agent", ""),
                )
                event["rawPath"] = event["requestContext"]["http"]["path"] = self.path.partition("?")[0]
                result = handler(event, FakeContext(function_name="lt-approval"))
                self.send_response(result["statusCode"])
                for key, value in result.get("headers", {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(str(result.get("body", "")).encode())
                outer.requests.append((self.command, result["statusCode"]))

            do_GET = do_POST = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.requests: list[tuple[str, int]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


APPROVAL_FN = "orders-api"


class Deployed:
    """Both functions configured as the template configures them, the apply function invoked in-process."""

    def __init__(
        self,
        account: Account,
        monkeypatch: pytest.MonkeyPatch,
        *,
        create: bool = True,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        for key, value in {
            **(extra_env or {}),
            "LT_STATE_TABLE": STATE,
            "LT_AUDIT_TABLE": AUDIT,
            "LT_SECRET_ARN": account.secret_arn,
            "LT_APPLY_FUNCTION": "lt-apply",
            "LT_TOPIC_ARN": account.topic_arn,
            "LT_MAX_EVENT_AGE_S": "0",  # the tests' days are fixed, not the wall clock's
        }.items():
            monkeypatch.setenv(key, value)
        approval._flow.cache_clear()
        apply._flow.cache_clear()
        if create:
            account.create_function(APPROVAL_FN, memory_mb=1024)
        self.account, self.store = account, Store(STATE, AUDIT)
        self.now = NOW + timedelta(hours=1)

    def propose(self, base_url: str, **rec_fields: Any) -> str:
        """What the agent does: store the recommendation, sign links, publish the digest; returns the body."""
        rec = make_rec(**{"revision_id": None, **rec_fields})  # plain moto reports no RevisionId
        self.store.put_recommendation(rec)
        ids = (f"jti-{n}" for n in count())
        links = approval_links(base_url, SECRET.encode(), rec, NOW, 72, lambda: next(ids))
        head = self.store.audit_head()
        subject, body = render_digest([rec], {rec.id: links}, head.hash if head else "none", NOW)  # type: ignore[misc]
        Notifier(self.account.topic_arn).publish(subject, body, {"severity": "info", "count": "1"})
        return str(self.account.messages()[-1]["Message"])


def link_in(body: str, action: str) -> str:
    match = re.search(rf"{action.capitalize()}:\s+(\S+)", body)
    assert match, body
    return match.group(1)


@pytest.fixture
def deployed(account: Account, monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployed]:
    d = Deployed(account, monkeypatch)
    yield d
    approval._flow.cache_clear()
    apply._flow.cache_clear()


class Refusing:
    """The real Lambda client, except that the `nth` call (1-based) of `operation` answers with an AWS
    error (`times` calls in a row). `used` lists the operations reached for, in order."""

    def __init__(
        self, real: Any, operation: str, code: str, status: int, *, nth: int = 1, times: int = 1
    ) -> None:
        self.real, self.operation, self.code, self.status = real, operation, code, status
        self.nth, self.times, self.seen, self.refused = nth, times, 0, 0
        self.used: list[str] = []

    def __getattr__(self, name: str) -> Any:
        self.used.append(name)
        if name != self.operation:
            return getattr(self.real, name)
        self.seen += 1
        if self.seen < self.nth or self.refused >= self.times:
            return getattr(self.real, name)

        def refuse(**_: Any) -> dict[str, Any]:
            self.refused += 1
            response: Any = {
                "Error": {"Code": self.code, "Message": "refused"},
                "ResponseMetadata": {"HTTPStatusCode": self.status},
            }
            raise ClientError(response, name)

        return refuse


class RevertRecordRefused(Store):
    """An audit table that refuses the first `revert` record each instance writes, then works again."""

    refused = 0

    def append_audit(self, type: AuditType, at: datetime, **fields: Any) -> AuditRecord:
        if type == "revert" and not self.refused:
            self.refused += 1
            raise StoreError("audit table unavailable")
        return super().append_audit(type, at, **fields)


def agent_settings() -> AgentSettings:
    """The agent's settings for cycle tests against this module's tables, topic and apply function."""
    return AgentSettings(
        topic_arn="arn:aws:sns:us-east-1:123456789012:lt",
        secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:lt",
        approval_base_url="https://approve.example",
        apply_function="lt-apply",
        state_table=STATE,
        audit_table=AUDIT,
    )


def offline_cycle(store: Store, collector: Any, at: datetime) -> Any:
    """One agent cycle on `collector`'s data with no topic and no apply function (`CycleSummary`)."""
    from lambda_tuner.cycle import CycleDeps, run_cycle

    ids = count()
    deps = CycleDeps(
        store=store,
        notifier=None,
        secret=lambda: b"s" * 32,
        invoke_apply=None,
        collector=collector,
        new_id=lambda: f"id-{at:%d%H}-{next(ids)}",
    )
    return run_cycle(agent_settings(), at, deps)
