"""The HTTP edge of the twin: which AWS operation a request is, and AWS-shaped replies and errors.

Everything protocol-specific is delegated to moto's own layer (`moto.core.routing` to recognise the
operation, `moto.core.serialize` to shape errors), so a request is read exactly as moto reads it and an
error looks exactly like the one moto (and AWS) would send. `tests/twin/server/test_moto_layer.py` pins the
moto internals used here.
"""

from __future__ import annotations

import io
import json
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import parse_qs

from moto.core.exceptions import ServiceException
from moto.core.request import Request, determine_request_protocol
from moto.core.routing import get_service_router
from moto.core.serialize import get_serializer_class
from moto.core.utils import get_service_model

# SigV4 signing names that differ from botocore service names.
SIGNING_TO_SERVICE = {"monitoring": "cloudwatch", "execute-api": "apigateway", "states": "stepfunctions"}


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"{}")

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    @staticmethod
    def of_json(payload: Any, status: int = 200, content_type: str = "application/json") -> Reply:
        body = json.dumps(payload, default=str).encode()
        return Reply(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))], body)


@dataclass
class Call:
    """One request as the twin sees it: service, operation and the raw parts moto parses."""

    service: str
    operation: str
    environ: dict[str, Any]
    body: bytes
    uri_params: dict[str, Any] = field(default_factory=dict)
    forward: Callable[[], Reply] = field(default=lambda: Reply(500, [], b""))

    @property
    def key(self) -> str:
        return f"{self.service}.{self.operation}"

    def json(self) -> dict[str, Any]:
        return dict(json.loads(self.body)) if self.body.strip() else {}

    def query(self, name: str) -> str | None:
        values = parse_qs(self.environ.get("QUERY_STRING", ""), keep_blank_values=True).get(name)
        return values[0] if values else None

    def header(self, name: str) -> str | None:
        return self.environ.get("HTTP_" + name.upper().replace("-", "_"))

    @property
    def content_type(self) -> str:
        return str(self.environ.get("CONTENT_TYPE", ""))


def read_body(environ: dict[str, Any]) -> bytes:
    """Read the request body once and put it back so moto can read it again."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return bytes(body)


def identify(environ: dict[str, Any], body: bytes) -> tuple[str, str, dict[str, Any]] | None:
    """(service, operation, uri params) of an AWS request, or None for anything else (moto-api, ...)."""
    service = service_of(environ)
    if service is None:
        return None
    environ["wsgi.input"] = io.BytesIO(body)
    try:
        operation, params = _router(service).match(Request(environ))
    except Exception:  # noqa: BLE001 - an unroutable request is moto's to answer (usually a 404)
        return (service, "Unknown", {})
    finally:
        environ["wsgi.input"] = io.BytesIO(body)
    return service, str(operation.name), dict(params)


def service_of(environ: dict[str, Any]) -> str | None:
    auth = str(environ.get("HTTP_AUTHORIZATION", ""))
    try:
        signing = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/")[3]
    except IndexError:
        return None
    return SIGNING_TO_SERVICE.get(signing, signing)


class TwinServiceError(ServiceException):
    """Defined outside moto so moto's serializer looks the code up in the called service's model only."""


def aws_error(call: Call, code: str, message: str, status: int | None = None) -> Reply:
    """An error in the caller's protocol, shaped by moto's serializer from the service's error model."""
    error = TwinServiceError(code, message)
    with warnings.catch_warnings():
        # Common codes (Throttling, InternalFailure) are not in every service's model; AWS sends them anyway.
        warnings.simplefilter("ignore", UserWarning)
        serialized = _serialize_error(call.service, call.operation, call.content_type, error)
    headers = [(k, str(v)) for k, v in serialized["headers"].items()]
    body = serialized["body"]
    raw = body.encode() if isinstance(body, str) else bytes(body)
    return Reply(status or int(serialized["status_code"]), headers, raw)


def _serialize_error(service: str, operation: str, content_type: str, error: Exception) -> Any:
    model = _service_model(service)
    protocol = determine_request_protocol(model, content_type)
    serializer = get_serializer_class(model.service_name, protocol)(model.operation_model(operation))
    return serializer.serialize(error)


@cache
def _router(service: str) -> Any:
    """moto builds a router (a werkzeug Map over the whole API) per call; the twin builds one per service."""
    return get_service_router(service)


@cache
def _service_model(service: str) -> Any:
    return get_service_model(service)


def collect(app: Callable[..., Iterable[bytes]], environ: dict[str, Any]) -> Reply:
    """Run a WSGI app and capture its reply (to post-process moto's answers)."""
    captured: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        captured["status"] = int(status.split(" ", 1)[0])
        captured["headers"] = list(headers)

    chunks = app(environ, start_response)
    try:
        body = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    return Reply(captured["status"], captured["headers"], body)


def with_json(reply: Reply, payload: Any) -> Reply:
    """The same reply with a rewritten JSON body (Content-Length fixed)."""
    body = json.dumps(payload, default=str).encode()
    headers = [(k, v) for k, v in reply.headers if k.lower() != "content-length"]
    return Reply(reply.status, [*headers, ("Content-Length", str(len(body)))], body)
