"""Epochs: periods kept apart by the memory size that served them, aggregated with honest statistics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lambda_tuner.core import epochs as ep
from lambda_tuner.core import report_windows as rw
from lambda_tuner.core.models import ReportStats

T0 = datetime(2026, 11, 1, tzinfo=UTC)
H = timedelta(hours=1)


def _series(hours: range, avg: float, p99: float, inv: float = 100.0) -> dict[str, dict[datetime, float]]:
    ts = [T0 + h * H for h in hours]
    return {
        "inv": dict.fromkeys(ts, inv),
        "avg": dict.fromkeys(ts, avg),
        "p50": dict.fromkeys(ts, avg),
        "p95": dict.fromkeys(ts, p99 * 0.9),
        "p99": dict.fromkeys(ts, p99),
        "max": dict.fromkeys(ts, p99 * 2),
        "err": dict.fromkeys(ts, 1.0),
        "thr": dict.fromkeys(ts, 0.0),
    }


def _join(*parts: dict[str, dict[datetime, float]]) -> dict[str, dict[datetime, float]]:
    return {k: {t: v for p in parts for t, v in p[k].items()} for k in parts[0]}


def test_a_recorded_memory_change_splits_the_series_into_two_epochs():
    # Given 10 hours at 1024 MB, then a change to 512 MB at hour 10, then 10 more hours
    series = _join(_series(range(10), 100.0, 150.0), _series(range(10, 20), 180.0, 260.0))
    history = [(T0 + 10 * H, 512)]
    epochs, dropped = ep.build_epochs(series, 3600, "x86_64", 512, history=history)
    # Then the hours before the change are not known (no record of the earlier size) ...
    assert [e.memory_mb for e in epochs] == [512] and dropped == 10
    # ... unless an earlier record says what it was
    epochs, dropped = ep.build_epochs(series, 3600, "x86_64", 512, history=[(T0 - H, 1024), *history])
    assert [(e.memory_mb, e.invocations, e.duration_avg_ms) for e in epochs] == [
        (1024, 1000, 100.0),
        (512, 1000, 180.0),
    ]
    assert epochs[0].end == epochs[1].start == T0 + 10 * H and dropped == 0


def test_the_hours_before_our_first_change_are_the_size_that_change_found():
    # Given 10 hours at 1024 MB, then our change to 512 MB, whose record says it found 1024 MB in force,
    # and no REPORT lines for the hours before it (the demo's score-calculator: 14 days at 128 MB gone
    # the day after its first change, and the next cycle asked to try 128 MB "to learn")
    series = _join(_series(range(10), 100.0, 150.0), _series(range(10, 20), 180.0, 260.0))
    history = [(T0 + 10 * H, 512), ep.SizeBefore(T0 + 10 * H, 1024)]
    epochs, dropped = ep.build_epochs(series, 3600, "x86_64", 512, history=history)
    # Then those hours are the size it found, as they were before the change
    assert [(e.memory_mb, e.periods) for e in epochs] == [(1024, 10), (512, 10)] and dropped == 0
    # A later change's finding says nothing of the hours before the first change
    later = [(T0 + 10 * H, 512), ep.SizeBefore(T0 + 15 * H, 512), (T0 + 15 * H, 768)]
    epochs, dropped = ep.build_epochs(series, 3600, "x86_64", 768, history=later)
    assert [e.memory_mb for e in epochs] == [512, 768] and dropped == 10
    # REPORT lines that saw another size there too still win: the hours are dropped, not guessed
    window = ep.ReportWindow(T0, T0 + 20 * H, frozenset({2048, 1024, 512}))
    epochs, dropped = ep.build_epochs(series, 3600, "x86_64", 512, history=history, windows=[window])
    assert [e.memory_mb for e in epochs] == [512] and dropped == 10


def test_a_period_straddling_a_change_is_dropped_rather_than_misattributed():
    series = _series(range(4), 100.0, 150.0)
    history = [(T0 - H, 1024), (T0 + 2 * H + timedelta(minutes=30), 2048)]
    epochs, dropped = ep.build_epochs(series, 3600, "x86_64", 2048, history=history)
    assert [e.memory_mb for e in epochs] == [1024, 2048] and dropped == 1


def test_a_change_rolled_back_within_its_hour_leaves_the_hours_before_and_after_apart():
    # Given 1024 MB for 9 hours, a move to 512 MB at 9:10 its alarm rolled back at 9:40, and the function
    # four times slower from then on (an incident elsewhere, not the memory)
    series = _join(_series(range(9), 100.0, 150.0), _series(range(9, 20), 400.0, 600.0))
    min_ = timedelta(minutes=1)
    history = [(T0 - H, 1024), (T0 + 9 * H + 10 * min_, 512), (T0 + 9 * H + 40 * min_, 1024)]
    epochs, dropped = ep.build_epochs(series, 3600, "x86_64", 1024, history=history)
    # Then the hour the move and its rollback fall in is dropped, and the hours on either side of it are
    # two epochs at 1,024 MB, as they would be had the move lasted longer: not one averaging both
    assert [(e.memory_mb, e.start, e.end, e.duration_avg_ms) for e in epochs] == [
        (1024, T0, T0 + 9 * H, 100.0),
        (1024, T0 + 10 * H, T0 + 20 * H, 400.0),
    ]
    assert dropped == 1


def test_report_windows_reveal_a_change_nobody_recorded():
    # Given no records, but REPORT lines: day 1 only at 256 MB, day 2 both sizes, day 3 only at 1024 MB
    series = _series(range(72), 50.0, 80.0)
    windows = [
        ep.ReportWindow(T0 + d * 24 * H, T0 + (d + 1) * 24 * H, frozenset(s))
        for d, s in enumerate([{256}, {256, 1024}, {1024}])
    ]
    epochs, dropped = ep.build_epochs(series, 3600, "arm64", 1024, windows=windows)
    assert [(e.memory_mb, e.periods) for e in epochs] == [(256, 24), (1024, 24)] and dropped == 24
    assert epochs[0].arch == "arm64"


def test_percentiles_are_invocation_weighted_means_and_spreads_measure_noise():
    busy = _series(range(1), 100.0, 200.0, inv=300.0)
    quiet = _series(range(1, 2), 200.0, 400.0, inv=100.0)
    (epoch,), _ = ep.build_epochs(_join(busy, quiet), 3600, "x86_64", 128)
    assert epoch.duration_avg_ms == pytest.approx((300 * 100 + 100 * 200) / 400)
    assert epoch.duration_p99_ms == pytest.approx((300 * 200 + 100 * 400) / 400)
    assert epoch.duration_max_ms == 800.0 and epoch.errors == 2 and epoch.periods == 2
    assert epoch.duration_avg_spread_ms == pytest.approx(50.0)
    # calls-weighted: 2/1 * (0.75^2 * 25^2 + 0.25^2 * 75^2) = 1406.25
    assert epoch.duration_avg_se_ms == pytest.approx(37.5)
    assert epoch.duration_p99_spread_ms == pytest.approx(100.0)


def test_report_stats_attach_to_the_epochs_at_their_memory_size():
    stats = {512: ReportStats(invocations=10, cold_starts=2, init_ms_avg=300.0)}
    (epoch,), _ = ep.build_epochs(_series(range(5), 10.0, 20.0), 3600, "x86_64", 512, reports=stats)
    assert epoch.reports == stats[512]


@pytest.mark.parametrize(
    ("hours", "problems", "reason"),
    [
        (range(0), [], "no invocations in the last 14 days"),
        (range(2), [], "only 2 periods with duration data"),
        (range(30), ["p99 unreadable: Throttling"], "p99 unreadable: Throttling"),
    ],
)
def test_observations_say_why_the_data_is_insufficient(hours, problems, reason):
    series = _series(hours, 10.0, 20.0) if hours else {}
    epochs, dropped = ep.build_epochs(series, 3600, "x86_64", 128)
    obs = ep.observe(
        "f", None, T0, T0 + timedelta(days=14), epochs=epochs, dropped=dropped, problems=problems
    )
    assert obs.status == "insufficient" and reason in (obs.reason or "")


def test_enough_data_is_ok():
    epochs, _ = ep.build_epochs(_series(range(30), 10.0, 20.0), 3600, "x86_64", 128)
    assert ep.observe("f", "live", T0, T0 + timedelta(days=14), epochs=epochs, dropped=0).status == "ok"


def test_report_windows_merge_counts_weighted_averages_and_drop_old_windows():
    w1 = rw.window_entry(T0, T0 + 24 * H, {512: [100, 10, 300.0, 50.0, 48.0, 70.0, 80.0, 0]})
    w2 = rw.window_entry(
        T0 + 24 * H,
        T0 + 48 * H,
        {512: [300, 30, 400.0, 70.0, 66.0, 75.0, 90.0, 1], 1024: [5, 1, None, 20.0, 19.0, 71.0, 72.0, 0]},
    )
    merged = rw.merge_windows([w1, w2])
    s = merged[512]
    assert (s.invocations, s.cold_starts) == (400, 40)
    assert s.init_ms_avg == pytest.approx((10 * 300 + 30 * 400) / 40)
    assert s.billed_ms_avg == pytest.approx((100 * 50 + 300 * 70) / 400)
    assert (s.max_memory_used_mb_p99, s.max_memory_used_mb_max, s.partial) == (75.0, 90.0, True)
    assert merged[1024].init_ms_avg is None
    assert rw.prune_windows([w1, w2], T0 + 24 * H) == [w2]
    assert [w.sizes for w in rw.report_windows([w1, w2])] == [frozenset({512}), frozenset({512, 1024})]


def test_concurrency_is_dense_with_zero_for_periods_without_data():
    series = ep.concurrency_series(T0, T0 + 3 * H, 3600, {T0 + H: 4.0}, pc_utilization={T0: 0.5})
    assert series.max_concurrency == (0.0, 4.0, 0.0)
    assert series.pc_utilization_max == (0.5, 0.0, 0.0) and series.pc_spillover == ()


def test_the_size_before_our_first_change_is_read_from_the_report_lines_of_that_window():
    # Given one report window over both sizes, and our record of switching 1024 -> 512 at hour 10
    series = _join(_series(range(10), 100.0, 150.0), _series(range(10, 20), 180.0, 260.0))
    window = ep.ReportWindow(T0, T0 + 20 * H, frozenset({1024, 512}))
    epochs, dropped = ep.build_epochs(
        series, 3600, "x86_64", 512, history=[(T0 + 10 * H, 512)], windows=[window]
    )
    # Then the hours before the change belong to the size we never set ourselves
    assert [(e.memory_mb, e.periods) for e in epochs] == [(1024, 10), (512, 10)] and dropped == 0


def test_a_change_seen_between_cycles_splits_the_hours_and_drops_those_it_may_fall_in():
    # Given 20 hours, and a size read at 512 MB at hour 8 and at 1024 MB at hour 12 without a change of
    # the agent's between (a deploy: when is not known), no REPORT windows
    series = _join(_series(range(10), 180.0, 260.0), _series(range(10, 20), 100.0, 150.0))
    seen = ep.SeenChange(T0 + 8 * H, T0 + 12 * H, 512, 1024)
    epochs, dropped = ep.build_epochs(series, 3600, "x86_64", 1024, history=[seen])
    # Then the hours before are 512 MB, those after 1024 MB, and the four between neither
    assert [(e.memory_mb, e.periods) for e in epochs] == [(512, 8), (1024, 8)] and dropped == 4
    # With a change of the agent's after it (1024 -> 768 MB at hour 16), each size keeps its hours
    history = [seen, (T0 + 16 * H, 768), ep.SizeBefore(T0 + 16 * H, 1024)]
    epochs, dropped = ep.build_epochs(series, 3600, "x86_64", 768, history=history)
    assert [(e.memory_mb, e.periods) for e in epochs] == [(512, 8), (1024, 4), (768, 4)] and dropped == 4
