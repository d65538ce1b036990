"""Turning per-period metric series into configuration epochs, so the model sees duration per memory size.

Which memory size served a period comes from two sources:
- the agent's own change records (`history`: at time t memory became mb), exact in time;
- REPORT aggregates kept per scan window (`windows`: the memory sizes seen between start and end), which
  also reveal changes made by others, to the resolution of a window (a cycle: about a day).
A period that straddles a recorded change, or falls in a window that saw several sizes without a record
explaining it, is dropped rather than attributed to the wrong size.

A canary (an alias routing a share of its calls to a version at another memory size, `CanaryWindow`) is the
exception: for its window the per-version series (dimension ExecutedVersion) tell exactly which calls ran at
which size, since a published version's memory never changes. Its window becomes one epoch per memory size,
all with the same start and end — how the model recognises a same-day comparison.

Per epoch, percentiles are the invocation-weighted mean of the per-period percentiles. That is not the
percentile of the pooled invocations (CloudWatch does not give us those): it equals it when periods are
alike and understates the pooled p99 when a few periods are much slower — the per-period p99 spread is
returned alongside so the model can tell the two apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import pstdev

from lambda_tuner.core.models import Arch, ConcurrencySeries, Epoch, Observations, ReportStats
from lambda_tuner.core.report_windows import ReportWindow, weighted, weighted_mean_se

SERIES = ("inv", "avg", "p50", "p95", "p99", "max", "err", "thr")
MIN_PERIODS = 3  # fewer periods with duration data than this is not enough to fit anything


@dataclass(frozen=True)
class CanaryWindow:
    """An alias that served `main_version` (at `main_mb`) and routed a share of its calls to `trial_version`
    (at `trial_mb`) from `start` to `end`. `start` None: not recorded by the agent, seen in the alias routing
    only (the window then starts with the trial version's first calls); `end` None: still routing."""

    alias: str
    main_version: str
    main_mb: int
    trial_version: str
    trial_mb: int
    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True)
class SizeBefore:
    """The memory size the agent found in force when it changed memory at `at` (its change record's
    `before`). Before the agent's first recorded change in a look-back, that size served the hours no
    REPORT lines account for, as the size in force does for a look-back without any change: the agent's
    own change must not make it forget what it measured up to that change."""

    at: datetime
    memory_mb: int


@dataclass(frozen=True)
class SeenChange:
    """The size in force went from `old_mb` (read at `after`) to `new_mb` (read at `before`) without a
    change of the agent's between: someone else changed it, when is not known. For a function whose
    REPORT lines are not read (Lambda Insights, JSON logs that hide them) it is all that tells the hours
    before it from those after: without it they would all be taken for the size in force now, the days
    measured at the old size among them."""

    after: datetime
    before: datetime
    old_mb: int
    new_mb: int


# What the agent knows it did: at time t memory became mb, or a canary ran, and the size its change found;
# and the changes of others it saw between two cycles (all may be mixed in one list).
HistoryItem = tuple[datetime, int] | CanaryWindow | SizeBefore | SeenChange
MIN_VERSION_COVERAGE = 0.95  # per-version calls must account for this share of the alias's calls


def memory_for_period(
    start: datetime, end: datetime, current_mb: int,
    history: Sequence[HistoryItem], windows: Sequence[ReportWindow],
) -> int | None:
    """The one memory size that served [start, end), or None when it cannot be told (canaries aside)."""
    found = sizes_found(history)
    seen = [h for h in history if isinstance(h, SeenChange)]
    if any(s.after < end and start < s.before for s in seen):
        return None  # someone else's change may fall in it
    # a change seen is a sighting of each size: from its `after` on the old one, from its `before` the new
    found += [SizeBefore(s.after, s.old_mb) for s in seen]
    changes = memory_changes(history)
    changes += [p for s in seen for p in ((s.after, s.old_mb), (s.before, s.new_mb))]
    return _memory_for_period(start, end, current_mb, changes, found=found, windows=windows)


