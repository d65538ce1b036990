"""What the canary tests share: a function behind an alias and a canary experiment."""

from __future__ import annotations

from typing import Any

from approval_support import Account, make_rec

from lambda_tuner.adapters import aws
from lambda_tuner.core.models import Recommendation

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
