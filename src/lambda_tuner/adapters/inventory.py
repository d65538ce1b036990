"""Discovering Lambda functions: the region-wide listing every cycle, per-function details when needed.

ListFunctions (with FunctionVersion=ALL, so published versions come for free in the same pages) gives
memory, timeout, architecture, runtime, package type, ephemeral storage, SnapStart, logging config,
RevisionId, CodeSha256 and layers. What it lacks — tags, reserved concurrency, aliases and PC — costs one to
three calls per function, which `read_details` makes only for the functions the collector chooses.

An account that keeps many published versions (SAM's AutoPublishAlias publishes one per deploy: 3,000
functions with 35 versions each are 2,100 pages) would spend the whole control-plane budget on that
listing. `list_functions` therefore stops paging FunctionVersion=ALL once the versions alone would need
more than a cap of pages and lists $LATEST only; a function's versions are then known only through its
aliases (`read_details`), and each one's memory size is read once (`version_memory`) and kept.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lambda_tuner.adapters import aws
from lambda_tuner.core.models import AliasInfo, FunctionConfig, FunctionPolicy

INSIGHTS_LAYER_MARK = "LambdaInsightsExtension"
LIST_PAGE_ITEMS = 50  # ListFunctions returns at most 50 entries a page


class InventoryError(Exception):
    """A Lambda control-plane read failed (after the client's own retries)."""


class FunctionNotFoundError(InventoryError):
    """The function was deleted between the listing and the detail read."""


class LambdaThrottledError(InventoryError):
    """The account's Lambda control-plane quota refused the call even after retries."""


@dataclass(frozen=True)
class Listing:
    """One cycle's ListFunctions: $LATEST configurations, and the published versions of each function.

    `all_versions` False: the listing was of $LATEST only (a version-heavy account), `versions` is empty
    and says nothing about which functions have versions. `pages` counts every page paid for, those of a
    FunctionVersion=ALL listing abandoned at the cap included."""

    latest: dict[str, dict[str, Any]]
    versions: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # name -> version -> config
    pages: int = 0
    all_versions: bool = True


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


def list_functions(client: Any = None, *, version_pages_cap: int | None = None,
                   all_versions: bool = True) -> Listing:
    """Every function in the region (paginated, 50 per page), with its published versions.

    With `version_pages_cap`, paging FunctionVersion=ALL stops as soon as the published versions seen so
    far would need more than that many pages of their own, and the functions are listed again without
    versions ($LATEST only: one entry each). `all_versions` False lists $LATEST only from the start (the
    collector remembers a version-heavy account, so later cycles do not pay the abandoned pages again)."""
    lam = client or aws.client("lambda")
    abandoned = 0
    try:
        if all_versions:
            listing = _all_versions(lam, version_pages_cap)
            if listing.all_versions:
                return listing
            abandoned = listing.pages  # paid for all the same
        latest: dict[str, dict[str, Any]] = {}
        pages = 0
        for page in lam.get_paginator("list_functions").paginate():
            pages += 1
            latest.update((entry["FunctionName"], entry) for entry in page.get("Functions", []))
    except ClientError as exc:
        raise _mapped(exc, "ListFunctions") from exc
    except BotoCoreError as exc:
        raise InventoryError(f"ListFunctions: {exc}") from exc
    return Listing(latest=latest, pages=abandoned + pages, all_versions=False)


def _all_versions(lam: Any, cap: int | None) -> Listing:
    """The FunctionVersion=ALL listing; `all_versions` False when the cap stopped it (its pages were paid)."""
    latest: dict[str, dict[str, Any]] = {}
    versions: dict[str, dict[str, dict[str, Any]]] = {}
    pages = published = 0
    for page in lam.get_paginator("list_functions").paginate(FunctionVersion="ALL"):
        pages += 1
        for entry in page.get("Functions", []):
            name, version = entry["FunctionName"], entry.get("Version", "$LATEST")
            if version == "$LATEST":
                latest[name] = entry
            else:
                versions.setdefault(name, {})[version] = entry
                published += 1
        if cap is not None and published > cap * LIST_PAGE_ITEMS:
            return Listing(latest={}, pages=pages, all_versions=False)
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


def read_details(name: str, *, with_aliases: bool, always_pc: bool = True, client: Any = None) -> Details:
    """Tags and reserved concurrency (GetFunction); aliases and PC when the function has versions.

    `always_pc` False (a $LATEST-only listing, which cannot tell a function with versions): PC is read only
    when the function has an alias; `plan_refresh` sets it for a function known to hold PC on a version.
    Which functions get `with_aliases` from such a listing, and what that misses: `reads_aliases`."""
    lam = client or aws.client("lambda")
    try:
        got = lam.get_function(FunctionName=name)
        reserved = got.get("Concurrency", {}).get("ReservedConcurrentExecutions")
        tags = dict(got.get("Tags") or {})
        if not with_aliases:
            return Details(tags=tags, reserved_concurrency=reserved)
        if always_pc:
            pcs = dict(_pc_configs(lam, name))
            raw = list(_aliases(lam, name))
        else:
            raw = list(_aliases(lam, name))
            pcs = dict(_pc_configs(lam, name)) if raw else {}
        aliases = tuple(_alias(a, pcs.get(a["Name"])) for a in raw)
        alias_names = {a.name for a in aliases}
        on_versions = {q: pc["RequestedProvisionedConcurrentExecutions"] for q, pc in pcs.items()
                       if q not in alias_names}
        return Details(tags=tags, reserved_concurrency=reserved, aliases=aliases, pc_on_versions=on_versions)
    except ClientError as exc:
        raise _mapped(exc, f"details of {name}") from exc
    except BotoCoreError as exc:
        raise InventoryError(f"details of {name}: {exc}") from exc


def version_memory(name: str, version: str, client: Any = None) -> int:
    """A published version's memory size (GetFunctionConfiguration with the version as qualifier): its
    configuration never changes, so the collector reads it once and keeps it."""
    lam = client or aws.client("lambda")
    try:
        return int(lam.get_function_configuration(FunctionName=name, Qualifier=version)["MemorySize"])
    except ClientError as exc:
        raise _mapped(exc, f"version {version} of {name}") from exc
    except BotoCoreError as exc:
        raise InventoryError(f"version {version} of {name}: {exc}") from exc


def alias_versions(aliases: Iterable[AliasInfo]) -> set[str]:
    """The published versions the aliases point to or route a share of their calls to."""
    return {v for a in aliases for v in (a.function_version, *a.routing) if v != "$LATEST"}


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


def fingerprints(name: str, listing: Listing) -> dict[str, str]:
    """What a detail read stores for `unchanged` to compare: "fp" with the version set from a
    FunctionVersion=ALL listing, "fl" ($LATEST's alone) from a $LATEST-only one."""
    entry = listing.latest[name]
    if listing.all_versions:
        return {"fp": fingerprint(entry, listing.versions.get(name, {}))}
    return {"fl": fingerprint(entry)}


def unchanged(name: str, state: Mapping[str, Any], listing: Listing) -> bool:
    """Whether the function is as its last detail read found it. Listings of the two kinds compare what
    both know, $LATEST: switching kinds must not make every function look changed (the budget would go on
    re-reading the whole fleet). A read stored from an ALL listing keeps no $LATEST-only fingerprint (a
    version-light account's state stays as it was), so a $LATEST-only listing compares it directly when
    the function had no versions then, and otherwise takes $LATEST as unchanged when it was last modified
    before the day of that read (one modified that same day is read again, once)."""
    entry = listing.latest[name]
    if listing.all_versions and "fp" in state:
        return bool(state["fp"] == fingerprint(entry, listing.versions.get(name, {})))
    latest = fingerprint(entry)
    if "fl" in state:
        return bool(state["fl"] == latest)
    return state.get("fp") == latest or _modified_before(entry, state.get("day"))


def _modified_before(entry: Mapping[str, Any], day: Any) -> bool:
    try:
        modified = date.fromisoformat(str(entry.get("LastModified", ""))[:10]).toordinal()
    except ValueError:
        return False
    return day is not None and modified < int(day)


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
    with_aliases: frozenset[str] = frozenset()  # of `chosen`: ListAliases and PC read too
    always_pc: frozenset[str] = frozenset()  # of those: PC read even when the function has no alias
    calls: int = 0  # planned, GetFunctionConfiguration reserved for version sizes included
    version_calls: int = 0  # of `calls`: those reserved for version sizes


# A deploy through an alias (SAM's AutoPublishAlias) moves it to one new version: one memory size to read
VERSION_READS_AFTER_CHANGE = 1


def reads_aliases(name: str, listing: Listing, state: Mapping[str, Any] | None, *, fresh: bool) -> bool:
    """Whether a detail read lists the function's aliases (and PC): from an ALL listing, when it has
    published versions. From a $LATEST-only one, which does not say, when the function is new or changed
    (`fresh`), or known from its stored details to have aliases or PC; otherwise GetFunction alone.

    What that misses: an alias or PC added to a function known to have neither, without a change to its
    $LATEST (PC set on a version no alias points to; an alias created on an existing version) is seen only
    when the function next changes, which a deploy does. Accepted: PC is put on an alias (or by SAM on the
    AutoPublishAlias), so the calls reach it, and aliases come with deploys; listing aliases and PC for
    every function read weekly would triple the refresh's cost on exactly the accounts whose listing
    already takes much of the budget."""
    if listing.all_versions:
        return bool(listing.versions.get(name))
    details = (state or {}).get("d") or {}
    return fresh or bool(details.get("a")) or _has_pc(details)


def version_reads(listing: Listing, state: Mapping[str, Any] | None, *, fresh: bool, sized: bool = True,
                  ) -> int:
    """GetFunctionConfiguration calls a detail read is expected to lead to (a $LATEST-only listing): the
    versions its stored aliases name whose memory size is not stored, and after a change at least one.
    None when its versions are not `sized` this cycle (see `collect_metrics.read_version_sizes`)."""
    if listing.all_versions or not sized:
        return 0
    state = state or {}
    sizes = state.get("vm") or {}
    named = {v for a in (state.get("d") or {}).get("a", [])
             for v in (a.get("function_version"), *(a.get("routing") or {})) if v and v != "$LATEST"}
    missing = len(named - set(sizes))
    return max(missing, VERSION_READS_AFTER_CHANGE) if fresh else missing


def detail_cost(name: str, listing: Listing, state: Mapping[str, Any] | None = None, *,
                fresh: bool = False, sized: bool = True) -> int:
    """GetFunction, plus ListAliases and ListProvisionedConcurrencyConfigs when it has versions (see
    `reads_aliases`), plus, from a $LATEST-only listing, the version sizes to read (`version_reads`)."""
    if not reads_aliases(name, listing, state, fresh=fresh):
        return 1
    return 3 + version_reads(listing, state, fresh=fresh, sized=sized)


def is_due(name: str, day: int, last_refresh_day: int | None) -> bool:
    """Rolling refresh: a fixed seventh of the fleet each day (by a stable hash), and anything overdue."""
    if last_refresh_day is not None and day - last_refresh_day >= REFRESH_DAYS:
        return True
    return zlib.crc32(name.encode()) % REFRESH_DAYS == day % REFRESH_DAYS


def plan_refresh(
    listing: Listing, known: Mapping[str, Mapping[str, Any]], *, day: int, budget_calls: int,
    traffic: Mapping[str, float] | None = None, exclude: Iterable[str] = (), unsized: Iterable[str] = (),
) -> RefreshPlan:
    """Who gets detail calls this cycle, most important first, within the control-plane budget.

    Priority: changed since the last read (new RevisionId, LastModified, CodeSha256 or, from an ALL
    listing, version set) > has provisioned concurrency (it can change without a new revision and costs
    money every hour) > new, busiest first > due in the rolling weekly refresh. `unsized`: functions whose
    versions' memory sizes will not be read this cycle (no version reads are planned for them).
    """
    skip, seen, no_sizes = set(exclude), traffic or {}, set(unsized)
    ranked: list[tuple[int, float, str, str]] = []
    for name in listing.latest:
        if name in skip:
            continue
        state = known.get(name)
        if state is None or ("fp" not in state and "fl" not in state):  # never read (or deferred so far)
            ranked.append((2, -seen.get(name, 0.0), name, "new"))
        elif not unchanged(name, state, listing):
            ranked.append((0, 0.0, name, "changed"))
        elif _has_pc(state.get("d") or {}):
            ranked.append((1, 0.0, name, "has provisioned concurrency"))
        elif is_due(name, day, state.get("day")):
            ranked.append((3, 0.0, name, "weekly refresh"))
    chosen: list[str] = []
    why: dict[str, str] = {}
    deferred: dict[str, str] = {}
    with_aliases: set[str] = set()
    always_pc: set[str] = set()
    left = budget_calls
    version_calls = 0
    for _, _, name, reason in sorted(ranked):
        state, fresh = known.get(name), reason in ("new", "changed")
        cost = detail_cost(name, listing, state, fresh=fresh, sized=name not in no_sizes)
        if cost <= left:
            chosen.append(name)
            why[name] = reason
            left -= cost
            if cost > 1:  # aliases read too
                with_aliases.add(name)
                version_calls += version_reads(listing, state, fresh=fresh, sized=name not in no_sizes)
                if listing.all_versions or ((state or {}).get("d") or {}).get("pv"):
                    always_pc.add(name)
        else:
            deferred[name] = f"{reason}; details deferred to a later cycle (control-plane budget)"
    return RefreshPlan(tuple(chosen), deferred, why, frozenset(with_aliases), frozenset(always_pc),
                       calls=budget_calls - left, version_calls=version_calls)


def _has_pc(details: Mapping[str, Any]) -> bool:
    return bool(details.get("pv")) or any(a.get("pc_requested") for a in details.get("a", []))
