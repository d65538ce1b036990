"""Shapes, curves, traffic and fleets: the ground truth is physically sensible, repeatable and lazy."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from lambda_tuner.twin import shapes, traffic
from lambda_tuner.twin.azure_trace import load_trace
from lambda_tuner.twin.curves import load_curves
from lambda_tuner.twin.fleet import FunctionSpec, demo_fleet, scaled_fleet
from lambda_tuner.twin.world import World

SHARED = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"
CURVES = SHARED / "lambda-curves" / "curves.csv"
TRACE = SHARED / "azure-functions-2019"


def test_single_threaded_code_stops_speeding_up_at_one_vcpu():
    shape = shapes.cpu_bound(100, fixed_ms=0)
    assert float(shape.duration(128)) == pytest.approx(100 * 1769 / 128)
    assert float(shape.duration(1769)) == float(shape.duration(10240)) == pytest.approx(100)


def test_multi_threaded_code_keeps_gaining_up_to_six_vcpus():
    shape = shapes.multi_threaded(600, threads=6, fixed_ms=0)
    assert float(shape.duration(3538)) == pytest.approx(300)
    assert float(shape.duration(10240)) == pytest.approx(600 / (10240 / 1769))


def test_io_bound_code_gains_almost_nothing_from_memory():
    shape = shapes.io_bound(200, cpu_ms=2)
    assert float(shape.duration(512)) / float(shape.duration(3008)) < 1.05


def test_shapes_refuse_impossible_parameters():
    with pytest.raises(ValueError, match="threads"):
        shapes.multi_threaded(100, threads=8)
    with pytest.raises(ValueError, match="oom_floor_mb"):
        shapes.memory_hungry(100, oom_floor_mb=64)


def test_interpolated_curve_never_overshoots_its_measured_neighbours(tmp_path):
    # Given a curve file with a plateau and a step (where a cubic spline would ring)
    path = tmp_path / "curves.csv"
    rows = [(128, 1000), (256, 500), (512, 250), (1024, 240), (2048, 239), (3008, 100)]
    path.write_text(
        "function_id,arch,memory_mb,duration_ms,source\n"
        + "".join(f"step,x86_64,{m},{d},test\n" for m, d in rows)
    )
    (curve,) = load_curves(path)
    extended = shapes.Extrapolated(curve)
    for (m0, d0), (m1, d1) in itertools.pairwise(rows):
        between = extended.duration(np.linspace(m0, m1, 50))
        assert between.min() >= min(d0, d1) - 1e-9
        assert between.max() <= max(d0, d1) + 1e-9
    # And beyond the measured sizes it follows the vCPU share instead of staying flat below 1,769 MB
    assert float(extended.duration(64)) == pytest.approx(1000)  # clamped to Lambda's 128 MB minimum
    assert float(extended.duration(10240)) == pytest.approx(100)


def test_between_measured_sizes_the_curve_is_a_power_law_and_invents_no_cheaper_size(tmp_path):
    # Given a curve that speeds up more than in proportion below 512 MB and less above it, the shape
    # under which PCHIP bows the cost below both neighbours
    path = tmp_path / "curves.csv"
    rows = [(256, 2400.0), (384, 1300.0), (512, 750.0), (768, 504.0), (1024, 400.0)]
    path.write_text(
        "function_id,arch,memory_mb,duration_ms,source\n"
        + "".join(f"kink,x86_64,{m},{d},test\n" for m, d in rows)
    )
    (power,) = load_curves(path)
    (pchip,) = load_curves(path, interpolation="pchip")
    m = np.arange(512, 769, dtype=float)
    # Then halfway in log space the duration is the geometric mean of its neighbours
    assert float(power.duration(math.sqrt(512 * 768))) == pytest.approx(math.sqrt(750.0 * 504.0))
    # And memory x duration (the duration part of the cost) never dips below both measured sizes
    assert (m * power.duration(m)).min() == pytest.approx(min(512 * 750.0, 768 * 504.0))
    # While PCHIP, kept for earlier figures, puts a cheaper size between them that was never measured
    assert (m * pchip.duration(m)).min() < 0.99 * min(512 * 750.0, 768 * 504.0)
    with pytest.raises(ValueError, match="interpolation"):
        load_curves(path, interpolation="cubic")  # type: ignore[arg-type]


@pytest.mark.skipif(not CURVES.exists(), reason="shared curves not found at ../shared/data/lambda-curves")
def test_shared_curves_come_back_out_of_the_world_at_their_measured_sizes(epoch, q):
    curves = {c.function_id: c for c in load_curves(CURVES)}
    curve = curves["epsagon_fibonacci_2018"]
    specs = [
        FunctionSpec(f"fib-{m}", shapes.Extrapolated(curve), traffic.steady(20, seed=m), memory_mb=m)
        for m in curve.sizes
    ]
    world = World(specs, seed=1, epoch=epoch, now=epoch + timedelta(days=1))
    results = world.metric_data(
        [q(s.name, "Duration", "Average", period=86400) for s in specs], epoch, epoch + timedelta(days=1)
    )
    for size, mean, result in zip(curve.sizes, curve.means, results, strict=True):
        assert result["values"][0] == pytest.approx(mean, rel=0.02), size


def test_traffic_is_repeatable_and_any_window_agrees_with_a_wider_one():
    for pattern in (
        traffic.steady(3, seed=4),
        traffic.diurnal(10, seed=4),
        traffic.spiky(0.1, 30, seed=4),
        traffic.rare(5, seed=4),
    ):
        wide = pattern.counts(1_000_000, 3 * 1440)
        assert np.array_equal(wide[1440:1500], pattern.counts(1_001_440, 60))
        assert np.array_equal(wide, pattern.counts(1_000_000, 3 * 1440))


def test_diurnal_traffic_peaks_at_its_hour_and_dips_at_weekends():
    pattern = traffic.diurnal(100, peak_ratio=5, peak_hour_utc=15, weekend_factor=0.5, seed=2)
    monday = int(datetime(2025, 11, 3, tzinfo=UTC).timestamp()) // 60
    day = pattern.counts(monday, 1440).reshape(24, 60).sum(axis=1)
    assert int(np.argmax(day)) in (14, 15, 16)
    assert day.max() / day.min() > 3
    week = pattern.counts(monday, 7 * 1440).reshape(7, 1440).sum(axis=1)
    assert week[5] < 0.6 * week[0] and week[6] < 0.6 * week[0]
    assert pattern.mean_rpm == pytest.approx(week.mean() / 1440, rel=0.05)


@pytest.mark.skipif(not TRACE.exists(), reason="Azure trace not found at ../shared/data/azure-functions-2019")
def test_trace_traffic_repeats_the_measured_day_with_a_small_jitter():
    function = load_trace(TRACE, limit=5).functions[1]
    pattern = traffic.from_trace(function, seed=3)
    days = pattern.counts(0, 3 * 1440).reshape(3, 1440).sum(axis=1)
    assert days == pytest.approx([function.per_minute.sum()] * 3, rel=0.3)
    assert len(set(days.tolist())) > 1


def test_a_large_world_builds_without_simulating_and_a_query_touches_only_its_function(epoch, q):
    fleet = scaled_fleet(10_000, seed=2)
    world = World(fleet, seed=1, epoch=epoch, now=epoch + timedelta(days=14))
    assert world.evaluated == Counter()
    name = fleet[1234].name
    world.metric_data(
        [q(name, "Invocations", "Sum"), q(name, "Duration", "p99")], epoch, epoch + timedelta(days=14)
    )
    world.insights(
        'filter @type = "REPORT" | stats count(*) by @log',
        [f"/aws/lambda/{name}"],
        epoch,
        epoch + timedelta(days=1),
    )
    assert set(world.evaluated) == {name}


def test_scaled_fleet_has_the_realistic_mix():
    fleet = scaled_fleet(2000, seed=3)
    assert len({s.name for s in fleet}) == 2000
    share = lambda pred: sum(map(pred, fleet)) / len(fleet)  # noqa: E731
    assert 0.03 < share(lambda s: bool(s.aliases)) < 0.08
    assert 0.002 < share(lambda s: any(a.pc for a in s.aliases)) < 0.025
    assert 0.06 < share(lambda s: s.log_format == "JSON") < 0.14
    assert share(lambda s: s.traffic.mean_rpm < 1) > 0.5
    assert [s.name for s in scaled_fleet(50, seed=3)] == [s.name for s in fleet[:50]]


def test_demo_fleet_covers_every_story_the_demo_needs():
    fleet = demo_fleet(seed=7)
    assert 35 <= len(fleet) <= 45
    by = {s.name: s for s in fleet}
    tags = [s.tags for s in fleet]
    assert sum(1 for s in fleet if any(a.pc for a in s.aliases)) >= 5
    assert sum(1 for s in fleet if s.snapstart) == 1
    assert sum(1 for s in fleet if s.arch == "arm64") >= 3
    assert sum(1 for s in fleet if s.insights) >= 2
    assert sum(1 for s in fleet if s.log_format == "JSON") >= 3
    assert sum(1 for s in fleet if not s.emits_reports) == 1
    assert sum(1 for t in tags if "aws:cloudformation:stack-name" in t) >= 3
    assert {
        "lambda-tuner:mode",
        "lambda-tuner:strategy",
        "lambda-tuner:p99-ms",
        "lambda-tuner:min-mb",
        "lambda-tuner:max-mb",
        "lambda-tuner:cold-start-objective",
    } <= {k for t in tags for k in t}
    assert by["profile-service"].tags["lambda-tuner:min-mb"] == "lots"
    assert (
        by["etl-pandas"].oom_floor_mb is not None
        and by["etl-pandas"].memory_mb > by["etl-pandas"].oom_floor_mb
    )
    assert by["image-resize"].mean_ms(256) < by["image-resize"].mean_ms(128) / 1.5


def test_function_specs_refuse_inconsistent_ground_truth():
    with pytest.raises(ValueError, match="shares must sum to 1"):
        FunctionSpec("x", shapes.io_bound(10), traffic.steady(1), invoked=(("$LATEST", 0.5),))
    with pytest.raises(ValueError, match="unknown qualifier"):
        FunctionSpec("x", shapes.io_bound(10), traffic.steady(1), invoked=(("live", 1.0),))
    with pytest.raises(ValueError, match="memory_mb"):
        FunctionSpec("x", shapes.io_bound(10), traffic.steady(1), memory_mb=64)


def test_memory_pressure_makes_a_starved_function_both_slower_and_dearer():
    shape = shapes.cpu_bound(300, gc_mb=250)
    cost = {m: float(shape.duration(m)) * m for m in (256, 1024)}
    assert float(shape.duration(1024)) < float(shape.duration(256))
    assert cost[1024] < 0.8 * cost[256]


def test_duration_noise_comes_from_the_curves_own_samples_when_it_has_them(tmp_path):
    # Given a curve with several samples per size (spread ~10 %) and one with a single mean per size
    path = tmp_path / "curves.csv"
    rng = np.random.default_rng(1)
    sampled = "".join(
        f"noisy,x86_64,{m},{d * v:.3f},t\n"
        for m, d in ((256, 400), (512, 200))
        for v in rng.normal(1, 0.1, 30)
    )
    path.write_text(
        "function_id,arch,memory_mb,duration_ms,source\n"
        + sampled
        + "plain,x86_64,256,400,t\nplain,x86_64,512,200,t\n"
    )
    curves = {c.function_id: c for c in load_curves(path)}
    noisy = FunctionSpec("n", curves["noisy"], traffic.steady(1), noise=0.5)
    plain = FunctionSpec("p", curves["plain"], traffic.steady(1), noise=0.5)
    # Then the sampled curve's noise has the samples' spread, and the other uses the spec's lognormal
    assert noisy.noise_model().cv == pytest.approx(0.1, abs=0.03)
    assert plain.noise_model().cv == pytest.approx(0.5)
    assert 1.1 < noisy.p99_ratio < 1.4 < plain.p99_ratio


def test_every_demo_function_answers_every_metric_and_log_query(epoch, q):
    # Given the demo account one day in
    fleet = demo_fleet(seed=7)
    world = World(fleet, seed=7, epoch=epoch, now=epoch + timedelta(days=1))
    metrics = [
        "Invocations",
        "Errors",
        "Throttles",
        "Duration",
        "ConcurrentExecutions",
        "ProvisionedConcurrencyUtilization",
        "ProvisionedConcurrencySpilloverInvocations",
        "ProvisionedConcurrentExecutions",
        "ProvisionedConcurrencyInvocations",
    ]
    queries = []
    for spec in fleet:
        dims = [{}] + [{"Resource": f"{spec.name}:{a.name}"} for a in spec.aliases]
        queries += [
            q(spec.name, m, "p99" if m == "Duration" else "Maximum", **d) for m in metrics for d in dims
        ]
    # When every function is asked for every metric, its log group queried and its REPORT lines read
    results = world.metric_data(queries, epoch, epoch + timedelta(days=1))
    rows, stats = world.insights(
        'filter @type = "REPORT" or type = "platform.report" | stats count(*) as n by @log',
        sorted({s.log_group_name for s in fleet}),
        epoch,
        epoch + timedelta(days=1),
    )
    # Then every answer is complete and finite, and every function that writes REPORT records has some
    assert all(r["status_code"] == "Complete" and np.isfinite(r["values"]).all() for r in results)
    busy = [s for s in fleet if s.traffic.mean_rpm > 1]
    assert all(
        world.report_lines(s.name, epoch, epoch + timedelta(hours=1), limit=1)
        for s in busy
        if s.emits_reports
    )
    reported = {r[0]["value"].split(":", 1)[1] for r in rows}
    assert {s.log_group_name for s in busy if s.emits_reports} <= reported
    assert stats["bytesScanned"] > 0


def test_an_hourly_cron_burst_comes_at_its_minute_of_every_hour() -> None:
    counts = traffic.hourly(0.2, 400, at_minute=7, seed=3).counts(0, 24 * 60).reshape(24, 60)
    assert (counts[:, 7] > 300).all()  # Poisson around 400 at :07
    assert counts[:, [m for m in range(60) if m != 7]].mean() < 1  # light traffic otherwise
    with pytest.raises(ValueError):
        traffic.hourly(0.2, 400, at_minute=60)