def _memory_for_period(
    start: datetime, end: datetime, current_mb: int, history: Sequence[tuple[datetime, int]], *,
    found: Sequence[SizeBefore], windows: Sequence[ReportWindow],
) -> int | None:
    if any(start < t < end for t, _ in history):
        return None
    recorded = _recorded_size(start, current_mb, history)
    covering = [w for w in windows if w.start <= start and end <= w.end]
    if not covering:
        return recorded if recorded is not None else _found_by_first_change(end, history, found)
    sizes = min(covering, key=lambda w: w.end - w.start).sizes
    if len(sizes) == 1:
        return next(iter(sizes))  # what actually ran beats what we believe we set
    window_has_change = any(w.start <= t < w.end for w in covering for t, _ in history)
    if recorded is None and history and start < min(t for t, _ in history):
        # Before our first recorded change: the one size seen that we never set is the one it had.
        before = sizes - {mb for _, mb in history}
        return next(iter(before)) if window_has_change and len(before) == 1 else None
    return recorded if window_has_change and recorded in sizes else None


def _recorded_size(start: datetime, current_mb: int, history: Sequence[tuple[datetime, int]]) -> int | None:
    ordered = sorted(history)
    before = [mb for t, mb in ordered if t <= start]
    if not ordered:
        return current_mb
    if not before:
        return None  # changed later in the window, and what it was before is not recorded
    if len(before) == len(ordered) and before[-1] != current_mb:
        return None  # someone else changed it after our last change, we do not know when
    return before[-1]


def _found_by_first_change(
    end: datetime, changes: Sequence[tuple[datetime, int]], found: Sequence[SizeBefore]
) -> int | None:
    """For a period wholly before the first recorded change: the size that change found, when recorded."""
    if not changes or end > (first := min(t for t, _ in changes)):
        return None
    return next((f.memory_mb for f in found if f.at == first), None)


def memory_changes(history: Sequence[HistoryItem]) -> list[tuple[datetime, int]]:
    """The memory changes of a history; a canary's own record (at its start, to its trial size) is not one:
    the function's main traffic stayed at the size it had."""
    canaries = [h for h in history if isinstance(h, CanaryWindow)]
    return [h for h in history
            if isinstance(h, tuple) and not any(h == (c.start, c.trial_mb) for c in canaries)]


def sizes_found(history: Sequence[HistoryItem]) -> list[SizeBefore]:
    """The sizes the agent's changes found in force (`SizeBefore`)."""
    return [h for h in history if isinstance(h, SizeBefore)]


def build_epochs(
    series: Mapping[str, Mapping[datetime, float]], period_s: int, arch: Arch, current_mb: int, *,
    history: Sequence[HistoryItem] = (), windows: Sequence[ReportWindow] = (),
    reports: Mapping[int, ReportStats] | None = None,
    version_series: Mapping[str, Mapping[str, Mapping[datetime, float]]] | None = None,
) -> tuple[tuple[Epoch, ...], int]:
    """Epochs in time order (consecutive periods at one size; a canary window's epochs, one per size, share
    their start), and how many periods were dropped.

    A period a recorded change falls in ends the epoch before it, even where the size after it is the same:
    a change rolled back within its hour (`start < t < end` for both) came back to the size it left, and
    the hours after it are another stretch at that size, as they are when the change lasted longer than
    the hour. One epoch would average the hours before the change with those after its rollback, and
    whether the function was as fast there again (stopped_trials.not_about_memory) could not be told.

    `series` is what the serving alias (or the function) saw; `version_series` (version -> series name ->
    points) what each of its versions ran, for the canaries in `history` (whose alias must be that alias)."""
    step = timedelta(seconds=period_s)
    periods = sorted(set(series.get("inv", {})) | set(series.get("avg", {})))
    canaries = [h for h in history if isinstance(h, CanaryWindow)]
    by_canary = _canary_periods(periods, step, canaries, version_series or {})
    in_canary = {t for ts in by_canary.values() for t in ts}
    windows = _explain_canaries(windows, canaries, step)
    changes = memory_changes(history)
    runs: list[tuple[int, list[datetime]]] = []
    dropped = 0
    for t in periods:
        if t in in_canary:
            runs.append((0, []))  # a canary window ends the run it interrupts
            continue
        mb = memory_for_period(t, t + step, current_mb, history, windows)
        if mb is None:
            dropped += 1
            if any(t < at < t + step for at, _ in changes):
                runs.append((0, []))  # the size left and may have come back: what follows is another epoch
        elif runs and runs[-1][0] == mb:
            runs[-1][1].append(t)
        else:
            runs.append((mb, [t]))
    epochs = [_epoch(mb, ts, series, step=step, arch=arch) for mb, ts in runs if ts]
    for canary, ts in by_canary.items():
        split = _split(canary, ts, series, version_series or {})
        if split is None:
            dropped += len(ts)  # the versions' series do not account for the alias's calls: not guessed
            continue
        epochs.extend(_epoch(mb, ts, one, step=step, arch=arch, canary=mb == canary.trial_mb)
                      for mb, one in split.items())
    ordered = sorted(epochs, key=lambda e: (e.start, e.end, e.memory_mb))
    return _with_reports(ordered, reports or {}), dropped


