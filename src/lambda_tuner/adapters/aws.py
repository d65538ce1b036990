"""Building boto3 clients once per container, with retries, timeouts and call accounting.

Endpoints come from the standard settings (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_<SERVICE>`), so the
same code talks to AWS or to a local emulator without knowing which.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.utils import parse_timestamp

CLIENT_CONFIG = Config(
    retries={"mode": "adaptive", "max_attempts": 8},
    connect_timeout=5,
    read_timeout=30,
    user_agent_extra="lambda-tuner/0.1",
)

# A person waits on the approval page, and its function has 15 s: calls there give up within seconds
# (2 attempts of at most 2 s to connect and 4 s to read) and the page says "try again", instead of the
# function timing out on the agent's patient settings.
INTERACTIVE_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 2},
    connect_timeout=2,
    read_timeout=4,
    user_agent_extra="lambda-tuner/0.1",
)


class ApiCounter:
    """Counts AWS API calls by `service.Operation` (retries included), for the cycle's self-accounting."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()

    def attach(self, client: Any) -> Any:
        service = client.meta.service_model.service_name

        def count(model: Any, **_: Any) -> None:
            with self._lock:
                self.calls[f"{service}.{model.name}"] += 1

        client.meta.events.register("before-call", count)
        return client

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.calls)

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()


def fast_timestamp(value: Any) -> datetime:
    """Epoch numbers (CloudWatch's CBOR timestamps) straight to UTC datetimes.

    botocore's default parser converts every timestamp through the local time zone; for a 14-day series
    of minutes that is seconds of CPU per call. Strings keep botocore's parser.
    """
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    parsed: datetime = parse_timestamp(value)
    return parsed


def session() -> boto3.session.Session:
    core = botocore.session.get_session()
    core.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=fast_timestamp)
    return boto3.session.Session(botocore_session=core)


COUNTER = ApiCounter()
_clients: dict[tuple[str, str | None, bool], Any] = {}
_lock = threading.Lock()


def client(service: str, region: str | None = None, *, interactive: bool = False) -> Any:
    """One client per service and region for the life of the container (reused across warm invokes);
    `interactive`: with INTERACTIVE_CONFIG, for calls a person waits on."""
    key = (service, region, interactive)
    config = INTERACTIVE_CONFIG if interactive else CLIENT_CONFIG
    with _lock:
        if key not in _clients:
            _clients[key] = COUNTER.attach(
                session().client(service, region_name=region, config=config)  # type: ignore[call-overload]
            )
        return _clients[key]


def reset_clients() -> None:
    """Forget cached clients (tests and the twin change endpoints between runs)."""
    with _lock:
        _clients.clear()
