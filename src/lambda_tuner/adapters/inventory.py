"""Discovering Lambda functions: the region-wide listing every cycle, per-function details when needed.

ListFunctions (with FunctionVersion=ALL, so published versions come for free in the same pages) gives
memory, timeout, architecture, runtime, package type, ephemeral storage, SnapStart, logging config,
RevisionId, CodeSha256 and layers. What it lacks — tags, reserved concurrency, aliases and PC — costs one to
three calls per function, which `read_details` makes only for the functions the collector chooses.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lambda_tuner.adapters import aws
from lambda_tuner.core.models import AliasInfo, FunctionConfig, FunctionPolicy

INSIGHTS_LAYER_MARK = "LambdaInsightsExtension"


class InventoryError(Exception):
    """A Lambda control-plane read failed (after the client's own retries)."""


class FunctionNotFoundError(InventoryError):
    """The function was deleted between the listing and the detail read."""


class LambdaThrottledError(InventoryError):
    """The account's Lambda control-plane quota refused the call even after retries."""


@dataclass(frozen=True)
class Listing:
    """One cycle's ListFunctions: $LATEST configurations, and the published versions of each function."""

    latest: dict[str, dict[str, Any]]
    versions: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # name -> version -> config
    pages: int = 0


@dataclass(frozen=True)
class Details:
    tags: dict[str, str]
    reserved_concurrency: int | None
    aliases: tuple[AliasInfo, ...] = ()
    pc_on_versions: dict[str, int] = field(default_factory=dict)

    def to_state(self) -> dict[str, Any]:
        full = {"t": self.tags, "rc": self.reserved_concurrency,
                "a": [a.model_dump(exclude_defaults=True) for a in self.aliases], "pv": self.pc_on_versions}
        # most functions have none of these; a reservation of 0 (the function switched off) is one
        return {k: v for k, v in full.items() if v or (k == "rc" and v is not None)}

    @classmethod
    def from_state(cls, raw: dict[str, Any]) -> Details:
        return cls(tags=dict(raw.get("t", {})), reserved_concurrency=raw.get("rc"),
                   aliases=tuple(AliasInfo.model_validate(a) for a in raw.get("a", [])),
                   pc_on_versions={k: int(v) for k, v in raw.get("pv", {}).items()})


def _mapped(exc: ClientError, what: str) -> InventoryError:
    code = exc.response.get("Error", {}).get("Code", "")
    if code == "ResourceNotFoundException":
        return FunctionNotFoundError(f"{what}: not found (deleted during the cycle?)")
    if code in ("TooManyRequestsException", "ThrottlingException"):
        return LambdaThrottledError(f"{what}: throttled by the Lambda control-plane quota")
    return InventoryError(f"{what}: {code or 'error'}: {exc}")


def list_functions(client: Any = None) -> Listing:
    """Every function in the region (paginated, 50 per page), with its published versions."""
    lam = client or aws.client("lambda")
    latest: dict[str, dict[str, Any]] = {}
    versions: dict[str, dict[str, dict[str, Any]]] = {}
    pages = 0
    try:
        for page in lam.get_paginator("list_functions").paginate(FunctionVersion="ALL"):
            pages += 1
            for entry in page.get("Functions", []):
                name, version = entry["FunctionName"], entry.get("Version", "$LATEST")
                if version == "$LATEST":
                    latest[name] = entry
                else:
                    versions.setdefault(name, {})[version] = entry
    except ClientError as exc:
        raise _mapped(exc, "ListFunctions") from exc
    except BotoCoreError as exc:
        raise InventoryError(f"ListFunctions: {exc}") from exc
    return Listing(latest=latest, versions=versions, pages=pages)


def unreserved_concurrency(client: Any = None) -> int | None:
    """The account's unreserved concurrency (what new PC and reservations draw from)."""
    lam = client or aws.client("lambda")
    try:
        limit = lam.get_account_settings().get("AccountLimit", {})
    except ClientError as exc:
        raise _mapped(exc, "GetAccountSettings") from exc
    except BotoCoreError as exc:
        raise InventoryError(f"GetAccountSettings: {exc}") from exc
    value = limit.get("UnreservedConcurrentExecutions")
    return int(value) if value is not None else None


def read_details(name: str, *, with_aliases: bool, client: Any = None) -> Details:
    """Tags and reserved concurrency (GetFunction); aliases and PC when the function has versions."""
    lam = client or aws.client("lambda")
    try:
        got = lam.get_function(FunctionName=name)
        reserved = got.get("Concurrency", {}).get("ReservedConcurrentExecutions")
        tags = dict(got.get("Tags") or {})
        if not with_aliases:
            return Details(tags=tags, reserved_concurrency=reserved)
        pcs = dict(_pc_configs(lam, name))
        aliases = tuple(_alias(a, pcs.get(a["Name"])) for a in _aliases(lam, name))
        alias_names = {a.name for a in aliases}
        on_versions = {q: pc["RequestedProvisionedConcurrentExecutions"] for q, pc in pcs.items()
                       if q not in alias_names}
        return Details(tags=tags, reserved_concurrency=reserved, aliases=aliases, pc_on_versions=on_versions)
    except ClientError as exc:
        raise _mapped(exc, f"details of {name}") from exc
    except BotoCoreError as exc:
        raise InventoryError(f"details of {name}: {exc}") from exc


def _aliases(lam: Any, name: str) -> Iterator[dict[str, Any]]:
    for page in lam.get_paginator("list_aliases").paginate(FunctionName=name):
        yield from page.get("Aliases", [])


def _pc_configs(lam: Any, name: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for page in lam.get_paginator("list_provisioned_concurrency_configs").paginate(FunctionName=name):
        for pc in page.get("ProvisionedConcurrencyConfigs", []):
            yield pc["FunctionArn"].rsplit(":", 1)[-1], pc


def _alias(raw: dict[str, Any], pc: dict[str, Any] | None) -> AliasInfo:
    weights = (raw.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    return AliasInfo(
        name=raw["Name"], function_version=raw["FunctionVersion"],
        routing={str(k): float(v) for k, v in weights.items()},
        pc_requested=pc.get("RequestedProvisionedConcurrentExecutions") if pc else None,
        pc_allocated=pc.get("AllocatedProvisionedConcurrentExecutions") if pc else None,
        pc_status=pc.get("Status") if pc else None,
    )


def has_insights(entry: dict[str, Any]) -> bool:
    return any(INSIGHTS_LAYER_MARK in layer.get("Arn", "") for layer in entry.get("Layers") or [])


def fingerprint(entry: dict[str, Any], versions: Iterable[str] = ()) -> str:
    """What changes whenever the function's code or configuration does, or a version is published."""
    parts = [str(entry.get(k, "")) for k in ("RevisionId", "LastModified", "CodeSha256")]
    text = "|".join([*parts, ",".join(sorted(versions, key=lambda v: int(v) if v.isdigit() else 0))])
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()  # 16 characters kept per function


def to_config(entry: dict[str, Any], details: Details | None, policy: FunctionPolicy, iac: str | None,
              ) -> FunctionConfig:
    name = entry["FunctionName"]
    logging = entry.get("LoggingConfig") or {}
    arches = entry.get("Architectures") or ["x86_64"]
    return FunctionConfig(
        name=name, arn=entry["FunctionArn"], memory_mb=int(entry["MemorySize"]),
        timeout_s=int(entry.get("Timeout", 3)), arch=arches[0], runtime=entry.get("Runtime"),
        package_type=entry.get("PackageType", "Zip"),
        ephemeral_mb=int((entry.get("EphemeralStorage") or {}).get("Size", 512)),
        reserved_concurrency=details.reserved_concurrency if details else None,
        snapstart=(entry.get("SnapStart") or {}).get("ApplyOn") == "PublishedVersions",
        log_group=logging.get("LogGroup") or f"/aws/lambda/{name}",
        log_format=logging.get("LogFormat", "Text"), system_log_level=logging.get("SystemLogLevel"),
        last_modified=entry.get("LastModified"), revision_id=entry.get("RevisionId"),
        code_sha256=entry.get("CodeSha256"),
        aliases=details.aliases if details else (),
        pc_on_versions=dict(details.pc_on_versions) if details else {},
        tags=dict(details.tags) if details else {}, iac=iac, policy=policy,
    )


# ---------------------------------------------------------------- which functions get detail calls

REFRESH_DAYS = 7  # every function's tags, aliases and PC are re-read at least once a week


@dataclass(frozen=True)
class RefreshPlan:
    chosen: tuple[str, ...]
    deferred: dict[str, str]  # function -> why its details were not read this cycle
    why: dict[str, str]  # function -> why it was chosen


def detail_cost(name: str, listing: Listing) -> int:
    """GetFunction, plus ListAliases and ListProvisionedConcurrencyConfigs when it has versions."""
    return 3 if listing.versions.get(name) else 1


def is_due(name: str, day: int, last_refresh_day: int | None) -> bool:
    """Rolling refresh: a fixed seventh of the fleet each day (by a stable hash), and anything overdue."""
    if last_refresh_day is not None and day - last_refresh_day >= REFRESH_DAYS:
        return True
    return zlib.crc32(name.encode()) % REFRESH_DAYS == day % REFRESH_DAYS


def plan_refresh(
    listing: Listing, known: Mapping[str, Mapping[str, Any]], *, day: int, budget_calls: int,
    traffic: Mapping[str, float] | None = None, exclude: Iterable[str] = (),
) -> RefreshPlan:
    """Who gets detail calls this cycle, most important first, within the control-plane budget.

    Priority: changed since the last read (new RevisionId, LastModified, CodeSha256 or version set) >
    has provisioned concurrency (it can change without a new revision and costs money every hour) >
    new, busiest first > due in the rolling weekly refresh.
    """
    skip, seen = set(exclude), traffic or {}
    ranked: list[tuple[int, float, str, str]] = []
    for name, entry in listing.latest.items():
        if name in skip:
            continue
        state = known.get(name)
        fp = fingerprint(entry, listing.versions.get(name, {}))
        if state is None or "fp" not in state:  # never read (or deferred so far): new
            ranked.append((2, -seen.get(name, 0.0), name, "new"))
        elif state.get("fp") != fp:
            ranked.append((0, 0.0, name, "changed"))
        elif _has_pc(state.get("d") or {}):
            ranked.append((1, 0.0, name, "has provisioned concurrency"))
        elif is_due(name, day, state.get("day")):
            ranked.append((3, 0.0, name, "weekly refresh"))
    chosen: list[str] = []
    why: dict[str, str] = {}
    deferred: dict[str, str] = {}
    left = budget_calls
    for _, _, name, reason in sorted(ranked):
        cost = detail_cost(name, listing)
        if cost <= left:
            chosen.append(name)
            why[name] = reason
            left -= cost
        else:
            deferred[name] = f"{reason}; details deferred to a later cycle (control-plane budget)"
    return RefreshPlan(tuple(chosen), deferred, why)


def _has_pc(details: Mapping[str, Any]) -> bool:
    return bool(details.get("pv")) or any(a.get("pc_requested") for a in details.get("a", []))