def _with_reports(epochs: Sequence[Epoch], reports: Mapping[int, ReportStats]) -> tuple[Epoch, ...]:
    """REPORT facts are merged per memory size over the look-back, not per epoch: they go on the latest
    epoch at each size, once. On every epoch at that size, a size seen in three epochs would weigh three
    times in what is pooled across sizes (cold-start rate, INIT)."""
    latest = {e.memory_mb: i for i, e in enumerate(epochs)}
    return tuple(e.model_copy(update={"reports": reports[e.memory_mb]})
                 if latest[e.memory_mb] == i and e.memory_mb in reports else e for i, e in enumerate(epochs))


def _canary_periods(
    periods: Sequence[datetime], step: timedelta, canaries: Sequence[CanaryWindow],
    version_series: Mapping[str, Mapping[str, Mapping[datetime, float]]],
) -> dict[CanaryWindow, list[datetime]]:
    """The periods each canary overlaps (a period it only partly covers too: per version, calls are exact).
    A canary the agent did not record starts at its trial version's first calls in the look-back."""
    out: dict[CanaryWindow, list[datetime]] = {}
    taken: set[datetime] = set()
    for canary in (c for c in canaries if c.trial_mb != c.main_mb):  # one size: the alias's series is it
        start = canary.start
        if start is None:
            trial = version_series.get(canary.trial_version, {}).get("inv", {})
            start = min((t for t, v in trial.items() if v > 0), default=None)
            if start is None:
                continue  # no call ran on the trial version in the look-back: nothing to split
        ts = [t for t in periods if t + step > start and (canary.end is None or t < canary.end)
              and t not in taken]
        if ts:
            out[canary] = ts
            taken.update(ts)
    return out


def _explain_canaries(windows: Sequence[ReportWindow], canaries: Sequence[CanaryWindow], step: timedelta,
                      ) -> list[ReportWindow]:
    """A REPORT window that overlaps a canary saw its trial size too; outside the canary window that size
    did not serve the alias, so it is no reason to doubt which size did."""
    out = []
    for w in windows:
        extra = {c.trial_mb for c in canaries if c.trial_mb != c.main_mb
                 and (c.start is None or c.start < w.end) and (c.end is None or w.start < c.end + step)}
        out.append(ReportWindow(w.start, w.end, w.sizes - extra) if extra and w.sizes - extra else w)
    return out


def _split(
    canary: CanaryWindow, ts: Sequence[datetime], alias: Mapping[str, Mapping[datetime, float]],
    version_series: Mapping[str, Mapping[str, Mapping[datetime, float]]],
) -> dict[int, Mapping[str, Mapping[datetime, float]]] | None:
    """Per memory size, the series of the version that ran at it; None when the per-version calls fall
    short of the alias's (series not read, or a third version served): the split would be a guess."""
    sizes = {canary.main_version: canary.main_mb, canary.trial_version: canary.trial_mb}

    def calls(points: Mapping[datetime, float]) -> float:
        return sum(points.get(t, 0.0) for t in ts)

    total = calls(alias.get("inv", {}))
    served = {v: calls(version_series.get(v, {}).get("inv", {})) for v in sizes}
    if total <= 0 or sum(served.values()) < MIN_VERSION_COVERAGE * total:
        return None
    return {mb: version_series[v] for v, mb in sizes.items() if served[v] > 0}


