"""The twin: a local AWS account on the real wire protocols, backed by moto plus a simulated World.

moto's in-process `ThreadedMotoServer` serves every service; a WSGI layer in front of it counts each
operation, injects faults, and answers the operations moto lacks or gets wrong (see twin/README.md) from
the twin's own bookkeeping and the `World`. Point boto3 at it with `Twin.env()`.
"""

from __future__ import annotations

import http.client
import io
import json
import logging
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime
from http import HTTPStatus
from types import TracebackType
from typing import TYPE_CHECKING, Any

from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

from lambda_tuner.twin import (
    alarms,
    cbor,
    cloudwatch_api,
    lambda_api,
    lambda_invoke,
    lambda_pc,
    lambda_versions,
    logs_api,
    schedules,
)
from lambda_tuner.twin.faults import SERVER_ERROR_CODES, FaultInjector, FaultKind
from lambda_tuner.twin.function_url import FunctionUrlServer
from lambda_tuner.twin.provision import provision_world
from lambda_tuner.twin.wire import Call, Reply, aws_error, collect, identify, read_body, service_of

if TYPE_CHECKING:
    from lambda_tuner.twin.world import World

Handler = Callable[[dict[str, Any], object], Any]
ROUTES: dict[str, Callable[[Any, Call], Reply]] = {
    **lambda_api.ROUTES,
    **lambda_versions.ROUTES,
    **lambda_pc.ROUTES,
    **lambda_invoke.ROUTES,
    **logs_api.ROUTES,
    **schedules.ROUTES,
}
LOG = logging.getLogger(__name__)
_active_lock = threading.Lock()
_active: list[Twin] = []  # moto's state is per process, so at most one twin runs at a time


