"""A Lambda Function URL on localhost: HTTP request -> payload format 2.0 event -> handler -> HTTP reply.

Follows AWS's mapping: headers lower-cased (repeated values comma-joined), cookies split out of the
Cookie header, query parameters comma-joined, non-text bodies base64-encoded, `requestContext.timeEpoch`
from the twin's simulated clock. A result without `statusCode` becomes a 200 JSON body, and a handler
that raises becomes a 502, as AWS does.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from lambda_tuner.twin.lambda_invoke import run_handler

if TYPE_CHECKING:
    from collections.abc import Callable

    from lambda_tuner.twin.server import Twin

TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript", "+json", "+xml")


@dataclass(frozen=True)
class HttpRequest:
    method: str
    target: str  # path and query string, as on the request line
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str


def lower_headers(headers: list[tuple[str, str]]) -> dict[str, str]:
    """Header names lower-cased; a repeated header's values comma-joined, as Function URLs do."""
    lowered: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        lowered[key] = f"{lowered[key]},{value}" if key in lowered else value
    return lowered


def build_event(twin: Twin, request: HttpRequest, url_id: str) -> dict[str, Any]:
    method, body = request.method, request.body
    parts = urlsplit(request.target)
    lowered = lower_headers(request.headers)
    cookie_header = lowered.pop("cookie", "")
    content_type = lowered.get("content-type", "")
    is_text = any(marker in content_type for marker in TEXT_TYPES)
    now = twin.world.now
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": parts.path or "/",
        "rawQueryString": parts.query,
        "headers": lowered,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": url_id,
            "domainName": lowered.get("host", ""),
            "domainPrefix": url_id,
            "http": {
                "method": method,
                "path": parts.path or "/",
                "protocol": "HTTP/1.1",
                "sourceIp": request.source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": bool(body) and not is_text,
    }
    if cookie_header:
        event["cookies"] = [c.strip() for c in cookie_header.split(";") if c.strip()]
    if parts.query:
        params = parse_qs(parts.query, keep_blank_values=True)
        event["queryStringParameters"] = {k: ",".join(v) for k, v in params.items()}
    if body:
        event["body"] = body.decode("utf-8", "replace") if is_text else base64.b64encode(body).decode()
    return event


def to_http(result: Any, failed: bool) -> tuple[int, list[tuple[str, str]], bytes]:
    """AWS's mapping of a function's result (or failure) to the HTTP response."""
    if failed:
        return 502, [("Content-Type", "application/json")], b'{"Message":"Internal Server Error"}'
    if not isinstance(result, dict) or "statusCode" not in result:
        text = result if isinstance(result, str) else json.dumps(result)
        return 200, [("Content-Type", "application/json")], text.encode()
    headers = [(str(k), str(v)) for k, v in (result.get("headers") or {}).items()]
    if not any(k.lower() == "content-type" for k, _ in headers):
        headers.append(("Content-Type", "application/json"))
    headers += [("Set-Cookie", str(c)) for c in result.get("cookies") or []]
    raw = result.get("body") or ""
    body = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode()
    return int(result["statusCode"]), headers, body


class FunctionUrlServer:
    def __init__(
        self, twin: Twin, function_name: str, handler: Callable[[dict[str, Any], object], Any]
    ) -> None:
        self.twin, self.function_name, self.handler = twin, function_name, handler
        self.url_id = uuid.uuid5(uuid.NAMESPACE_URL, function_name).hex[:32]
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._request_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def start(self) -> FunctionUrlServer:
        self.twin.register_handler(self.function_name, self.handler)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def respond(self, request: HttpRequest) -> tuple[int, list[tuple[str, str]], bytes]:
        event = build_event(self.twin, request, self.url_id)
        self.twin.calls["lambda.InvokeFunctionUrl"] += 1
        result, failed = run_handler(self.twin, self.function_name, event)
        return to_http(result, failed)

    def _request_class(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Request(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = HttpRequest(
                    self.command, self.path, list(self.headers.items()), body, self.client_address[0]
                )
                status, headers, payload = outer.respond(request)
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _handle

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the twin's test output should show failures, not access logs."""

        return Request
