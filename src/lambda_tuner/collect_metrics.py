"""Discovery, the census, detail reads and the metric series of one collection (steps 1–4 of `collect`)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta

from lambda_tuner.adapters import inventory, metrics
from lambda_tuner.adapters.metrics import MetricQuery
from lambda_tuner.collect_run import (
    HOUR,
    MINUTE,
    PC_QUESTION_INVOCATIONS_PER_HOUR,
    PER_MINUTE_DAYS,
    VERSION_HEAVY_KEY,
    VERSION_PAGES_SHARE,
    Clients,
    CollectError,
    Run,
    active,
)
from lambda_tuner.core.tags import parse_policy


def discover(run: Run, clients: Clients, *, budget_calls: int) -> None:
    """The listing, and what is left of `budget_calls` for detail reads once its pages are paid.

    An account whose published versions would take more than `VERSION_PAGES_SHARE` of the budget is
    listed $LATEST only (`inventory.list_functions`); the state remembers the day that was found, so the
    next cycles list $LATEST directly, until a week has passed and the ALL listing is tried again in case
    the account shed its versions."""
    day = run.now.date().toordinal()
    stored = run.state.get(VERSION_HEAVY_KEY)
    heavy = int(stored) if stored is not None else None
    probe = heavy is None or day - heavy >= inventory.REFRESH_DAYS
    try:
        run.listing = inventory.list_functions(
            client=clients.lam, version_pages_cap=int(budget_calls * VERSION_PAGES_SHARE), all_versions=probe)
    except inventory.InventoryError as exc:
        raise CollectError(f"cannot list functions: {exc}") from exc
    if not run.listing.all_versions:
        run.version_heavy_day = day if probe else heavy
    try:
        run.unreserved = inventory.unreserved_concurrency(client=clients.lam)
    except inventory.InventoryError as exc:
        run.partial.add(f"account settings: {exc}")
    run.budget_calls = max(0, budget_calls - run.listing.pages - 1)


# How the reason of a function whose census waits its turn begins: it was quiet when last read, and nothing
# has been read about it since (the cycle does not record its note again: see cycle._note_key)
UNREAD_QUIET = "idle or billed under"


def census(run: Run, clients: Clients) -> None:
    """Invocations per hour for every function: who is idle, how busy the rest are, how many points.

    A function found quiet when its census was last read (idle, or billed under the mark) is read again
    on its day of the rolling week, like the detail refresh, not every day: the census is the biggest
    part of the metric bill on an account of many small functions. Its traffic is unknown meanwhile, so
    it is treated as under the mark."""
    hours, day = run.hours(), run.now.date().toordinal()
    known = run.known
    for name in run.names():
        quiet_day = known.get(name, {}).get("q")
        if quiet_day is not None and not run.never_gated(name) and not inventory.is_due(name, day, quiet_day):
            since = date.fromordinal(int(quiet_day)).isoformat()
            run.census_skipped[name] = (
                f"{UNREAD_QUIET} ${run.min_bill_usd:.2f}/month when last read ({since}): its traffic "
                f"is read again within {inventory.REFRESH_DAYS} days, and at once if the agent changes it")
    names = [n for n in run.names() if n not in run.census_skipped]
    queries = [metrics.invocations_query(n, "", HOUR, expected(known.get(n, {}).get("h"), hours))
               for n in names]
    got = fetch(run, clients, queries, run.start)
    for name in names:
        key = (name, "", "inv")
        if key in got.failed:  # its traffic stays unknown: not idle, not quiet, its series read as usual
            run.metric_problems.setdefault(name, []).append(f"invocations unreadable: {got.failed[key]}")
        else:
            run.traffic[name] = sum(got.series.get(key, {}).values())
    note_unreadable(run, got.failed)


def below_mark(run: Run) -> dict[str, str]:
    """Functions whose monthly bill, estimated from the census, is under the mark: their detail series are
    not read this cycle. The estimate uses the mean duration seen last time or, for a function never read,
    its timeout (an upper bound); see `Run.never_gated` for the functions read whatever their bill. The
    functions whose census waits its turn are under the mark too."""
    out = dict(run.census_skipped)
    if run.min_bill_usd <= 0:
        return out
    for name in active(run):
        if name in out or name not in run.traffic or run.never_gated(name):
            continue
        known_ms = run.known.get(name, {}).get("ms")
        bill = run.bill_usd(name, float(known_ms) if known_ms is not None else None)
        if bill is not None and bill < run.min_bill_usd:
            basis = "its mean duration" if known_ms is not None else "its timeout as the duration"
            out[name] = (f"billed about ${bill:.2f}/month ({basis}), under the ${run.min_bill_usd:.2f}/month "
                         "worth reading its duration metrics for: watched in the census, read again "
                         "once its bill passes the mark")
    return out


def expected(previous: int | None, hours: int) -> int:
    """Points a census series will return: last cycle's active hours plus a margin; for a function never
    seen, a share that lets 500 of them fill one call (NextToken covers the busy ones)."""
    if previous is None:
        return min(hours, metrics.MAX_DATAPOINTS_PER_CALL // metrics.MAX_QUERIES_PER_CALL)
    return min(hours, int(previous * 1.1) + 24)


def minutes_with_calls(hourly: Mapping[datetime, float], since: datetime) -> int:
    """Expected minutes with at least one call (Poisson within each hour): the per-minute series' length."""
    return math.ceil(sum(60 * (1 - math.exp(-n / 60)) for t, n in hourly.items() if t >= since) * 1.05) + 1