def _epoch(mb: int, ts: list[datetime], series: Mapping[str, Mapping[datetime, float]], *, step: timedelta,
           arch: Arch, canary: bool = False) -> Epoch:
    col = {name: [series.get(name, {}).get(t) for t in ts] for name in SERIES}
    inv = [v or 0.0 for v in col["inv"]]
    with_duration = [i for i, v in enumerate(col["avg"]) if v is not None and inv[i] > 0]
    avg_values = [float(col["avg"][i] or 0.0) for i in with_duration]
    p99_values = [float(v) for i in with_duration if (v := col["p99"][i]) is not None]
    return Epoch(
        memory_mb=mb, arch=arch, start=ts[0], end=ts[-1] + step, invocations=round(sum(inv)),
        duration_avg_ms=weighted(col["avg"], inv), duration_p50_ms=weighted(col["p50"], inv),
        duration_p95_ms=weighted(col["p95"], inv), duration_p99_ms=weighted(col["p99"], inv),
        duration_max_ms=max((v for v in col["max"] if v is not None), default=None),
        errors=round(sum(v or 0.0 for v in col["err"])), throttles=round(sum(v or 0.0 for v in col["thr"])),
        periods=len(with_duration),
        duration_avg_spread_ms=pstdev(avg_values) if len(avg_values) >= 2 else None,
        duration_avg_se_ms=weighted_mean_se(avg_values, [inv[i] for i in with_duration]),
        duration_p99_spread_ms=pstdev(p99_values) if len(p99_values) >= 2 else None,
        canary=canary,
    )


def concurrency_series(
    window_start: datetime, window_end: datetime, period_s: int, maxima: Mapping[datetime, float], *,
    invocations: Mapping[datetime, float] | None = None,
    pc_utilization: Mapping[datetime, float] | None = None,
    pc_spillover: Mapping[datetime, float] | None = None,
) -> ConcurrencySeries:
    """Dense per-period arrays; a period without a datapoint had no invocations, so its value is 0."""
    step = timedelta(seconds=period_s)
    count = int((window_end - window_start) / step)
    times = [window_start + i * step for i in range(count)]

    def dense(points: Mapping[datetime, float] | None) -> tuple[float, ...]:
        return tuple(float(points.get(t, 0.0)) for t in times) if points else ()

    return ConcurrencySeries(start=window_start, period_s=period_s, max_concurrency=dense(maxima) or
                             tuple(0.0 for _ in times), invocations=dense(invocations),
                             pc_utilization_max=dense(pc_utilization), pc_spillover=dense(pc_spillover))


def observe(
    function: str, qualifier: str | None, window_start: datetime, window_end: datetime, *,
    epochs: tuple[Epoch, ...], dropped: int, concurrency: ConcurrencySeries | None = None,
    problems: Sequence[str] = (),
) -> Observations:
    """Observations with an honest status: insufficient whenever the model could not use them."""
    base = Observations(function=function, qualifier=qualifier, window_start=window_start,
                        window_end=window_end, epochs=epochs, concurrency=concurrency)
    reason = _insufficient(epochs, dropped, window_end - window_start, problems)
    return base.model_copy(update={"status": "insufficient", "reason": reason}) if reason else base


def _insufficient(epochs: tuple[Epoch, ...], dropped: int, window: timedelta, problems: Sequence[str],
                  ) -> str | None:
    if problems:
        return "; ".join(problems)
    days = window.days or 1
    if not epochs:
        if dropped:
            return f"{dropped} periods with traffic could not be tied to one memory size"
        return f"no invocations in the last {days} days"
    useful = sum(e.periods for e in epochs)
    if useful < MIN_PERIODS:
        return f"only {useful} periods with duration data in the last {days} days (need {MIN_PERIODS})"
    return None
