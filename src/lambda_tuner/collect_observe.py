"""Turning one collection's series into `Observations` per function (step 6 of `collect`)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from lambda_tuner.adapters import inventory
from lambda_tuner.collect_logs import hides_reports
from lambda_tuner.collect_run import (
    HOUR,
    MINUTE,
    PER_MINUTE_DAYS,
    Run,
)
from lambda_tuner.core import epochs as ep
from lambda_tuner.core import report_windows as rw
from lambda_tuner.core.models import Epoch, Observations, ReportStats


def observe(run: Run, name: str) -> Observations:
    if name in run.deleted:
        return ep.observe(name, None, run.start, run.end, epochs=(), dropped=0, problems=[run.deleted[name]])
    entry = run.entry(name)
    problems = list(run.metric_problems.get(name, []))
    if run.traffic.get(name) == 0 and not problems:
        return ep.observe(name, None, run.start, run.end, epochs=(), dropped=0)
    if name in run.below_mark:
        return ep.observe(name, None, run.start, run.end, epochs=(), dropped=0,
                          problems=[*problems, run.below_mark[name]])
    qualifier, memory_mb = _serving(run, name)
    series = {s: run.series.get((name, qualifier, s), {}) for s in ep.SERIES}
    entries = run.report_windows.get(name, run.state.get("reports", {}).get(name, []))
    entries = rw.prune_windows(entries, run.start)
    arch = (entry.get("Architectures") or ["x86_64"])[0]
    canaries = _canaries(run, name, qualifier)
    versions = {v for c in canaries for v in (c.main_version, c.trial_version)}
    by_version = {v: {s: run.series.get((name, qualifier, s, v), {}) for s in ep.SERIES} for v in versions}
    recorded = run.history.get(name, [])
    seen = seen_changes(run, name, qualifier, memory_mb)
    epochs, dropped = ep.build_epochs(
        series, HOUR, arch, memory_mb,
        history=[*ep.memory_changes(recorded), *ep.sizes_found(recorded), *canaries, *seen],
        windows=rw.report_windows(entries), reports=rw.merge_windows(entries), version_series=by_version)
    if inventory.has_insights(entry):
        # Insights metrics are per function: a canary window's sizes share them, so neither gets them
        epochs = tuple(e if _shares_window(e, epochs) else
                       e.model_copy(update={"reports": _insights_stats(run, name, e)}) for e in epochs)
    return ep.observe(name, qualifier or None, run.start, run.end, epochs=epochs, dropped=dropped,
                      concurrency=concurrency(run, name), problems=problems)


def seen_changes(run: Run, name: str, qualifier: str, memory_mb: int) -> list[ep.SeenChange]:
    """For a function whose REPORT lines are not read (Lambda Insights, JSON logs that hide them): the
    changes of its size in force by others, seen between cycles, within the look-back. Nothing else tells
    its hours at one size from those at another: a deploy that set another size would otherwise have the
    look-back's days at the old size taken for the new one. Each cycle keeps the size it read in force
    (`run.sightings`, for the function's state); a size that differs from the last cycle's, with no
    memory change of the agent's between, is a change seen (the serving alias the same)."""
    if not (inventory.has_insights(run.entry(name)) or hides_reports(run.entry(name))):
        run.sightings[name] = {}  # its REPORT windows tell sizes apart
        return []
    stored = run.known.get(name, {}).get("z") or {}
    try:
        seen = [ep.SeenChange(datetime.fromisoformat(a), datetime.fromisoformat(b), int(old), int(new))
                for a, b, old, new in stored.get("c") or []]
        last = (datetime.fromisoformat(stored["at"]), int(stored["mb"]), str(stored.get("q", "")))
    except (KeyError, TypeError, ValueError, AttributeError):
        seen, last = [], None  # a state written otherwise: nothing seen yet
    seen = [s for s in seen if s.before > run.start]
    if not _size_known(run, name, qualifier):
        return seen  # the size its alias serves is not read yet: not a size seen, the last one kept
    if last is not None and last[2] == qualifier and last[1] != memory_mb and last[0] < run.now:
        agents = [t for t, _ in ep.memory_changes(run.history.get(name, [])) if last[0] <= t <= run.now]
        if not agents:
            seen.append(ep.SeenChange(last[0], run.now, last[1], memory_mb))
    kept = [[s.after.isoformat(), s.before.isoformat(), s.old_mb, s.new_mb] for s in seen]
    run.sightings[name] = {"at": run.now.isoformat(), "mb": memory_mb, "q": qualifier, "c": kept}
    return seen


def _size_known(run: Run, name: str, qualifier: str) -> bool:
    """Whether the size `_serving` gave is the one read for the alias's version (not $LATEST's, in its
    place)."""
    if not qualifier:
        return True
    details = run.details_of(name)
    aliases = details.aliases if details else ()
    return any(a.name == qualifier and a.function_version in run.version_mb(name) for a in aliases)


def _canaries(run: Run, name: str, qualifier: str) -> list[ep.CanaryWindow]:
    """The canaries of the serving alias. One the agent recorded without an end whose routing the alias no
    longer has ended unrecorded: it ends after its trial version's last calls (none: it is left out)."""
    if not qualifier:
        return []  # the function's own series mixes its aliases: a canary on one of them is not split
    details = run.details_of(name)
    routing = next((a.routing for a in details.aliases if a.name == qualifier), {}) if details else {}
    out = []
    for canary in (c for c in run.canaries(name, details) if c.alias == qualifier):
        if canary.end is not None or canary.trial_version in routing:
            out.append(canary)
            continue
        calls = run.series.get((name, qualifier, "inv", canary.trial_version), {})
        last = max((t for t, v in calls.items() if v > 0), default=None)
        if last is not None:
            out.append(replace(canary, end=last + timedelta(seconds=HOUR)))
    return out


def _shares_window(epoch: Epoch, epochs: tuple[Epoch, ...]) -> bool:
    return any(e is not epoch and (e.start, e.end) == (epoch.start, epoch.end) for e in epochs)


def _serving(run: Run, name: str) -> tuple[str, int]:
    """The alias that serves most of the traffic (at least half), else the function; and its memory."""
    assert run.listing is not None
    latest_mb = int(run.entry(name)["MemorySize"])
    details = run.details_of(name)
    total = run.traffic.get(name, 0.0)
    best: tuple[float, str, str] | None = None
    for alias in details.aliases if details else ():
        served = sum(run.series.get((name, alias.name, "inv"), {}).values())
        if served > 0 and served >= 0.5 * total and (best is None or served > best[0]):
            best = (served, alias.name, alias.function_version)
    if best is None:
        return "", latest_mb
    return best[1], run.version_mb(name).get(best[2], latest_mb)


def _insights_stats(run: Run, name: str, epoch: Any) -> ReportStats:
    def within(s: str) -> list[tuple[datetime, float]]:
        return [(t, v) for t, v in run.series.get((name, "", s), {}).items() if epoch.start <= t < epoch.end]

    cold = dict(within("ins_cold"))
    init = [(v, cold.get(t, 0.0)) for t, v in within("ins_init")]
    cpu = [v for _, v in within("ins_cpu")]
    mem = [v for _, v in within("ins_mem")]
    weight = sum(w for _, w in init)
    return ReportStats(
        invocations=epoch.invocations, cold_starts=round(sum(cold.values())),
        init_ms_avg=sum(v * w for v, w in init) / weight if weight else None,
        max_memory_used_mb_max=max(mem) / 100 * epoch.memory_mb if mem else None,
        cpu_ms_avg=sum(cpu) / len(cpu) if cpu else None,
    )


def concurrency(run: Run, name: str) -> Any:
    maxima = run.series.get((name, "", "conc"))
    if maxima is None:
        return None
    minute = name in run.per_minute
    start = max(run.start, run.end - timedelta(days=PER_MINUTE_DAYS)) if minute else run.start
    details = run.details_of(name)
    pc_alias = next((a.name for a in details.aliases if a.pc_requested), "") if details else ""
    return ep.concurrency_series(
        start, run.end, MINUTE if minute else HOUR, maxima,
        invocations=run.series.get((name, "", "invm" if minute else "inv")),
        pc_utilization=run.series.get((name, pc_alias, "pcu")) if pc_alias else None,
        pc_spillover=run.series.get((name, pc_alias, "pcs")) if pc_alias else None,
    )
