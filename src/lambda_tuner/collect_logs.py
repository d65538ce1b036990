"""REPORT facts from Logs Insights for one collection: only bytes written since each log group's last scan,
attributed to the functions that share a log group (step 5 of `collect`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from lambda_tuner.adapters import inventory, reports
from lambda_tuner.collect_run import (
    HIDING_LEVELS,
    HOUR,
    Clients,
    Run,
    active,
    log_group,
)
from lambda_tuner.core import report_windows as rw


def scan_logs(run: Run, clients: Clients, *, sleep: Callable[[float], None],
               monotonic: Callable[[], float], deadline: float | None = None,
               before_attributing: Callable[[], object] | None = None) -> None:
    """REPORT aggregates for the log bytes written since each group's watermark, never twice. A group whose
    query could not start before `deadline` (or while others held the account's Insights queries) keeps
    its watermark: the next cycle scans its bytes. `before_attributing` waits for what tells a shared
    group's rows apart (versions' memory sizes still being read)."""
    owners = _log_owners(run)
    stored = run.state.get("logs") or {}
    windows: dict[str, tuple[datetime, datetime]] = {}
    for group, names in owners.items():
        if all(n in run.below_mark for n in names):
            continue  # nothing will be decided from it; its watermark stays, so no byte goes unscanned later
        mark = max(run.start, datetime.fromisoformat(stored[group])) if group in stored else run.start
        if mark >= run.end:
            continue
        if any(_ran_since(run, n, mark) for n in names):
            windows[group] = (mark, run.end)
        else:
            run.watermarks[group] = run.end.isoformat()  # no invocations: nothing to scan, nothing missed
    outcome = reports.scan(reports.batch_jobs(windows), client=clients.logs, sleep=sleep, monotonic=monotonic,
                           deadline=deadline)
    run.bytes_scanned += outcome.bytes_scanned
    run.insights_queries += outcome.queries
    for group, why in outcome.failed.items():
        run.partial.add(f"log group {group}: {why}")
    _note_skipped(run, outcome.skipped)
    rows_by_group: dict[str, list[reports.ReportRow]] = {}
    for row in outcome.rows:
        rows_by_group.setdefault(row.log_group, []).append(row)
    if before_attributing is not None:
        before_attributing()
    listed = _listed_writers(run)  # once a run: a group's neighbours are looked up, not searched for
    for group, end in outcome.scanned.items():
        run.watermarks[group] = end.isoformat()
        start = windows[group][0]
        writers = sorted(listed.get(group, set()) | set(owners[group]))
        attributed = _attribute(run, group, owners[group], writers, rows_by_group.get(group, []))
        for name, cells in attributed.items():
            entries = list(run.state.get("reports", {}).get(name, []))
            if cells:
                entries.append(rw.window_entry(start, end, cells))
            run.report_windows[name] = rw.prune_windows(entries, run.start)


def _note_skipped(run: Run, skipped: dict[str, str]) -> None:
    """One line per reason: a busy account skips hundreds of groups at once."""
    by_why: dict[str, list[str]] = {}
    for group, why in skipped.items():
        by_why.setdefault(why, []).append(group)
    for why, groups in by_why.items():
        shown = ", ".join(sorted(groups)[:5]) + (f" and {len(groups) - 5} more" if len(groups) > 5 else "")
        run.partial.add(f"{len(groups)} log group(s) not scanned this cycle ({why}): {shown}; "
                        "their watermarks stay, so the next cycle scans them")


def _log_owners(run: Run) -> dict[str, list[str]]:
    owners: dict[str, list[str]] = {}
    for name in active(run):
        entry = run.entry(name)
        logging = entry.get("LoggingConfig") or {}
        if inventory.has_insights(entry):
            continue  # Lambda Insights metrics carry the same facts without scanning logs
        if hides_reports(entry):
            run.notes[name] = (f"REPORT records hidden: JSON log format with system log level "
                               f"{logging['SystemLogLevel']}; no cold-start or max-memory facts")
            continue
        owners.setdefault(log_group(entry, name), []).append(name)
    return owners


def hides_reports(entry: dict[str, Any]) -> bool:
    """JSON logs at a system level of WARN or above drop the platform.report records."""
    logging = entry.get("LoggingConfig") or {}
    return logging.get("LogFormat") == "JSON" and logging.get("SystemLogLevel") in HIDING_LEVELS


def _ran_since(run: Run, name: str, mark: datetime) -> bool:
    series = run.series.get((name, "", "inv"))
    if series is None:
        return True  # the census could not tell: scan rather than miss
    return any(t + timedelta(seconds=HOUR) > mark and v > 0 for t, v in series.items())


def _attribute(run: Run, group: str, names: list[str], writers: list[str], rows: list[reports.ReportRow],
               ) -> dict[str, dict[int, rw.Cell]]:
    """Rows are per (log group, memory size); a shared group is told apart only by memory size. Shared means
    with any of `writers`: the listed functions that may have written REPORT lines there in the window,
    including those whose rows are not wanted (excluded, Lambda Insights): their rows are not the owners'."""
    cells: dict[str, dict[int, rw.Cell]] = {n: {} for n in names}
    for row in rows:
        owner = writers[0] if len(writers) == 1 else _only_owner(run, writers, row.memory_mb)
        if owner is None:
            run.partial.add(f"log group {group} is shared by {', '.join(writers)}: REPORT rows at "
                            f"{row.memory_mb} MB cannot be attributed to one function")
            continue
        if owner not in cells:
            continue  # a neighbour's rows, whose facts are not read from logs
        v = row.values
        cells[owner][row.memory_mb] = [row.invocations, row.cold_starts, v.get("init_ms_avg"),
                                       v.get("billed_ms_avg"), v.get("duration_ms_avg"), v.get("max_mem_p99"),
                                       v.get("max_mem_max"), 0]  # 0: never partial (`reports._incomplete`)
    return cells


def _listed_writers(run: Run) -> dict[str, set[str]]:
    """By log group, every listed function that may have written REPORT lines there in the look-back (the
    census found calls, or did not read it): with a group's owners, the `writers` `_attribute` tells apart."""
    assert run.listing is not None
    out: dict[str, set[str]] = {}
    for name, entry in run.listing.latest.items():
        if name not in run.deleted and run.traffic.get(name) != 0 and not hides_reports(entry):
            out.setdefault(log_group(entry, name), set()).add(name)
    return out


def _only_owner(run: Run, names: list[str], memory_mb: int) -> str | None:
    assert run.listing is not None
    matches = [n for n in names if memory_mb == run.entry(n)["MemorySize"]
               or memory_mb in run.version_mb(n).values()]
    return matches[0] if len(matches) == 1 else None
