"""The approval and apply functions deployed into the twin: a simulated account whose functions have
RevisionIds, whose metrics move with simulated time, and whose alarms invoke the apply function."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from approval_support import NOW, Deployed, provision_account

from lambda_tuner.adapters import aws, secrets
from lambda_tuner.handlers import apply, approval
from lambda_tuner.twin.server import Twin
from lambda_tuner.twin.shapes import cpu_bound, io_bound, memory_hungry
from lambda_tuner.twin.spec import AliasSpec, FunctionSpec
from lambda_tuner.twin.traffic import steady
from lambda_tuner.twin.world import World

APPLY_ARN = "arn:aws:lambda:us-east-1:123456789012:function:lt-apply"


def make_world() -> World:
    """Functions at 1024 MB: healthy, failing 5 % of calls, out of memory below 768 MB, behind an alias;
    and one starved of CPU at 256 MB (about 690 ms a call; 175 ms at 1024 MB)."""
    return World(
        [
            FunctionSpec(name="orders-api", curve=io_bound(40.0), traffic=steady(120.0), memory_mb=1024),
            FunctionSpec(
                name="flaky-api", curve=io_bound(40.0), traffic=steady(120.0), memory_mb=1024, error_rate=0.05
            ),
            FunctionSpec(
                name="hungry-api",
                curve=memory_hungry(5.0, oom_floor_mb=768),
                traffic=steady(120.0),
                memory_mb=1024,
            ),
            FunctionSpec(
                name="checkout",
                curve=io_bound(40.0),
                traffic=steady(120.0),
                memory_mb=1024,
                aliases=(AliasSpec("live", "1"),),
                invoked=(("live", 1.0),),
            ),
            FunctionSpec(name="render-api", curve=cpu_bound(100.0), traffic=steady(120.0), memory_mb=256),
        ],
        seed=3,
        epoch=NOW - timedelta(days=14),
        now=NOW,
    )


@dataclass
class Live:
    twin: Twin
    deployed: Deployed
    url: str

    def revision(self, function: str) -> str:
        return str(aws.client("lambda").get_function_configuration(FunctionName=function)["RevisionId"])


@pytest.fixture(scope="module")
def twin() -> Iterator[Twin]:
    with Twin(make_world()) as running:
        yield running


@pytest.fixture
def live(twin: Twin, monkeypatch: pytest.MonkeyPatch) -> Iterator[Live]:
    twin.reset(make_world())
    for key, value in twin.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    aws.reset_clients()  # clients built for another endpoint must not talk to this one
    secrets.clear_cache()
    account = provision_account()
    for name in ("lt-apply", "lt-approval"):  # deployed by the template; their handlers run in-process
        account.create_function(name, memory_mb=256)
    deployed = Deployed(account, monkeypatch, create=False, extra_env={"LT_ALARM_ACTION_ARN": APPLY_ARN})
    twin.register_handler("lt-apply", apply.handler)
    url = twin.serve_function_url("lt-approval", approval.handler)
    yield Live(twin, deployed, url)
    approval._flow.cache_clear()
    apply._flow.cache_clear()
    aws.reset_clients()
