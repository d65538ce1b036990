"""What the canary tests share: a function behind an alias and a canary experiment."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from approval_support import NOW, Account, make_rec, provision_account

from lambda_tuner.adapters import aws, secrets
from lambda_tuner.core.models import Recommendation
from lambda_tuner.twin.server import Twin
from lambda_tuner.twin.shapes import cpu_bound
from lambda_tuner.twin.spec import AliasSpec, FunctionSpec
from lambda_tuner.twin.traffic import steady
from lambda_tuner.twin.world import World

FN = "orders-api"
ALIAS = "live"
ACTION = "arn:aws:lambda:us-east-1:123456789012:function:lt-apply"


def behind_alias(account: Account, memory_mb: int = 1024) -> str:
    """A function whose alias `live` serves version 1 (published from $LATEST); returns "1"."""
    account.create_function(FN, memory_mb=memory_mb)
    lam = aws.client("lambda")
    version = str(lam.publish_version(FunctionName=FN)["Version"])
    lam.create_alias(FunctionName=FN, Name=ALIAS, FunctionVersion=version)
    return version


def canary_rec(*, status: str = "APPROVED", **extra: Any) -> Recommendation:
    """The decision's canary experiment (the canary contract's `proposed`): 512 MB for 10 % of `live`."""
    proposed = {
        "memory_mb": 512,
        "canary_weight": 0.1,
        "max_days": 1,
        "stop_if_p99_ms_above": 400.0,
        "best_guess_mb": 512,
    }
    fields: dict[str, Any] = {
        "kind": "experiment",
        "proposed": proposed,
        "qualifier": ALIAS,
        "revision_id": None,
        "status": status,
        **extra,
    }
    return make_rec(**fields)


def alias_state(function: str = FN) -> tuple[str, dict[str, float]]:
    got = aws.client("lambda").get_alias(FunctionName=function, Name=ALIAS)
    return str(got["FunctionVersion"]), dict(got.get("RoutingConfig", {}).get("AdditionalVersionWeights", {}))


def render_behind_alias(*, calls_per_min: float, seed: int) -> World:
    """A twin world with one CPU-bound function `render` (about 175 ms at 1,024 MB, 690 ms at 256 MB, 100 ms
    from 1,769 MB up) whose alias `live` serves version 1 and takes all its calls."""
    spec = FunctionSpec(
        name="render",
        curve=cpu_bound(100.0),
        traffic=steady(calls_per_min),
        memory_mb=1024,
        aliases=(AliasSpec(ALIAS, "1"),),
        invoked=((ALIAS, 1.0),),
    )
    return World([spec], seed=seed, epoch=NOW - timedelta(days=2), now=NOW)


def reset_twin(twin: Twin, world: World, monkeypatch: pytest.MonkeyPatch) -> Account:
    """The twin reset to `world`, boto3 pointed at it, and the template's tables, topic and secret."""
    twin.reset(world)
    for key, value in twin.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    aws.reset_clients()
    secrets.clear_cache()
    return provision_account()
