"""A canary day (an alias routing a share of its calls to a version at another memory size) becomes one epoch
per memory size, both over the same window; everything outside the window is epoched as before."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lambda_tuner.core import epochs as ep
from lambda_tuner.core.memory_usage import usage_from
from lambda_tuner.core.models import ReportStats
from lambda_tuner.core.same_day import canary_epochs

T0 = datetime(2026, 11, 1, tzinfo=UTC)
H = timedelta(hours=1)
Series = dict[str, dict[datetime, float]]


def _series(hours: range, avg: float, inv: float) -> Series:
    ts = [T0 + h * H for h in hours]
    return {
        "inv": dict.fromkeys(ts, inv), "avg": dict.fromkeys(ts, avg), "p50": dict.fromkeys(ts, avg),
        "p95": dict.fromkeys(ts, avg * 1.3), "p99": dict.fromkeys(ts, avg * 1.5),
        "max": dict.fromkeys(ts, avg * 2), "err": dict.fromkeys(ts, 0.0), "thr": dict.fromkeys(ts, 0.0),
    }


def _join(*parts: Series) -> Series:
    return {k: {t: v for p in parts for t, v in p[k].items()} for k in ep.SERIES}


# Hours 0-23 alias "live" serves version 3 (1024 MB) alone at 100 calls/hour and 200 ms; hours 24-47 it
# routes 10 % to version 4 (512 MB, 380 ms); hours 48-71 version 3 alone again.
BEFORE, CANARY, AFTER = range(24), range(24, 48), range(48, 72)
MAIN = _join(_series(BEFORE, 200.0, 100.0), _series(CANARY, 200.0, 90.0), _series(AFTER, 200.0, 100.0))
TRIAL = _series(CANARY, 380.0, 10.0)
ALIAS = _join(_series(BEFORE, 200.0, 100.0), _series(CANARY, 218.0, 100.0), _series(AFTER, 200.0, 100.0))
RECORDED = ep.CanaryWindow("live", "3", 1024, "4", 512, start=T0 + 24 * H, end=T0 + 48 * H)
SEEN_ONLY = ep.CanaryWindow("live", "3", 1024, "4", 512)  # in the alias routing now, never recorded
# The REPORT scans (one a day) saw both sizes on the canary day
WINDOWS = [ep.ReportWindow(T0 + d * 24 * H, T0 + (d + 1) * 24 * H,
                           frozenset({1024, 512} if d == 1 else {1024})) for d in range(3)]


def _build(history: list[ep.HistoryItem], versions: dict[str, Series] | None = None, alias: Series = ALIAS,
           **kw: object) -> tuple[tuple[ep.Epoch, ...], int]:
    return ep.build_epochs(alias, 3600, "x86_64", 1024, history=history, windows=WINDOWS,
                           version_series={"3": MAIN, "4": TRIAL} if versions is None else versions, **kw)


def test_a_recorded_canary_day_yields_one_epoch_per_size_over_the_same_window():
    epochs, dropped = _build([RECORDED])
    canary = [e for e in epochs if e.start == T0 + 24 * H]
    # Then both sizes have an epoch over exactly the canary day ...
    assert sorted(e.memory_mb for e in canary) == [512, 1024] and dropped == 0
    assert {(e.start, e.end) for e in canary} == {(T0 + 24 * H, T0 + 48 * H)}
    by_mb = {e.memory_mb: e for e in canary}
    # ... with the calls split as the versions ran them, and each size's own durations
    assert (by_mb[1024].invocations, by_mb[512].invocations) == (24 * 90, 24 * 10)
    assert (by_mb[1024].duration_avg_ms, by_mb[512].duration_avg_ms) == (200.0, 380.0)
    assert by_mb[512].duration_p99_ms == 570.0 and by_mb[512].periods == 24
    # ... and the trial version's epoch is marked as the canary, the main traffic's is not
    assert (by_mb[512].canary, by_mb[1024].canary) == (True, False)
    assert not any(e.canary for e in epochs if e.start != T0 + 24 * H)


def test_outside_the_canary_window_the_alias_series_is_epoched_as_before():
    epochs, _ = _build([RECORDED])
    outside = [e for e in epochs if e.start != T0 + 24 * H]
    # Then the day before and the day after are 1024 MB epochs of the alias's own series, not joined
    assert [(e.memory_mb, e.start, e.end, e.invocations) for e in outside] == [
        (1024, T0, T0 + 24 * H, 2400), (1024, T0 + 48 * H, T0 + 72 * H, 2400)]
    # And without any canary the two-size day, unexplained, is dropped as before (the one 1024 MB epoch
    # spans it, with the single-size days' 48 periods only)
    plain, dropped = _build([], versions={})
    assert [(e.memory_mb, e.start, e.end, e.periods) for e in plain] == [(1024, T0, T0 + 72 * H, 48)]
    assert dropped == 24


def test_epochs_come_in_time_order_with_the_canary_pair_between_the_days_around_it():
    epochs, _ = _build([RECORDED])
    assert [(e.start.hour + 24 * (e.start.day - 1), e.memory_mb) for e in epochs] == [
        (0, 1024), (24, 512), (24, 1024), (48, 1024)]


def test_the_canary_records_own_memory_entry_is_not_taken_for_a_change_of_the_main_size():
    # Given a history that also lists the canary's record as "memory became 512 MB at its start"
    epochs, dropped = _build([(T0 + 24 * H, 512), RECORDED, (T0 + 48 * H, 1024)])
    # Then the day after the canary is still the main size's, and nothing is dropped
    assert [(e.start, e.memory_mb) for e in epochs if e.start >= T0 + 48 * H] == [(T0 + 48 * H, 1024)]
    assert dropped == 0


def test_a_canary_seen_only_in_the_alias_routing_starts_with_the_trial_versions_first_calls():
    # Given no record: the alias routes to version 4 now, and version 4 ran from hour 24 on
    trial_still_on = _series(range(24, 72), 380.0, 10.0)
    main_still_on = _join(_series(BEFORE, 200.0, 100.0), _series(range(24, 72), 200.0, 90.0))
    alias = _join(_series(BEFORE, 200.0, 100.0), _series(range(24, 72), 218.0, 100.0))
    epochs, dropped = _build([SEEN_ONLY], versions={"3": main_still_on, "4": trial_still_on}, alias=alias)
    assert [(e.memory_mb, e.start, e.end) for e in epochs] == [
        (1024, T0, T0 + 24 * H), (512, T0 + 24 * H, T0 + 72 * H), (1024, T0 + 24 * H, T0 + 72 * H)]
    assert dropped == 0


def test_a_canary_whose_versions_do_not_account_for_the_alias_calls_is_dropped_not_guessed():
    # Given the canary is recorded but the per-version series were not read (or came back empty)
    epochs, dropped = _build([RECORDED], versions={})
    assert all(e.start != T0 + 24 * H for e in epochs) and dropped == 24
    # And given only the main version's calls came back (90 of every 100): still not a split to trust
    epochs, dropped = _build([RECORDED], versions={"3": MAIN})
    assert all(e.start != T0 + 24 * H for e in epochs) and dropped == 24


def test_two_sizes_with_neither_a_record_nor_a_routing_are_still_dropped():
    # Given version series exist but no canary is known (no record, the alias routes nowhere now)
    epochs, dropped = _build([])
    assert dropped == 24 and {e.memory_mb for e in epochs} == {1024}


def test_report_facts_attach_to_the_epoch_of_their_memory_size():
    reports = {1024: ReportStats(invocations=6960, cold_starts=3),
               512: ReportStats(invocations=240, cold_starts=7)}
    epochs, _ = _build([RECORDED], reports=reports)
    trial = next(e for e in epochs if e.memory_mb == 512)
    assert trial.reports is not None and trial.reports.cold_starts == 7
    # merged over the look-back per size, they go on one epoch of each size (the latest), so a size seen
    # in several epochs does not weigh several times in what is pooled across sizes
    main = [e for e in epochs if e.memory_mb == 1024]
    assert len(main) > 1 and [e.reports is not None for e in main] == [False] * (len(main) - 1) + [True]
    assert main[-1].reports is not None and main[-1].reports.cold_starts == 3


def test_report_facts_of_a_size_seen_in_several_epochs_count_once_in_the_cold_start_rate():
    reports = {1024: ReportStats(invocations=6960, cold_starts=3),
               512: ReportStats(invocations=240, cold_starts=7)}
    epochs, _ = _build([RECORDED], reports=reports)
    assert sum(e.memory_mb == 1024 for e in epochs) > 1
    assert usage_from(list(epochs), 1.25).cold_start_rate == pytest.approx((3 + 7) / (6960 + 240))


def test_a_canary_that_ends_mid_hour_keeps_that_hour_in_its_window():
    # Given the canary was concluded at 47:40: hour 47 still saw both versions
    half_past = ep.CanaryWindow("live", "3", 1024, "4", 512, start=T0 + 24 * H + timedelta(minutes=10),
                                end=T0 + 47 * H + timedelta(minutes=40))
    epochs, dropped = _build([half_past])
    canary = [e for e in epochs if e.start == T0 + 24 * H]
    assert {(e.start, e.end) for e in canary} == {(T0 + 24 * H, T0 + 48 * H)} and dropped == 0


def test_a_canary_between_two_versions_of_one_size_leaves_the_alias_series_whole():
    same = ep.CanaryWindow("live", "3", 1024, "5", 1024, start=T0 + 24 * H, end=T0 + 48 * H)
    one_size = [ep.ReportWindow(T0, T0 + 72 * H, frozenset({1024}))]
    epochs, dropped = ep.build_epochs(ALIAS, 3600, "x86_64", 1024, history=[same], windows=one_size,
                                      version_series={"3": MAIN, "5": TRIAL})
    assert [(e.memory_mb, e.start, e.end, e.invocations) for e in epochs] == [(1024, T0, T0 + 72 * H, 7200)]
    assert dropped == 0


def test_the_canary_is_the_marked_epoch_even_when_it_took_more_calls_than_the_main_traffic():
    # Given a quiet function's canary on half the traffic, which by chance served more calls that day
    day = (T0, T0 + 24 * H)
    main = ep.Epoch(memory_mb=2048, arch="x86_64", start=day[0], end=day[1], invocations=480,
                    duration_avg_ms=700.0)
    trial = main.model_copy(update={"memory_mb": 640, "invocations": 520, "canary": True})
    before = main.model_copy(update={"start": T0 - 24 * H, "end": T0, "invocations": 1000})
    # Then the marked epoch is the canary, whatever the calls say
    assert canary_epochs([before, main, trial]) == [trial]
    # And epochs built before the mark existed fall back to the calls: the one with fewer is the canary
    unmarked = trial.model_copy(update={"canary": False})
    assert canary_epochs([before, main, unmarked]) == [main]
