"""Helpers for the twin server tests: a small hand-made fleet whose truths the tests can reason about."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.config import Config

from lambda_tuner.twin.server import Twin
from lambda_tuner.twin.shapes import cpu_bound, io_bound
from lambda_tuner.twin.spec import AliasSpec, FunctionSpec
from lambda_tuner.twin.traffic import steady
from lambda_tuner.twin.world import World

EPOCH = datetime(2026, 11, 1, tzinfo=UTC)
START = EPOCH + timedelta(days=3)
NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})


def small_fleet() -> list[FunctionSpec]:
    """A CPU-bound function, an alias with PC and routing, a JSON-logged one, and 3 quiet ones."""
    return [
        FunctionSpec(
            name="cruncher", curve=cpu_bound(800.0), traffic=steady(120.0), memory_mb=512, insights=True
        ),
        FunctionSpec(
            name="checkout",
            curve=io_bound(40.0),
            traffic=steady(300.0),
            memory_mb=1024,
            aliases=(AliasSpec("live", "2", routing=(("1", 0.1),), pc=4),),
            invoked=(("live", 1.0),),
            tags={"team": "payments"},
        ),
        FunctionSpec(
            name="json-logger",
            curve=io_bound(20.0),
            traffic=steady(30.0),
            log_format="JSON",
            system_log_level="INFO",
            log_group="/custom/json-logger",
        ),
        *(FunctionSpec(name=f"quiet-{i}", curve=io_bound(10.0), traffic=steady(1.0)) for i in range(3)),
    ]


def make_world(specs: list[FunctionSpec] | None = None, now: datetime = START) -> World:
    return World(specs or small_fleet(), seed=11, epoch=EPOCH, now=now)


def client(twin: Twin, service: str, config: Config | None = None) -> Any:
    return boto3.client(
        service,
        endpoint_url=twin.endpoint_url,
        region_name=twin.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=config,
    )