REFRESH_PASSES = 3  # a $LATEST-only listing's plan reserves calls its reads may not make: plan again


def refresh(run: Run, clients: Clients) -> None:
    """Detail reads within the budget. From a $LATEST-only listing the plan reserves ListAliases' and the PC
    listing's calls for functions that turn out to have no alias (a new function may have one), so what
    the reads did not use is planned again, up to `REFRESH_PASSES` times; from an ALL listing the costs
    are exact and one pass is all there is. The version sizes come last, from what is left."""
    assert run.listing is not None
    left, reserved, first = run.budget_calls, 0, list[str]()
    unsized = set(run.names()) - observed(run)
    for _ in range(REFRESH_PASSES):
        plan = inventory.plan_refresh(
            run.listing, run.known, day=run.now.date().toordinal(), budget_calls=left, traffic=run.traffic,
            exclude={*run.exclude, *run.details, *run.deleted, *run.errors}, unsized=unsized)
        run.deferred = dict(plan.deferred)
        if not plan.chosen:
            break
        left -= plan.calls
        reserved += plan.version_calls
        first += plan.chosen
        for name in plan.chosen:
            left += _read_details(run, clients, name, plan)
        if run.listing.all_versions:
            break
    if not run.listing.all_versions:  # the sizes reserved in the plan, and what the detail reads left
        read_version_sizes(run, clients, first, allowance=left + reserved)


def _read_details(run: Run, clients: Clients, name: str, plan: inventory.RefreshPlan) -> int:
    """One function's detail read; returns the calls planned for it that it did not make (the PC listing,
    which `read_details` skips for a function with no alias unless told to read it)."""
    aliases = name in plan.with_aliases
    try:
        details = inventory.read_details(name, with_aliases=aliases, always_pc=name in plan.always_pc,
                                         client=clients.lam)
    except inventory.FunctionNotFoundError as exc:
        run.deleted[name] = f"deleted during the cycle: {exc}"
        return 0
    except inventory.InventoryError as exc:
        run.errors[name] = str(exc)
        run.partial.add(f"{name}: details unreadable ({exc})")
        return 0
    run.details[name] = details
    run.refreshed.add(name)
    return 1 if aliases and name not in plan.always_pc and not details.aliases else 0


