"""Helpers for the collection tests: a small fleet whose every function exercises one rule, and clients."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.config import Config

from lambda_tuner.collect import CollectResult, collect
from lambda_tuner.twin.server import Twin
from lambda_tuner.twin.shapes import cpu_bound, io_bound
from lambda_tuner.twin.spec import AliasSpec, FunctionSpec
from lambda_tuner.twin.traffic import rare, steady

EPOCH = datetime(2026, 11, 1, tzinfo=UTC)
NOW = EPOCH + timedelta(days=15)
P = "lambda-tuner:"
FAST_RETRIES = Config(retries={"mode": "standard", "max_attempts": 2}, connect_timeout=5, read_timeout=30)


def fleet() -> list[FunctionSpec]:
    return [
        FunctionSpec(
            name="cruncher",
            curve=cpu_bound(800.0),
            traffic=steady(120.0),
            memory_mb=512,
            tags={f"{P}mode": "auto", "aws:cloudformation:stack-name": "orders"},
        ),
        FunctionSpec(
            name="bad-tags", curve=io_bound(30.0), traffic=steady(20.0), tags={f"{P}max-mb": "huge"}
        ),
        FunctionSpec(
            name="checkout",
            curve=io_bound(40.0),
            traffic=steady(300.0),
            memory_mb=1024,
            aliases=(AliasSpec("live", "2", routing=(("1", 0.1),), pc=4),),
            invoked=(("live", 1.0),),
        ),
        FunctionSpec(
            name="json-info",
            curve=io_bound(20.0),
            traffic=steady(30.0),
            log_format="JSON",
            log_group="/custom/json-info",
        ),
        FunctionSpec(
            name="json-warn",
            curve=io_bound(20.0),
            traffic=steady(30.0),
            log_format="JSON",
            system_log_level="WARN",
        ),
        FunctionSpec(
            name="shared-a", curve=io_bound(20.0), traffic=steady(10.0), memory_mb=256, log_group="/shared/ab"
        ),
        FunctionSpec(
            name="shared-b", curve=io_bound(20.0), traffic=steady(10.0), memory_mb=512, log_group="/shared/ab"
        ),
        FunctionSpec(name="shared-c", curve=io_bound(20.0), traffic=steady(10.0), log_group="/shared/cd"),
        FunctionSpec(name="shared-d", curve=io_bound(20.0), traffic=steady(10.0), log_group="/shared/cd"),
        FunctionSpec(name="idle", curve=io_bound(20.0), traffic=rare(0.0)),
    ]


class FakeClock:
    """Virtual time: sleeping moves it, nothing waits for real."""

    def __init__(self) -> None:
        self.t = 0.0

    def sleep(self, seconds: float) -> None:
        self.t += seconds

    def monotonic(self) -> float:
        return self.t


def clients(twin: Twin, config: Config | None = FAST_RETRIES) -> dict[str, Any]:
    def make(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=twin.endpoint_url,
            region_name=twin.region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=config,
        )

    return {
        "lambda_client": make("lambda"),
        "cloudwatch_client": make("cloudwatch"),
        "logs_client": make("logs"),
    }


def run_collect(
    twin: Twin,
    now: datetime = NOW,
    state: dict[str, Any] | None = None,
    clock: FakeClock | None = None,
    **kw: Any,
) -> CollectResult:
    clock = clock or FakeClock()
    twin.queries.clock = clock.monotonic  # Insights queries take their time on the same fake clock
    return collect(
        now, 14, P, state or {}, sleep=clock.sleep, monotonic=clock.monotonic, **{**clients(twin), **kw}
    )


def record_requests(client: Any) -> list[tuple[str, dict[str, Any]]]:
    """Every call `client` makes from now on, in order: its operation and the parameters it was given
    (retries are not repeated here; the twin's `calls` counts those)."""
    seen: list[tuple[str, dict[str, Any]]] = []

    def note(params: dict[str, Any], model: Any, **_: Any) -> None:
        seen.append((model.name, dict(params)))

    client.meta.events.register("provide-client-params.lambda", note)
    return seen
