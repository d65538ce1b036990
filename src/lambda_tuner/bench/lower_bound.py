"""The fewest AWS calls any collector needs for one cycle's data, under AWS's paging limits.

Deliberately separate from the collector's code: it re-derives the same data and the same refresh rule
from a description of the fleet, then counts pages with AWS's limits, so the benchmark can tell how far
the collector is from the floor.

Per operation:
- ListFunctions (FunctionVersion=ALL): ceil((functions + published versions) / 50) — 50 is the page size.
  With a cap on the pages the versions may take (`CycleFacts.version_pages_cap`, the collector's rule for
  a version-heavy account): past it the functions are listed $LATEST only, ceil(functions / 50) pages,
  plus — when the ALL listing was tried — the pages it took until the versions seen passed cap x 50
  (AWS lists in name order, each function's $LATEST before its versions); when the state remembers the
  account as version-heavy (`latest_only`), the $LATEST pages alone.
- GetAccountSettings: 1.
- Detail reads for the functions the refresh rule selects: GetFunction each (tags + reserved concurrency
  in one response), plus ListAliases and ListProvisionedConcurrencyConfigs (one page each, 50 items) for
  functions with published versions. The rule: changed > holding PC > new (busiest first) > due this
  weekday (crc32(name) mod 7 == day mod 7, or last read >= 7 days ago), within the call budget.
  From a $LATEST-only listing, which does not say who has versions, the same rule at the costs the
  collector must plan with (`adapters.inventory.detail_cost`, restated in `_latest_only_details`):
  ListAliases for a new or changed function or one whose stored details name aliases, else GetFunction
  alone; ListProvisionedConcurrencyConfigs only when it has an alias; and one GetFunctionConfiguration per
  version an alias names whose memory size is not stored yet, for functions whose series are read (with
  calls, worth reading), within what the plan left of the budget.
- GetMetricData: every series the data needs — one census series (hourly invocations) per function whose
  census is read this cycle (a function quiet when last read — idle or under the bill mark — only on its
  day of the week, by the same stable hash as the detail refresh, or when 7 days have passed), then
  for each function with traffic whose monthly bill reaches the mark (or that holds PC, has a cold-start
  objective or carries the agent's tags; the bill from the fleet's true mean duration where an earlier
  cycle measured one, where the collector must estimate it, and from the timeout otherwise)
  7 duration/error/throttle series + 1 concurrency series (per minute if
  PC is in question, else hourly) and, when PC is in question, per-minute invocations; 8 + 1 series per
  alias (its own invocations), 3 per PC alias, 4 Lambda Insights series — at max(ceil(series / 500),
  ceil(datapoints / 100,800)) calls, as if every call were packed to both limits at once (no real
  two-phase collector can do better).
- Logs Insights: ceil(scanned log groups / 50) StartQuery (groups with a function worth reading, as
  above), and one GetQueryResults each (a collector that waits long enough before its first poll);
  StopQuery none.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

LIST_PAGE = 50
GMD_QUERIES = 500
GMD_POINTS = 100_800
INSIGHTS_GROUPS = 50
REFRESH_DAYS = 7
MIN_MONTHLY_BILL_USD = 1.0


@dataclass(frozen=True)
class FunctionFacts:
    name: str
    versions: int = 0  # published versions
    aliases: int = 0
    pc_aliases: int = 0
    active_hours: int = 0  # hours of the look-back with at least one invocation
    active_minutes: int = 0  # minutes with invocations inside the per-minute window
    peak_hour_invocations: float = 0.0
    cold_start_objective: bool = False
    insights: bool = False
    log_group: str | None = None  # None when REPORT lines are not scanned (Insights, hidden by level)
    ran_in_scan_window: bool = True  # invocations since the log group's watermark
    monthly_bill_usd: float = float("inf")  # at the current size and the look-back's traffic
    agent_tags: bool = False  # carries a tag under the agent's prefix
    alias_versions: frozenset[str] = frozenset()  # the published versions its aliases name


@dataclass(frozen=True)
class CycleFacts:
    day: int  # date ordinal of the cycle
    budget_calls: int  # detail-call budget (the collector's control-plane budget x its rate - listing)
    known: frozenset[str] = frozenset()  # read in an earlier cycle
    changed: frozenset[str] = frozenset()
    last_read_day: dict[str, int] = field(default_factory=dict)
    quiet_since: dict[str, int] = field(default_factory=dict)  # quiet when its census was last read (day)
    pc_question_per_hour: float = 600.0
    # When set, the detail budget is this (the whole control-plane budget in calls) less the bound's own
    # listing pages and GetAccountSettings, and `budget_calls` is not used.
    control_plane_calls: int | None = None
    version_pages_cap: int | None = None  # None: the listing is always FunctionVersion=ALL
    latest_only: bool = False  # the state remembers a version-heavy account: $LATEST listed directly
    with_aliases: frozenset[str] = frozenset()  # stored details name aliases or PC
    sized_versions: dict[str, frozenset[str]] = field(default_factory=dict)  # stored version memory sizes


@dataclass(frozen=True)
class ListingBound:
    pages: int
    all_versions: bool = True  # False: $LATEST only
    abandoned: int = 0  # of `pages`: a FunctionVersion=ALL listing given up at the cap


@dataclass(frozen=True)
class Bound:
    calls: dict[str, int]
    listing: ListingBound = ListingBound(1)

    @property
    def total(self) -> int:
        return sum(self.calls.values())


def lower_bound(functions: Sequence[FunctionFacts], cycle: CycleFacts) -> Bound:
    listing = listing_pages(functions, cycle)
    budget = cycle.budget_calls if cycle.control_plane_calls is None else max(
        0, cycle.control_plane_calls - listing.pages - 1)
    if listing.all_versions:
        detail = _detail_reads(functions, cycle, budget)
        with_versions = sum(1 for f in functions if f.name in detail and f.versions)
        reads = {"lambda.GetFunction": len(detail), "lambda.ListAliases": with_versions,
                 "lambda.ListProvisionedConcurrencyConfigs": with_versions}
    else:
        reads = _latest_only_details(functions, cycle, budget)
    groups = {f.log_group for f in functions if f.active_hours and f.log_group and f.ran_in_scan_window
              and _worth_reading(f) and _census_read(f, cycle)}
    queries = math.ceil(len(groups) / INSIGHTS_GROUPS)
    calls = {
        "lambda.ListFunctions": listing.pages,
        "lambda.GetAccountSettings": 1,
        **reads,
        "cloudwatch.GetMetricData": _metric_pages(functions, cycle),
        "logs.StartQuery": queries,
        "logs.GetQueryResults": queries,
    }
    return Bound({k: v for k, v in calls.items() if v}, listing)


def listing_pages(functions: Sequence[FunctionFacts], cycle: CycleFacts) -> ListingBound:
    latest = max(1, math.ceil(len(functions) / LIST_PAGE))
    if cycle.latest_only:
        return ListingBound(latest, all_versions=False)
    versions = sum(f.versions for f in functions)
    cap = cycle.version_pages_cap
    if cap is None or versions <= cap * LIST_PAGE:
        return ListingBound(max(1, math.ceil((len(functions) + versions) / LIST_PAGE)))
    last = cap * LIST_PAGE + 1  # the version whose page ends the ALL listing
    seen = entries = 0
    for f in sorted(functions, key=lambda f: f.name):
        if seen + f.versions >= last:
            entries += 1 + last - seen  # its $LATEST, then its versions up to that one
            break
        seen += f.versions
        entries += 1 + f.versions
    abandoned = math.ceil(entries / LIST_PAGE)
    return ListingBound(abandoned + latest, all_versions=False, abandoned=abandoned)


def _rank(f: FunctionFacts, cycle: CycleFacts) -> tuple[int, float] | None:
    if f.name not in cycle.known:
        return (2, -f.active_hours * 1.0 - f.peak_hour_invocations)
    if f.name in cycle.changed:
        return (0, 0.0)
    if f.pc_aliases:
        return (1, 0.0)
    last = cycle.last_read_day.get(f.name)
    if (last is not None and cycle.day - last >= REFRESH_DAYS) or (
        zlib.crc32(f.name.encode()) % REFRESH_DAYS == cycle.day % REFRESH_DAYS
    ):
        return (3, 0.0)
    return None


REFRESH_PASSES = 3  # as `collect_metrics.REFRESH_PASSES`: a $LATEST-only cycle plans its unused calls again


def _latest_only_details(functions: Sequence[FunctionFacts], cycle: CycleFacts, budget: int,
                         ) -> dict[str, int]:
    """Detail reads from a $LATEST-only listing: chosen at the costs the collector plans with, counted at
    the calls those reads need at least."""
    def fresh(f: FunctionFacts) -> bool:
        return f.name not in cycle.known or f.name in cycle.changed

    def lists_aliases(f: FunctionFacts) -> bool:
        return fresh(f) or f.name in cycle.with_aliases

    def sized(f: FunctionFacts) -> bool:  # its series are read: its versions' sizes split them
        return bool(f.active_hours) and _worth_reading(f) and _census_read(f, cycle)

    def unsized(f: FunctionFacts, aliases_known: bool) -> int:
        return len(f.alias_versions - cycle.sized_versions.get(f.name, frozenset())) if aliases_known else 0

    def planned_sizes(f: FunctionFacts) -> int:  # one at least after a change, which a deploy is
        if not sized(f):
            return 0
        missing = unsized(f, f.name in cycle.with_aliases)
        return max(missing, 1) if fresh(f) else missing

    ranked = sorted((r, f.name, f) for f in functions if (r := _rank(f, cycle)) is not None)
    chosen: list[FunctionFacts] = []
    picked: set[str] = set()
    left = budget
    reserved_sizes = 0
    for _ in range(REFRESH_PASSES):  # what a pass did not use (no alias: no PC listing) is planned again
        this_pass = []
        for _, _, f in ranked:
            cost = 3 + planned_sizes(f) if lists_aliases(f) else 1
            if f.name not in picked and cost <= left:
                this_pass.append(f)
                picked.add(f.name)
                left -= cost
                reserved_sizes += planned_sizes(f) if lists_aliases(f) else 0
        if not this_pass:
            break
        chosen += this_pass
        left += sum(1 for f in this_pass if lists_aliases(f) and not f.aliases)
    # sizes: of the versions the aliases name, as this cycle's reads or earlier ones found them
    sizes = sum(unsized(f, f.name in picked or f.name in cycle.known) for f in functions if sized(f))
    return {
        "lambda.GetFunction": len(chosen),
        "lambda.ListAliases": sum(1 for f in chosen if lists_aliases(f)),
        "lambda.ListProvisionedConcurrencyConfigs": sum(1 for f in chosen if lists_aliases(f) and f.aliases),
        "lambda.GetFunctionConfiguration": min(sizes, left + reserved_sizes),
    }


def _detail_reads(functions: Sequence[FunctionFacts], cycle: CycleFacts, budget: int) -> set[str]:
    ranked = sorted((r, f.name, f) for f in functions if (r := _rank(f, cycle)) is not None)
    chosen, left = set(), budget
    for _, name, f in ranked:
        cost = 3 if f.versions else 1
        if cost <= left:
            chosen.add(name)
            left -= cost
    return chosen


def _metric_pages(functions: Iterable[FunctionFacts], cycle: CycleFacts) -> int:
    series = points = 0
    for f in functions:
        if not _census_read(f, cycle):
            continue
        series += 1
        points += f.active_hours
        if not f.active_hours or not _worth_reading(f):
            continue
        per_minute = f.pc_aliases > 0 or f.cold_start_objective or (
            f.peak_hour_invocations >= cycle.pc_question_per_hour)
        conc_points = f.active_minutes if per_minute else f.active_hours
        series += 8 + 9 * f.aliases + 3 * f.pc_aliases + (4 if f.insights else 0) + (1 if per_minute else 0)
        points += 7 * f.active_hours + conc_points + (f.active_minutes if per_minute else 0)
        points += 8 * f.aliases * f.active_hours + 3 * f.pc_aliases * conc_points
        points += 4 * f.active_hours if f.insights else 0
    return max(math.ceil(series / GMD_QUERIES), math.ceil(points / GMD_POINTS))


def _worth_reading(f: FunctionFacts) -> bool:
    return (f.monthly_bill_usd >= MIN_MONTHLY_BILL_USD or f.pc_aliases > 0 or f.cold_start_objective
            or f.agent_tags)


def _census_read(f: FunctionFacts, cycle: CycleFacts) -> bool:
    since = cycle.quiet_since.get(f.name)
    if since is None or f.pc_aliases or f.cold_start_objective or f.agent_tags:
        return True
    due_today = zlib.crc32(f.name.encode()) % REFRESH_DAYS == cycle.day % REFRESH_DAYS
    return cycle.day - since >= REFRESH_DAYS or due_today
