"""Smithy RPC v2 CBOR on the wire, awsJson behind it: a bridge so CBOR clients reach moto and the twin.

botocore 1.44.8 resolves CloudWatch to awsJson 1.0, but CloudWatch's model lists `smithy-rpc-v2-cbor`
first and a botocore that prefers it would send CBOR, which moto 5.2.5 cannot read. The bridge decodes
the request with botocore's own CBOR parser, hands moto (and the twin's overrides) the equivalent awsJson
request, and encodes the answer with botocore's own shape-aware CBOR serializer, so timestamps go back as
CBOR tag 1 exactly as AWS sends them. No CBOR is written by hand except the two-field error map.
"""

from __future__ import annotations

import base64
import io
import json
import struct
from datetime import datetime
from functools import cache
from typing import Any

from botocore.parsers import RpcV2CBORParser
from botocore.serialize import RpcV2CBORSerializer
from botocore.session import get_session

from lambda_tuner.twin.wire import Reply

HEADER = "HTTP_SMITHY_PROTOCOL"


def is_cbor(environ: dict[str, Any]) -> bool:
    return str(environ.get(HEADER, "")).lower() == "rpc-v2-cbor"


def to_json_request(environ: dict[str, Any], body: bytes) -> tuple[str, bytes]:
    """Rewrite a CBOR request in place as its awsJson 1.0 twin; returns (operation, new body)."""
    path = str(environ.get("PATH_INFO", ""))
    parts = path.strip("/").split("/")  # service/<ServiceName>/operation/<Operation>
    if len(parts) != 4 or parts[0] != "service" or parts[2] != "operation":
        raise ValueError(f"not a Smithy RPC v2 path: {path!r}")
    target_prefix, operation = parts[1], parts[3]
    decoded = _decode(body) if body else {}
    json_body = json.dumps(decoded, default=_json_default).encode()
    environ.update(
        {
            "PATH_INFO": "/",
            "RAW_URI": "/",
            "CONTENT_TYPE": "application/x-amz-json-1.0",
            "CONTENT_LENGTH": str(len(json_body)),
            "HTTP_X_AMZ_TARGET": f"{target_prefix}.{operation}",
            "wsgi.input": io.BytesIO(json_body),
        }
    )
    return operation, json_body


def to_cbor_reply(service: str, operation: str, reply: Reply) -> Reply:
    """moto's (or the twin's) awsJson answer re-encoded as the CBOR answer AWS would send."""
    passthrough = {"x-amzn-query-error", "x-amzn-requestid", "retry-after"}
    headers = [(k, v) for k, v in reply.headers if k.lower() in passthrough]
    headers += [("smithy-protocol", "rpc-v2-cbor"), ("Content-Type", "application/cbor")]
    payload = json.loads(reply.body) if reply.body.strip() else {}
    if reply.status >= 300:
        code = str(payload.get("__type") or reply.header("x-amzn-errortype") or reply.status)
        message = str(payload.get("message") or payload.get("Message") or "")
        body = _encode_error(code.rsplit("#", 1)[-1], message)
    else:
        body = _encode_output(service, operation, payload)
    return Reply(reply.status, [*headers, ("Content-Length", str(len(body)))], body)


def _decode(body: bytes) -> Any:
    parser = RpcV2CBORParser()
    return parser.parse_data_item(parser.get_peekable_stream_from_bytes(body))


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    raise TypeError(f"cannot carry {type(value).__name__} from CBOR to JSON")


@cache
def _service_model(service: str) -> Any:
    return get_session().get_service_model(service)


def _encode_output(service: str, operation: str, payload: dict[str, Any]) -> bytes:
    shape = _service_model(service).operation_model(operation).output_shape
    serialized = bytearray()
    if shape is not None:
        serializer: Any = RpcV2CBORSerializer()  # its shape-aware encoder is internal; test_cbor.py pins it
        serializer._serialize_data_item(serialized, _known(payload, shape), shape)
    return bytes(serialized)


def _known(payload: dict[str, Any], shape: Any) -> dict[str, Any]:
    """Only modelled members (moto sometimes adds extras that a shape-driven serializer would trip on)."""
    return {k: v for k, v in payload.items() if k in shape.members and v is not None}


def _encode_error(code: str, message: str) -> bytes:
    out = bytearray([0xA2])  # map of two pairs
    for text in ("__type", code, "message", message):
        raw = text.encode()
        out += _head(3, len(raw)) + raw
    return bytes(out)


def _head(major: int, length: int) -> bytes:
    if length < 24:
        return bytes([major << 5 | length])
    if length < 256:
        return bytes([major << 5 | 24, length])
    if length < 65536:
        return bytes([major << 5 | 25]) + struct.pack(">H", length)
    return bytes([major << 5 | 26]) + struct.pack(">I", length)