def read_version_sizes(run: Run, clients: Clients, first: Sequence[str], *, allowance: int) -> None:
    """From a $LATEST-only listing, which lists no versions: the memory size of each version an alias names
    that no earlier cycle read, one GetFunctionConfiguration each, within `allowance` calls. The functions
    just read come first, then those whose stored aliases name a version not read yet (the cycle after the
    listing stopped covering versions, or one the budget cut short); what is left waits for the next cycle.
    Only the functions whose series are read (with calls, billed over the mark) are sized: the others'
    observations do not split by size, and theirs are read once they have calls. A version not found is
    skipped: stored aliases may name one deleted since (the next detail read tells)."""
    firsts, sized = set(first), observed(run)
    short: list[str] = []
    for name in [*first, *(n for n in run.names() if n not in firsts)]:
        details = run.details_of(name)
        if name not in sized or details is None:
            continue
        missing = sorted(inventory.alias_versions(details.aliases) - set(run.version_mb(name)),
                         key=lambda v: (len(v), v))
        read: dict[str, int] = {}
        for version in missing:
            if allowance <= 0:
                short.append(name)
                break
            allowance -= 1
            try:
                read[version] = inventory.version_memory(name, version, client=clients.lam)
            except inventory.FunctionNotFoundError:
                continue
            except inventory.InventoryError as exc:
                run.partial.add(f"{name}: memory size of version {version} unreadable ({exc})")
        if read:
            run.version_reads[name] = read
    if short:
        listed = ", ".join(short[:10]) + (f" and {len(short) - 10} more" if len(short) > 10 else "")
        run.partial.add(f"memory sizes of the versions the aliases of {listed} name not read (control-plane "
                        "budget): their canaries are told apart once a later cycle reads them")


def details_after_refresh(
    run: Run, clients: Clients, known: Mapping[str, inventory.Details | None]
) -> None:
    """Alias and PC series for the aliases this cycle's detail reads found and the earlier ones lacked."""
    fresh: dict[str, inventory.Details] = {}
    for name, details in list(run.details.items()):
        before = {a.name: (a.pc_requested, a.routing)
                  for a in (known.get(name) or inventory.Details({}, None)).aliases}
        new = tuple(a for a in details.aliases if before.get(a.name) != (a.pc_requested, a.routing))
        if new and name not in run.deleted and run.traffic.get(name, 1.0) > 0:
            fresh[name] = inventory.Details(details.tags, details.reserved_concurrency, new, {})
    if fresh:
        read_details(run, clients, fresh, aliases_only=True)
    late_canaries(run, clients)


def observed(run: Run) -> set[str]:
    """The functions whose series are read: with calls (or not known to have none), billed over the mark."""
    return set(active(run)) - set(run.below_mark)


def late_canaries(run: Run, clients: Clients) -> None:
    """Per-version series of the canaries seen only once the refresh read their versions' memory sizes (a
    $LATEST-only listing; an ALL listing knows every size from the start), when not read already."""
    eligible = observed(run)
    queries: list[MetricQuery] = []
    for name in sorted(n for n in run.version_reads if n in eligible):
        calls_by_hour = run.series.get((name, "", "inv"))
        points = len(calls_by_hour) if calls_by_hour is not None else run.hours()
        queries.extend(q for q in canary_queries(run, name, run.details_of(name), points)
                       if q.key not in run.series)
    fetch_into(run, clients, queries, run.start)


