"""The collection's working state: what one cycle has read so far, and what it hands the next cycle."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from lambda_tuner.adapters import inventory
from lambda_tuner.core import epochs as ep
from lambda_tuner.core.cost import MONTH_DAYS, invocation_cost
from lambda_tuner.core.models import FunctionPolicy, Inventory
from lambda_tuner.core.pricing import default_prices
from lambda_tuner.core.tags import detect_iac, parse_policy

HOUR = 3600
MINUTE = 60
PER_MINUTE_DAYS = 14  # per-minute concurrency: two weeks show the daily and the weekly pattern
PC_QUESTION_INVOCATIONS_PER_HOUR = 600
HIDING_LEVELS = ("WARN", "ERROR", "FATAL")  # JSON system log levels that drop platform.report records
STATE_VERSION = 1
CONTROL_PLANE_BUDGET_S = 420.0  # of a 900 s invocation: leaves room for metrics, logs and decisions
# No Logs Insights query starts later than this into the cycle: one started then runs at most its 300 s
# timeout, which still leaves a 900 s invocation time to decide and save; the rest wait for the next cycle.
LOGS_START_BY_S = 480.0
# The FunctionVersion=ALL listing may spend this share of the control-plane budget on published versions
# (210 pages, 10,500 versions, at the defaults); past it the functions are listed $LATEST only.
VERSION_PAGES_SHARE = 0.10
VERSION_HEAVY_KEY = "lm"  # shared state: the day the listing last found the account past that share
MIN_MONTHLY_BILL_USD = 1.0  # below this a function's detail metrics cost over 1 % of what tuning could save


class CollectError(Exception):
    """The collection cannot go on at all (the function listing itself could not be read)."""


@dataclass(frozen=True)
class Clients:
    lam: Any
    cw: Any
    logs: Any


@dataclass
class Run:
    now: datetime
    start: datetime
    end: datetime
    prefix: str
    state: dict[str, Any]
    history: dict[str, list[ep.HistoryItem]]  # the agent's memory changes and canaries, per function
    exclude: set[str]
    min_bill_usd: float = MIN_MONTHLY_BILL_USD
    below_mark: dict[str, str] = field(default_factory=dict)  # function -> why its details are not read
    census_skipped: dict[str, str] = field(default_factory=dict)  # quiet functions not due today -> why
    listing: inventory.Listing | None = None
    version_heavy_day: int | None = None  # the day an ALL listing last passed the cap (None: it did not)
    budget_calls: int = 0
    unreserved: int | None = None
    series: dict[tuple[str, ...], Mapping[datetime, float]] = field(default_factory=dict)
    traffic: dict[str, float] = field(default_factory=dict)
    metric_problems: dict[str, list[str]] = field(default_factory=dict)
    details: dict[str, inventory.Details] = field(default_factory=dict)
    version_reads: dict[str, dict[str, int]] = field(default_factory=dict)  # this cycle's: version -> MB
    refreshed: set[str] = field(default_factory=set)
    deferred: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    deleted: dict[str, str] = field(default_factory=dict)
    per_minute: set[str] = field(default_factory=set)
    watermarks: dict[str, str] = field(default_factory=dict)
    report_windows: dict[str, list[Mapping[str, object]]] = field(default_factory=dict)
    metric_queries: int = 0
    metric_queries_billed: int = 0
    metric_calls: int = 0
    bytes_scanned: float = 0.0
    insights_queries: int = 0
    partial: set[str] = field(default_factory=set)
    notes: dict[str, str] = field(default_factory=dict)
    sightings: dict[str, dict[str, Any]] = field(default_factory=dict)  # see `collect_observe.seen_changes`
    stored_details: dict[str, inventory.Details | None] = field(default_factory=dict)  # parsed from state

    @property
    def known(self) -> Mapping[str, Any]:
        """The functions as the last cycle left them (read-only: `next_state` builds the next one)."""
        return self.state.get("functions") or {}

    def names(self) -> list[str]:
        listed = self.listing.latest if self.listing else {}
        return sorted(n for n in listed if n not in self.exclude)

    def entry(self, name: str) -> dict[str, Any]:
        assert self.listing is not None
        return self.listing.latest[name]

    def details_of(self, name: str) -> inventory.Details | None:
        """This cycle's detail read, else the one stored by an earlier cycle (parsed once)."""
        if name in self.details:
            return self.details[name]
        if name not in self.stored_details:
            stored = self.known.get(name, {}).get("d")
            self.stored_details[name] = inventory.Details.from_state(stored) if stored is not None else None
        return self.stored_details[name]

    def version_mb(self, name: str) -> dict[str, int]:
        """The memory size of the function's published versions, as far as the collector knows them: all of
        them from an ALL listing; from a $LATEST-only one, those its aliases name (stored by earlier cycles,
        read by this one). The callers need not know which listing it was."""
        if self.listing is None:
            return {}
        if self.listing.all_versions:
            return {v: int(c["MemorySize"]) for v, c in self.listing.versions.get(name, {}).items()}
        stored = self.known.get(name, {}).get("vm") or {}
        return {**{v: int(mb) for v, mb in stored.items()}, **self.version_reads.get(name, {})}

    def kept_version_mb(self, name: str) -> dict[str, int]:
        """The sizes a $LATEST-only listing's next cycle takes from the state instead of reading again: the
        versions the aliases name and the agent's own canaries ran (none after an ALL listing)."""
        if self.listing is None or self.listing.all_versions:
            return {}
        details = self.details_of(name)
        keep = inventory.alias_versions(details.aliases) if details else set()
        keep |= {v for c in self.history.get(name, []) if isinstance(c, ep.CanaryWindow)
                 for v in (c.main_version, c.trial_version)}
        return {v: mb for v, mb in self.version_mb(name).items() if v in keep}

    def canaries(self, name: str, details: inventory.Details | None) -> list[ep.CanaryWindow]:
        """The function's canaries that overlap the look-back: the agent's own records (each version's memory
        as the collector knows it: a published version's never changes), and weighted aliases of `details`
        now routing to a version at another memory size that no record explains."""
        versions = self.version_mb(name)

        def mb(version: str, fallback: int) -> int:
            return versions.get(version, fallback)

        found = [replace(c, main_mb=mb(c.main_version, c.main_mb), trial_mb=mb(c.trial_version, c.trial_mb))
                 for c in self.history.get(name, []) if isinstance(c, ep.CanaryWindow)
                 and (c.end is None or c.end > self.start) and (c.start is None or c.start < self.end)]
        for alias in details.aliases if details else ():
            for version, weight in sorted(alias.routing.items()):
                if not 0 < weight < 1 or version not in versions or alias.function_version not in versions:
                    continue
                main_mb, trial_mb = mb(alias.function_version, 0), mb(version, 0)
                recorded = any(c.alias == alias.name and c.trial_version == version and c.end is None
                               for c in found)
                if main_mb != trial_mb and not recorded:
                    found.append(ep.CanaryWindow(alias.name, alias.function_version, main_mb, version,
                                                 trial_mb))
        return found

    def never_gated(self, name: str) -> bool:
        """Read whatever the bill: changed by the agent in the look-back (being verified), holding PC or
        with a cold-start objective (the allocation, not the calls, is the bill), or carrying any of the
        agent's tags (someone asked)."""
        details = self.details_of(name)
        return name in self.history or (details is not None and bool(
            details.pc_on_versions or any(a.pc_requested for a in details.aliases)
            or any(k.startswith(self.prefix) for k in details.tags)))

    def bill_usd(self, name: str, mean_ms: float | None) -> float | None:
        """Monthly bill at the census's traffic and `mean_ms` (the function's timeout when unknown)."""
        if name not in self.traffic:
            return None
        entry = self.entry(name)
        ms = mean_ms if mean_ms is not None else float(entry.get("Timeout") or 900) * 1000
        arch = (entry.get("Architectures") or ["x86_64"])[0]
        per_call = invocation_cost(_PRICES, arch, int(entry["MemorySize"]), ms)
        return self.traffic[name] / max(self.hours() / 24, 1 / 24) * MONTH_DAYS * per_call

    def quiet(self, name: str, measured_ms: float | None) -> bool:
        """Idle, or billed under the mark by this cycle's best estimate (the mean duration measured now,
        else the one stored): its census can wait its turn."""
        if name not in self.traffic or self.never_gated(name) or self.min_bill_usd <= 0:
            return False
        bill = self.bill_usd(name, measured_ms or self.known.get(name, {}).get("ms"))
        return self.traffic[name] == 0 or (bill is not None and bill < self.min_bill_usd)

    def hours(self) -> int:
        return int((self.end - self.start).total_seconds() // HOUR)

    def build_inventory(self) -> Inventory:
        configs = []
        for name in self.names():
            if name in self.deleted:
                continue
            details = self.details_of(name)
            configs.append(inventory.to_config(self.entry(name), details, self.policy(name, details),
                                               detect_iac(details.tags) if details else None))
        errors = {**self.errors, **self.deleted}
        # the listing is whole (a page that fails stops the collection), so what it lacks is deleted
        listed = frozenset(self.listing.latest) - self.deleted.keys() if self.listing else None
        return Inventory(
            functions=tuple(configs), unreserved_concurrency=self.unreserved, errors=errors, listed=listed
        )

    def policy(self, name: str, details: inventory.Details | None) -> FunctionPolicy:
        if details is None:
            why = self.deferred.get(name) or self.errors.get(name) or "details not read"
            return FunctionPolicy(errors=(f"tags not read yet ({why}): no changes until they are",))
        return parse_policy(details.tags, self.prefix)

    def next_state(self) -> dict[str, Any]:
        day = self.now.date().toordinal()
        functions: dict[str, Any] = {}
        for name in self.names():
            if name in self.deleted:
                continue
            old = self.known.get(name, {})
            entry = dict(old)
            entry["h"] = len(self.series.get((name, "", "inv"), {})) if name in self.traffic else old.get("h")
            if (ms := mean_duration_ms(self, name)) is not None:
                entry["ms"] = round(ms, 1)  # what the next cycles' bill estimate uses
            if name in self.traffic:  # its census was read: is it quiet (see `census_skipped`)?
                if self.quiet(name, ms):
                    entry["q"] = day
                else:
                    entry.pop("q", None)
            self._keep_reads(name, entry, day)
            if name in self.sightings:  # the size in force it read, for the next cycle to compare
                if self.sightings[name]:
                    entry["z"] = self.sightings[name]
                else:
                    entry.pop("z", None)
            group = log_group(self.entry(name), name)
            if group != f"/aws/lambda/{name}":
                entry["g"] = group  # `split_state` keeps the group's watermark with its owner
            else:
                entry.pop("g", None)
            functions[name] = entry
        # Only the watermarks of groups a listed function logs to: a deleted or excluded function's group,
        # or one no function writes to any more, would otherwise stay in the state for good.
        used = {log_group(self.entry(name), name) for name in functions}
        logs = {group: mark for group, mark in {**(self.state.get("logs") or {}), **self.watermarks}.items()
                if group in used}
        reports_state = {**(self.state.get("reports") or {}), **self.report_windows}
        listed = set(functions)
        shared = {k: v for k, v in self.state.items() if k != VERSION_HEAVY_KEY}
        if self.version_heavy_day is not None:
            shared[VERSION_HEAVY_KEY] = self.version_heavy_day
        return {**shared, "v": STATE_VERSION, "functions": functions, "logs": logs,
                "reports": {k: v for k, v in reports_state.items() if k in listed}}

    def _keep_reads(self, name: str, entry: dict[str, Any], day: int) -> None:
        """This cycle's detail read (with what the next cycle compares to tell a change) and the version
        sizes the next cycle needs, into the function's state entry."""
        if name in self.details:
            assert self.listing is not None
            fingerprints = inventory.fingerprints(name, self.listing)
            for key in ("fp", "fl"):
                if key not in fingerprints:
                    entry.pop(key, None)  # the other listing kind's: `inventory.unchanged` reads one
            entry.update(fingerprints, day=day, d=compact(self.details[name], self.prefix).to_state())
        if sizes := self.kept_version_mb(name):
            entry["vm"] = sizes
        else:
            entry.pop("vm", None)


_PRICES = default_prices()
_STATE_TAG_PREFIXES = ("aws:", "lambda:", "pulumi:", "cdk-", "serverless", "sls", "managed")


def compact(details: inventory.Details, prefix: str) -> inventory.Details:
    """Only the tags the agent reads are kept in state (state is one DynamoDB item per collector)."""
    keep = {k: v for k, v in details.tags.items()
            if k.startswith(prefix) or k.lower().startswith(_STATE_TAG_PREFIXES)
            or k.lower() in ("terraform", "stage")}
    return inventory.Details(keep, details.reserved_concurrency, details.aliases, details.pc_on_versions)


def log_group(entry: Mapping[str, Any], name: str) -> str:
    """The log group a function writes to: its LoggingConfig's, else the default one."""
    return (entry.get("LoggingConfig") or {}).get("LogGroup") or f"/aws/lambda/{name}"


def active(run: Run) -> list[str]:
    return [n for n in run.names() if n not in run.deleted and (run.traffic.get(n, 1.0) > 0)]


def mean_duration_ms(run: Run, name: str) -> float | None:
    """Invocation-weighted mean duration over the window, from the hourly series this cycle read."""
    inv, avg = run.series.get((name, "", "inv"), {}), run.series.get((name, "", "avg"), {})
    calls = sum(inv.get(t, 0.0) for t in avg)
    return sum(v * inv.get(t, 0.0) for t, v in avg.items()) / calls if calls > 0 else None
