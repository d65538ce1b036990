"""Reading a function's tags: the per-function policy under a configurable prefix, and IaC ownership.

Tag schema (prefix default `lambda-tuner:`):
  mode                  off | recommend | approve | auto
  strategy              default | cost | speed | balanced | balanced:<weight in [0, 1]>
  p95-ms, p99-ms        positive number of milliseconds (latency ceilings)
  p99-allowance         how much worse p99 may get under `default`: a fraction up to 0.5, `0.15` for 15 %
                        (Lambda refuses `%` in a tag value; `15%` is still read, should one arrive)
  min-mb, max-mb        integers in 128..10240, min-mb <= max-mb
  cold-start-objective  free text up to 64 characters (e.g. `max-rate=0.005`, `none`), passed to the PC policy

Any invalid value is recorded in `FunctionPolicy.errors` and the offending field stays unset; the decision
core treats a policy with errors as "no changes for this function". Unknown keys under the prefix are errors
too (a typo such as `lambda-tuner:mdoe` must not be silently ignored).

Infrastructure-as-code markers (first match wins, in this order):
  aws:cloudformation:stack-name   -> "cloudformation:<stack>" (covers SAM, CDK and the Serverless
                                     Framework, which all deploy through CloudFormation)
  lambda:createdBy = SAM          -> "sam"
  aws:cdk:path or cdk-*           -> "cdk"
  pulumi:project / pulumi:stack   -> "pulumi:<project>" (Pulumi's conventional stack tags)
  STAGE + serverless* / sls*      -> "serverless"
  terraform / ManagedBy=terraform -> "terraform" (Terraform adds no tag of its own: these are the
                                     common conventions; managed-by / ManagedBy / managed_by naming
                                     terraform, pulumi, cdk, serverless, cloudformation or sam count too)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import get_args

from lambda_tuner.core.models import (
    MAX_MEMORY_MB,
    MAX_P99_ALLOWANCE,
    MIN_MEMORY_MB,
    FunctionPolicy,
    Mode,
    Strategy,
)

KNOWN_KEYS = (
    "mode", "strategy", "p95-ms", "p99-ms", "p99-allowance", "min-mb", "max-mb", "cold-start-objective"
)
_MODES: tuple[str, ...] = get_args(Mode)
_STRATEGIES: tuple[str, ...] = get_args(Strategy)
_MANAGED_BY_KEYS = ("managed-by", "managedby", "managed_by")


def parse_policy(tags: Mapping[str, str], prefix: str) -> FunctionPolicy:
    """The policy the tags ask for; never raises — every problem lands in `errors`."""
    fields: dict[str, object] = {}
    errors: list[str] = []
    for key, raw in sorted(tags.items()):
        if not key.startswith(prefix):
            continue
        name, value = key[len(prefix) :], raw.strip()
        try:
            fields.update(_parse_one(name, value))
        except ValueError as exc:
            errors.append(f"tag {key}={raw!r}: {exc}")
    low, high = fields.get("min_mb"), fields.get("max_mb")
    if isinstance(low, int) and isinstance(high, int) and low > high:
        errors.append(f"tags {prefix}min-mb={low} and {prefix}max-mb={high}: min-mb is above max-mb")
        fields.pop("min_mb"), fields.pop("max_mb")
    return FunctionPolicy.model_validate({**fields, "errors": tuple(errors)})


def _parse_one(name: str, value: str) -> dict[str, object]:
    if name == "mode":
        if value not in _MODES:
            raise ValueError(f"mode must be one of {', '.join(_MODES)}")
        return {"mode": value}
    if name == "strategy":
        return _parse_strategy(value)
    if name in ("p95-ms", "p99-ms"):
        return {name.replace("-", "_"): _positive_number(value)}
    if name == "p99-allowance":
        return {"p99_allowance": _fraction(value)}
    if name in ("min-mb", "max-mb"):
        return {name.replace("-", "_"): _memory(value)}
    if name == "cold-start-objective":
        if not value or len(value) > 64:
            raise ValueError("cold-start-objective must be 1 to 64 characters")
        return {"cold_start_objective": value}
    raise ValueError(f"unknown setting; known settings are {', '.join(KNOWN_KEYS)}")


def _parse_strategy(value: str) -> dict[str, object]:
    base, _, weight = value.partition(":")
    if base not in _STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(_STRATEGIES)} (balanced may carry :<weight>)")
    if not weight:
        return {"strategy": base}
    if base != "balanced":
        raise ValueError("only the balanced strategy takes a weight")
    number = _number(weight)
    if not 0.0 <= number <= 1.0:
        raise ValueError("balanced weight must be between 0 and 1")
    return {"strategy": base, "balanced_weight": number}


def _number(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not a finite number")
    return number


def _positive_number(value: str) -> float:
    number = _number(value)
    if number <= 0:
        raise ValueError("must be a positive number of milliseconds")
    return number


def _fraction(value: str) -> float:
    """`0.15` (or `15%`, which Lambda does not let a tag value hold) as 0.15, from 0 to MAX_P99_ALLOWANCE.
    Larger numbers are refused rather than guessed at: `15` could mean 15 % or 1,500 %, and `0.5` meant
    as half a per cent would read as 50 % slower allowed."""
    percent = value.endswith("%")
    number = _number(value.removesuffix("%").strip())
    fraction = number / 100 if percent else number
    if not 0.0 <= fraction <= MAX_P99_ALLOWANCE:
        raise ValueError(
            f"must be a fraction from 0 to {MAX_P99_ALLOWANCE:g} ({MAX_P99_ALLOWANCE:.0%}): `0.15` for 15% "
            "(no tag value holds %, and a larger number reads like a per cent)"
        )
    return fraction


def _memory(value: str) -> int:
    if not value.isdigit():
        raise ValueError("must be a whole number of MB")
    mb = int(value)
    if not MIN_MEMORY_MB <= mb <= MAX_MEMORY_MB:
        raise ValueError(f"must be between {MIN_MEMORY_MB} and {MAX_MEMORY_MB} MB")
    return mb


def detect_iac(tags: Mapping[str, str]) -> str | None:
    """Which infrastructure-as-code tool owns the function, from the tags those tools leave."""
    lowered = {k.lower(): v for k, v in tags.items()}
    for rule in _IAC_RULES:
        if found := rule(lowered):
            return found
    return None


def _cloudformation(t: Mapping[str, str]) -> str | None:
    stack = t.get("aws:cloudformation:stack-name")
    return f"cloudformation:{stack}" if stack else None


def _sam(t: Mapping[str, str]) -> str | None:
    return "sam" if t.get("lambda:createdby", "").upper() == "SAM" else None


def _cdk(t: Mapping[str, str]) -> str | None:
    return "cdk" if "aws:cdk:path" in t or any(k.startswith("cdk-") for k in t) else None


def _pulumi(t: Mapping[str, str]) -> str | None:
    project = t.get("pulumi:project") or t.get("pulumi:stack")
    return f"pulumi:{project}" if project else None


def _serverless(t: Mapping[str, str]) -> str | None:
    return "serverless" if "stage" in t and any(k.startswith(("serverless", "sls")) for k in t) else None


def _managed_by(t: Mapping[str, str]) -> str | None:
    for key in _MANAGED_BY_KEYS:
        tool = t.get(key, "").strip().lower()
        if tool in ("terraform", "pulumi", "cdk", "serverless", "cloudformation", "sam"):
            return tool
    return "terraform" if "terraform" in t else None


_IAC_RULES: tuple[Callable[[Mapping[str, str]], str | None], ...] = (
    _cloudformation, _sam, _cdk, _pulumi, _serverless, _managed_by,
)