def read_details(run: Run, clients: Clients, known: Mapping[str, inventory.Details | None], *,
                 aliases_only: bool = False) -> None:
    hours = run.hours()
    minute_start = max(run.start, run.end - timedelta(days=PER_MINUTE_DAYS))
    hourly: list[MetricQuery] = []
    minutely: list[MetricQuery] = []
    window_minutes = int((run.end - minute_start).total_seconds() // MINUTE)
    for name in (n for n in active(run) if n in known and n not in run.below_mark):
        calls_by_hour = run.series.get((name, "", "inv"))
        active_hours = len(calls_by_hour) if calls_by_hour is not None else hours
        details = known[name]
        if aliases_only and details is not None:
            minute = name in run.per_minute or any(a.pc_requested for a in details.aliases)
            if minute and name not in run.per_minute:
                # PC found only now: its concurrency is needed per minute (replaces the hourly series)
                run.per_minute.add(name)
                points = (minutes_with_calls(calls_by_hour, minute_start) if calls_by_hour is not None
                          else window_minutes)
                minutely.append(metrics.concurrency_query(name, MINUTE, points))
                minutely.append(metrics.minute_invocations_query(name, points))
            for alias in details.aliases:
                hourly.append(metrics.invocations_query(name, alias.name, HOUR, active_hours))
                hourly.extend(metrics.detail_queries(name, alias.name, HOUR, active_hours))
                if alias.pc_requested:
                    target, period = (minutely, MINUTE) if minute else (hourly, HOUR)
                    target.extend(metrics.pc_queries(name, alias.name, period,
                                                     window_minutes if minute else hours))
            canary = canary_queries(run, name, details, active_hours)
            hourly.extend(q for q in canary if q.key not in run.series)  # not read before the refresh
            continue
        pc_aliases = [a.name for a in details.aliases if a.pc_requested] if details else []
        minute = pc_question(run, name, details, pc_aliases)
        if minute:
            run.per_minute.add(name)
            points = (minutes_with_calls(calls_by_hour, minute_start) if calls_by_hour is not None
                      else window_minutes)
            minutely.append(metrics.concurrency_query(name, MINUTE, points))
            minutely.append(metrics.minute_invocations_query(name, points))
            # PC gauges have a value every minute while PC is configured, calls or not
            minutely.extend(q for alias in pc_aliases
                            for q in metrics.pc_queries(name, alias, MINUTE, window_minutes))
        else:
            hourly.append(metrics.concurrency_query(name, HOUR, active_hours))
            hourly.extend(q for a in pc_aliases for q in metrics.pc_queries(name, a, HOUR, hours))
        hourly.extend(metrics.detail_queries(name, "", HOUR, active_hours))
        for alias in details.aliases if details else ():
            hourly.append(metrics.invocations_query(name, alias.name, HOUR, active_hours))
            hourly.extend(metrics.detail_queries(name, alias.name, HOUR, active_hours))
        hourly.extend(canary_queries(run, name, details, active_hours))
        if inventory.has_insights(run.entry(name)):
            hourly.extend(metrics.insights_queries(name, HOUR, active_hours))
    if minute_start == run.start:
        fetch_into(run, clients, hourly + minutely, run.start)
    else:
        fetch_into(run, clients, hourly, run.start)
        fetch_into(run, clients, minutely, minute_start)


def canary_queries(run: Run, name: str, details: inventory.Details | None, points: int) -> list[MetricQuery]:
    """Per-version series (ExecutedVersion) of the aliases that ran a canary in the look-back: only those
    functions pay for them. The trial version ran only while the canary did: fewer points to expect."""
    wanted: dict[tuple[str, str], int] = {}
    for canary in run.canaries(name, details):
        start = max(canary.start or run.start, run.start)
        trial_hours = math.ceil(((canary.end or run.end) - start).total_seconds() / HOUR) + 1
        main = (canary.alias, canary.main_version)
        trial = (canary.alias, canary.trial_version)
        wanted[main] = points
        wanted[trial] = max(wanted.get(trial, 0), min(points, trial_hours))
    return [q for (alias, version), n in sorted(wanted.items())
            for q in metrics.version_queries(name, alias, version, HOUR, n)]


def pc_question(run: Run, name: str, details: inventory.Details | None, pc_aliases: list[str]) -> bool:
    if pc_aliases or (details and details.pc_on_versions):
        return True
    if details and parse_policy(details.tags, run.prefix).cold_start_objective:
        return True
    busiest = max(run.series.get((name, "", "inv"), {}).values(), default=0.0)
    return busiest >= PC_QUESTION_INVOCATIONS_PER_HOUR


def fetch(
    run: Run, clients: Clients, queries: list[MetricQuery], start: datetime
) -> metrics.MetricResults:
    if not queries:
        return metrics.MetricResults()
    got = metrics.fetch(queries, start, run.end, client=clients.cw)
    run.metric_queries += got.queries
    run.metric_queries_billed += got.queries
    run.metric_calls += got.calls
    run.series.update(got.series)
    return got


def fetch_into(run: Run, clients: Clients, queries: list[MetricQuery], start: datetime) -> None:
    got = fetch(run, clients, queries, start)
    for key, why in got.failed.items():
        run.metric_problems.setdefault(key[0], []).append(f"{key[2]} unreadable: {why}")
    note_unreadable(run, got.failed)


def note_unreadable(run: Run, failed: Mapping[tuple[str, ...], str]) -> None:
    """One line in the cycle's `partial` per reason, naming the functions whose series it left unread
    (a failed call takes hundreds of queries with it: one line each would bury the rest)."""
    by_why: dict[str, set[str]] = {}
    for key, why in failed.items():
        by_why.setdefault(why, set()).add(key[0])
    for why, names in by_why.items():
        shown = sorted(names)
        listed = ", ".join(shown[:10]) + (f" and {len(shown) - 10} more" if len(shown) > 10 else "")
        run.partial.add(f"metric series of {listed} unreadable ({why})")