class Twin:
    def __init__(self, world: World, *, port: int = 0, fault_seed: int = 0) -> None:
        self.world = world
        self.port = port
        self.account: str = world.account
        self.region: str = world.region
        self.calls: Counter[str] = Counter()
        self._calls_lock = threading.Lock()
        # moto checks a DynamoDB condition and then writes, unlocked: two concurrent conditional writes
        # can both succeed. DynamoDB makes each write atomic, so the twin serialises them.
        self._dynamodb_writes = threading.Lock()
        self.faults = FaultInjector(fault_seed)
        self.handlers: dict[str, Handler] = {}
        # (function, error payload) of asynchronous invokes (Event, alarm actions) that failed every attempt
        self.async_failures: list[tuple[str, Any]] = []
        self.lock = threading.RLock()  # serialises the twin's own bookkeeping and World access
        self.lambdas = lambda_api.LambdaState()
        self.queries = logs_api.QueryBook()
        self.alarms = alarms.AlarmEvaluator(self)
        self.endpoint_url = ""
        self._server: _TwinMotoServer | None = None
        self._url_servers: list[FunctionUrlServer] = []

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Twin:
        with _active_lock:
            if _active:
                raise RuntimeError("a Twin is already running in this process; stop it first")
            _active.append(self)
        try:
            self._server = _TwinMotoServer(self)
            self._server.start()
            host, port = self._server.get_host_and_port()
            self.endpoint_url = f"http://{host}:{port}"
            cloudwatch_api.install(self)
            self._moto_api("reset", None)
            self._moto_api("config", {"lambda": {"use_docker": False}})
            self.provision()
        except BaseException:
            self.stop()  # a half-started twin must not keep the process's one slot or its port
            raise
        return self

    def stop(self) -> None:
        for url_server in self._url_servers:
            url_server.stop()
        self._url_servers.clear()
        cloudwatch_api.uninstall()
        if self._server is not None:
            self._server.stop()
            self._server = None
        with _active_lock:
            if self in _active:
                _active.remove(self)

    def __enter__(self) -> Twin:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def reset(self, world: World | None = None) -> None:
        """Fresh moto state and bookkeeping, re-provisioned from `world` (or the current one).

        Registered handlers and Function URL servers stay: they are the code under test, not account state.
        """
        if world is not None:
            self.world = world
        self._moto_api("reset", None)
        self.lambdas = lambda_api.LambdaState()
        self.queries = logs_api.QueryBook()
        self.alarms = alarms.AlarmEvaluator(self)
        self.faults.clear()
        self.async_failures.clear()
        self.provision()

    def provision(self) -> None:
        """Create the world's functions in moto (with versions, aliases, PC, log groups), uncounted."""
        with self.lock:
            provision_world(self)
        self.calls.clear()

    def env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
        }

    # ------------------------------------------------------------------ simulation

    def advance(self, to: datetime) -> None:
        """Move simulated time to `to`: scheduled PC actions due on the way apply at their times, alarms
        are judged at every period boundary, and an alarm's actions run when it changes state.

        The clock stops at each boundary where an alarm acts (found by reading the World ahead), so
        what a handler changes (a rollback's memory size) applies from then, as on AWS, rather than
        from `to`. Pending PC configs become READY at `to` (or when read first).
        """
        self.alarms.start_new()
        with self.lock:
            since = self.world.now
            if to.tzinfo is None or to < since:
                self.world.advance(to)  # raises the World's error before anything changes
            schedules.apply_due_actions(self, since, to)  # each at its own time
        # outside the lock: alarm actions may invoke handlers that call back
        while (at := self.alarms.next_action(to)) is not None:
            with self.lock:
                self.world.advance(at)
            self.alarms.evaluate(to)
            self.alarms.start_new()
        with self.lock:
            self.world.advance(to)
            lambda_pc.settle(self)
        self.alarms.evaluate(to)

    def register_handler(self, function_name: str, handler: Handler) -> None:
        self.handlers[function_name] = handler

    def serve_function_url(self, function_name: str, handler: Handler) -> str:
        server = FunctionUrlServer(self, function_name, handler).start()
        self._url_servers.append(server)
        return server.url

    def inject_fault(
        self,
        operation: str,
        kind: FaultKind,
        *,
        count: int | None = None,
        rate: float | None = None,
        function: str | None = None,
        after: int = 0,
    ) -> None:
        self.faults.add(operation, kind, count=count, rate=rate, function=function, after=after)

    def enforce_lambda_quotas(self) -> None:
        """From now on, Lambda control-plane calls beyond AWS's quotas (15/s; GetFunction 100/s) throttle."""
        self.faults.enforce_lambda_quotas()

    def clear_faults(self) -> None:
        """Remove injected faults and quotas."""
        self.faults.clear()

    # ------------------------------------------------------------------ HTTP

    def _moto_api(self, what: str, payload: dict[str, Any] | None) -> None:
        """POST to moto's own control API (reset, config) on the running server."""
        host, port = self.endpoint_url.removeprefix("http://").rsplit(":", 1)
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            body = json.dumps(payload) if payload is not None else ""
            connection.request("POST", f"/moto-api/{what}", body=body)
            response = connection.getresponse()
            response.read()
            if response.status >= 300:
                raise RuntimeError(f"moto-api/{what} answered {response.status}")
        finally:
            connection.close()

    def wsgi(self, moto_app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            if cbor.is_cbor(environ):
                reply: Reply | None = self._serve_cbor(moto_app, environ)
            else:
                reply = self._serve(moto_app, environ)
            if reply is None:
                return moto_app(environ, start_response)
            start_response(f"{reply.status} {_reason(reply.status)}", reply.headers)
            return [reply.body]

        return app

    def _serve_cbor(self, moto_app: Callable[..., Iterable[bytes]], environ: dict[str, Any]) -> Reply:
        """A Smithy RPC v2 CBOR request, served as its awsJson equivalent and answered in CBOR."""
        service = service_of(environ) or "unknown"
        try:
            operation, _ = cbor.to_json_request(environ, read_body(environ))
        except ValueError as exc:
            return cbor.to_cbor_reply(
                service, "", Reply.of_json({"__type": "SerializationException", "message": str(exc)}, 400)
            )
        reply = self._serve(moto_app, environ) or collect(moto_app, environ)
        return cbor.to_cbor_reply(service, operation, reply)

    def _serve(self, moto_app: Callable[..., Iterable[bytes]], environ: dict[str, Any]) -> Reply | None:
        body = read_body(environ)
        found = identify(environ, body)
        if found is None:
            return None
        service, operation, params = found
        call = Call(service, operation, environ, body, params)
        call.forward = lambda: _forward(moto_app, call)
        with self._calls_lock:  # Counter's += is not atomic across the server's threads
            self.calls[call.key] += 1
        fault = self.faults.check(call)
        if fault is not None:
            return fault
        route = ROUTES.get(call.key)
        if route is None and call.key in DYNAMODB_WRITES:
            with self._dynamodb_writes:
                return _forward(moto_app, call)
        if route is None:
            return None
        try:
            return route(self, call)
        except Exception as exc:  # a twin bug must reach the caller as AWS's 500, with the cause logged
            LOG.exception("twin failed serving %s", call.key)
            return aws_error(
                call, SERVER_ERROR_CODES.get(call.service, ("InternalFailure", 500))[0], repr(exc), 500
            )


DYNAMODB_WRITES = frozenset(
    f"dynamodb.{op}"
    for op in ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem")
)


def _forward(moto_app: Callable[..., Iterable[bytes]], call: Call) -> Reply:
    environ = dict(call.environ)
    environ["wsgi.input"] = io.BytesIO(call.body)
    return collect(moto_app, environ)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class _QuietRequestHandler(MotoRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Silent: one access-log line per AWS call drowns test output."""


class _TwinMotoServer(ThreadedMotoServer):
    """moto's threaded server with the twin's WSGI layer in front of moto's dispatcher."""

    def __init__(self, twin: Twin) -> None:
        super().__init__(ip_address="127.0.0.1", port=twin.port, verbose=False)
        self._twin = twin

    def _server_entry(self) -> None:
        app = self._twin.wsgi(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(
            self._ip_address, self._port, app, True, request_handler=_QuietRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()


def active_twin() -> Twin:
    """The running twin (moto's patched response methods reach the World through it)."""
    with _active_lock:
        if not _active:
            raise RuntimeError("no Twin is running")
        return _active[0]


def apply_env(twin: Twin) -> dict[str, str | None]:
    """Point this process's boto3 at the twin; returns the previous values for restoring."""
    previous = {key: os.environ.get(key) for key in twin.env()}
    os.environ.update(twin.env())
    return previous
