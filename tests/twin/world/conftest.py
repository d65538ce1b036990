"""Shared builders for the world's tests: small hand-made fleets and GetMetricData query entries."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lambda_tuner.twin import shapes, traffic
from lambda_tuner.twin.fleet import AliasSpec, FunctionSpec
from lambda_tuner.twin.world import World

EPOCH = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday
SHARED = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"

Query = Callable[..., dict[str, Any]]


@pytest.fixture
def epoch() -> datetime:
    return EPOCH


@pytest.fixture
def q() -> Query:
    """Build one MetricDataQueries entry the way boto3 takes it."""
    counter = iter(range(10_000))

    def build(
        function: str, metric: str, stat: str, period: int = 3600, namespace: str = "AWS/Lambda", **dims: str
    ) -> dict[str, Any]:
        name_key = "function_name" if namespace == "LambdaInsights" else "FunctionName"
        dimensions = [{"Name": name_key, "Value": function}] + [
            {"Name": k, "Value": v} for k, v in dims.items()
        ]
        return {
            "Id": f"q{next(counter)}",
            "MetricStat": {
                "Metric": {"Namespace": namespace, "MetricName": metric, "Dimensions": dimensions},
                "Period": period,
                "Stat": stat,
            },
        }

    return build


@pytest.fixture
def small_specs() -> list[FunctionSpec]:
    return [
        FunctionSpec("cpu", shapes.cpu_bound(200), traffic.steady(30, seed=1), memory_mb=512),
        FunctionSpec(
            "io", shapes.io_bound(300), traffic.steady(20, seed=2), memory_mb=1024, log_format="JSON"
        ),
        FunctionSpec(
            "quiet",
            shapes.io_bound(50),
            traffic.steady(10, seed=3),
            memory_mb=256,
            log_format="JSON",
            system_log_level="WARN",
        ),
        FunctionSpec(
            "aliased",
            shapes.mixed(50, 100),
            traffic.steady(40, seed=4),
            memory_mb=1024,
            aliases=(AliasSpec("live", "3", routing=(("4", 0.25),), pc=4),),
            invoked=(("live", 1.0),),
        ),
        FunctionSpec(
            "idle-pc",
            shapes.io_bound(100),
            traffic.steady(0.2, seed=5),
            memory_mb=512,
            aliases=(AliasSpec("live", "2", pc=10),),
            invoked=(("live", 1.0),),
        ),
        FunctionSpec(
            "hungry",
            shapes.memory_hungry(300, 900),
            traffic.steady(5, seed=6),
            memory_mb=1024,
            mem_base_mb=870,
            insights=True,
            cpu_fraction=0.8,
        ),
    ]


@pytest.fixture
def world(small_specs: list[FunctionSpec]) -> World:
    return World(small_specs, seed=11, epoch=EPOCH, now=EPOCH + timedelta(days=3))
