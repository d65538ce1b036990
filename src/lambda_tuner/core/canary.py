"""Which recommendations are canary experiments (a trial on part of an alias's traffic), and for how long.

Pure: shared by the cycle (conclusion, verification) and the apply function (routing, alarms).
"""

from __future__ import annotations

from lambda_tuner.core.models import Recommendation


def alias_of(qualifier: str | None) -> str | None:
    """`qualifier` when it names an alias (only an alias can split traffic between versions); None for
    nothing, $LATEST or a version number."""
    if not qualifier or qualifier == "$LATEST" or qualifier.isdigit():
        return None
    return qualifier


def share_text(weight: float | None, alias: str | None) -> str:
    """How much of the traffic an experiment takes, in the words of proposals and digests."""
    if weight is None:
        return "on all traffic"
    return f"as a canary on {weight:.0%} of alias {alias}'s traffic"


def canary_of(rec: Recommendation) -> tuple[str, float] | None:
    """(alias, weight) of a canary experiment, or None for anything else (an all-traffic experiment)."""
    weight, alias = rec.proposed.get("canary_weight"), alias_of(rec.qualifier)
    if rec.kind != "experiment" or not isinstance(weight, int | float) or alias is None:
        return None
    return alias, float(weight)


def trial_days(rec: Recommendation) -> float | None:
    """How long an experiment runs (`max_days`, one cycle's day unless said otherwise); None for any
    other change."""
    if rec.kind != "experiment":
        return None
    days = rec.proposed.get("max_days")
    return float(days) if isinstance(days, int | float) and days > 0 else 1.0


def canary_days(rec: Recommendation) -> float | None:
    """How long a canary runs (as `trial_days`); None if no canary."""
    return trial_days(rec) if canary_of(rec) is not None else None
