"""The fewest AWS calls any collector needs for one cycle's data, under AWS's paging limits.

Deliberately separate from the collector's code: it re-derives the same data and the same refresh rule
from a description of the fleet, then counts pages with AWS's limits, so the benchmark can tell how far
the collector is from the floor.

Per operation:
- ListFunctions (FunctionVersion=ALL): ceil((functions + published versions) / 50) — 50 is the page size.
- GetAccountSettings: 1.
- Detail reads for the functions the refresh rule selects: GetFunction each (tags + reserved concurrency
  in one response), plus ListAliases and ListProvisionedConcurrencyConfigs (one page each, 50 items) for
  functions with published versions. The rule: changed > holding PC > new (busiest first) > due this
  weekday (crc32(name) mod 7 == day mod 7, or last read >= 7 days ago), within the call budget.
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


@dataclass(frozen=True)
class CycleFacts:
    day: int  # date ordinal of the cycle
    budget_calls: int  # detail-call budget (the collector's control-plane budget x its rate - listing)
    known: frozenset[str] = frozenset()  # read in an earlier cycle
    changed: frozenset[str] = frozenset()
    last_read_day: dict[str, int] = field(default_factory=dict)
    quiet_since: dict[str, int] = field(default_factory=dict)  # quiet when its census was last read (day)
    pc_question_per_hour: float = 600.0


@dataclass(frozen=True)
class Bound:
    calls: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.calls.values())


def lower_bound(functions: Sequence[FunctionFacts], cycle: CycleFacts) -> Bound:
    detail = _detail_reads(functions, cycle)
    with_versions = sum(1 for f in functions if f.name in detail and f.versions)
    groups = {f.log_group for f in functions if f.active_hours and f.log_group and f.ran_in_scan_window
              and _worth_reading(f) and _census_read(f, cycle)}
    queries = math.ceil(len(groups) / INSIGHTS_GROUPS)
    entries = len(functions) + sum(f.versions for f in functions)
    calls = {
        "lambda.ListFunctions": max(1, math.ceil(entries / LIST_PAGE)),
        "lambda.GetAccountSettings": 1,
        "lambda.GetFunction": len(detail),
        "lambda.ListAliases": with_versions,
        "lambda.ListProvisionedConcurrencyConfigs": with_versions,
        "cloudwatch.GetMetricData": _metric_pages(functions, cycle),
        "logs.StartQuery": queries,
        "logs.GetQueryResults": queries,
    }
    return Bound({k: v for k, v in calls.items() if v})


def _detail_reads(functions: Sequence[FunctionFacts], cycle: CycleFacts) -> set[str]:
    def rank(f: FunctionFacts) -> tuple[int, float] | None:
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

    ranked = sorted((r, f.name, f) for f in functions if (r := rank(f)) is not None)
    chosen, left = set(), cycle.budget_calls
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
