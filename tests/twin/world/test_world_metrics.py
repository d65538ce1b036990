"""GetMetricData answers: the curve comes back out, history matters, statistics behave like CloudWatch's."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from lambda_tuner.twin import shapes, traffic
from lambda_tuner.twin.fleet import AliasSpec, FunctionSpec
from lambda_tuner.twin.world import World


def _series(world: World, query: dict, start, end) -> tuple[list, list[float]]:
    (result,) = world.metric_data([query], start, end)
    assert result["status_code"] == "Complete"
    return result["timestamps"], result["values"]


def test_mean_duration_over_many_calls_reproduces_the_curve_at_the_configured_size(world, q, epoch):
    # Given a CPU-bound function at 512 MB, invoked ~30 times a minute for three days
    truth = world.truth("cpu").curve.duration(512)
    # When the agent asks for daily Duration Sum and SampleCount
    end = epoch + timedelta(days=3)
    _, total = _series(world, q("cpu", "Duration", "Sum", period=86400), epoch, end)
    _, calls = _series(world, q("cpu", "Duration", "SampleCount", period=86400), epoch, end)
    # Then the mean duration is the curve's value within a fraction of a percent
    assert sum(calls) > 100_000
    assert sum(total) / sum(calls) == pytest.approx(float(truth), rel=0.01)


def test_percentiles_are_ordered_within_every_period(world, q, epoch):
    end = epoch + timedelta(days=2)
    stats = ["Minimum", "p50", "p95", "p99", "p99.9", "Maximum"]
    results = world.metric_data([q("aliased", "Duration", s, period=300) for s in stats], epoch, end)
    table = np.array([r["values"] for r in results])
    assert table.shape[1] == 2 * 288
    assert (np.diff(table, axis=0) >= 0).all()
    average = np.array(
        world.metric_data([q("aliased", "Duration", "Average", period=300)], epoch, end)[0]["values"]
    )
    assert ((average >= table[0]) & (average <= table[-1])).all()


def test_p99_over_few_calls_is_noisier_than_over_many(epoch, q):
    # Given the same function shape with 1 call a minute and with 100 calls a minute
    specs = [
        FunctionSpec("few", shapes.io_bound(200), traffic.steady(1, seed=1), memory_mb=512, noise=0.3),
        FunctionSpec("many", shapes.io_bound(200), traffic.steady(100, seed=1), memory_mb=512, noise=0.3),
    ]
    world = World(specs, seed=1, epoch=epoch, now=epoch + timedelta(days=2))
    few, many = world.metric_data(
        [q("few", "Duration", "p99", period=600), q("many", "Duration", "p99", period=600)],
        epoch,
        epoch + timedelta(days=2),
    )
    # Then the per-period p99 of the sparse function scatters much more
    assert np.std(few["values"]) > 3 * np.std(many["values"])


def test_memory_change_changes_durations_from_that_minute_only(world, q, epoch):
    # Given the CPU-bound function at 512 MB, raised to 2048 MB at day 1, 12:00
    change = epoch + timedelta(days=1, hours=12)
    world.set_memory("cpu", 2048, at=change)
    # When asking for per-minute averages across the change
    stamps, avg = _series(
        world,
        q("cpu", "Duration", "Average", period=60),
        change - timedelta(hours=1),
        change + timedelta(hours=1),
    )
    before = [v for t, v in zip(stamps, avg, strict=True) if t < change]
    after = [v for t, v in zip(stamps, avg, strict=True) if t >= change]
    curve = world.truth("cpu").curve
    # Then minutes before keep the old mean and minutes from the change on have the new one
    assert np.mean(before) == pytest.approx(float(curve.duration(512)), rel=0.03)
    assert np.mean(after) == pytest.approx(float(curve.duration(2048)), rel=0.03)
    assert max(after) < min(before)
    assert world.memory_at("cpu", change - timedelta(seconds=1)) == 512
    assert world.memory_at("cpu", change) == 2048


def test_latest_memory_change_does_not_reach_an_alias_on_a_published_version(world, q, epoch):
    # Given traffic on alias live (version 3, 25 % to version 4), and $LATEST raised to 4096 MB
    world.set_memory("aliased", 4096, at=epoch)
    # Then the alias still runs at 1024 MB
    assert world.memory_at("aliased", epoch + timedelta(days=1), qualifier="live") == 1024
    # And when version 5 is published at 4096 MB and the alias moved to it, the alias follows
    moved = epoch + timedelta(days=1)
    world.set_memory("aliased", 4096, at=moved, qualifier="5")
    world.point_alias("aliased", "live", "5", {}, at=moved)
    assert world.memory_at("aliased", moved, qualifier="live") == 4096
    _, v5 = _series(
        world,
        q("aliased", "Invocations", "Sum", period=86400, Resource="aliased:live", ExecutedVersion="5"),
        epoch,
        epoch + timedelta(days=2),
    )
    assert len(v5) == 1  # only the day after the move has version-5 calls


def test_alias_routing_splits_invocations_by_weight(world, q, epoch):
    end = epoch + timedelta(days=1)
    total = _series(
        world, q("aliased", "Invocations", "Sum", period=86400, Resource="aliased:live"), epoch, end
    )[1]
    # AWS publishes a weighted alias's per-version series as FunctionName + Resource + ExecutedVersion
    def version(v: str) -> list[float]:
        query = q("aliased", "Invocations", "Sum", period=86400, Resource="aliased:live", ExecutedVersion=v)
        return list(_series(world, query, epoch, end)[1])

    v4, v3 = version("4"), version("3")
    assert v3[0] + v4[0] == total[0]
    assert v4[0] / total[0] == pytest.approx(0.25, abs=0.01)


def test_executed_version_is_answered_only_with_the_alias_resource_as_aws_publishes_it(world, q, epoch):
    end = epoch + timedelta(days=1)
    # ExecutedVersion alone, or on a version's Resource, is not a dimension set AWS publishes
    alone = q("aliased", "Invocations", "Sum", period=86400, ExecutedVersion="4")
    on_version = q("aliased", "Invocations", "Sum", period=86400, Resource="aliased:4", ExecutedVersion="4")
    assert len(_series(world, alone, epoch, end)[1]) == 0
    assert len(_series(world, on_version, epoch, end)[1]) == 0


def test_idle_provisioned_concurrency_shows_low_utilisation_and_more_pc_removes_spillover(world, q, epoch):
    end = epoch + timedelta(days=1)
    # Given PC 10 on a function called once every five minutes
    _, util = _series(
        world,
        q("idle-pc", "ProvisionedConcurrencyUtilization", "Maximum", Resource="idle-pc:live"),
        epoch,
        end,
    )
    # Then every hour has a datapoint (PC is configured) and utilisation stays at 10 % or below
    assert len(util) == 24
    assert max(util) <= 0.1
    # Given PC 4 on a function that needs ~1 concurrent execution, when PC drops to 0, spill-over appears
    spill = q(
        "aliased", "ProvisionedConcurrencySpilloverInvocations", "Sum", period=86400, Resource="aliased:live"
    )
    assert sum(_series(world, spill, epoch, end)[1]) == 0
    world.set_pc("aliased", "live", 0, at=epoch + timedelta(days=1))
    assert world.pc_at("aliased", "live", epoch + timedelta(days=2)) == 0
    utilisation = _series(
        world,
        q("aliased", "ProvisionedConcurrencyUtilization", "Maximum", period=3600, Resource="aliased:live"),
        epoch + timedelta(days=1),
        epoch + timedelta(days=2),
    )
    assert utilisation[1] == []


def test_pc_below_demand_spills_over(epoch, q):
    spec = FunctionSpec(
        "busy",
        shapes.io_bound(1000),
        traffic.steady(300, seed=3),
        memory_mb=512,
        aliases=(AliasSpec("live", "1", pc=2),),
        invoked=(("live", 1.0),),
    )
    world = World([spec], seed=2, epoch=epoch, now=epoch + timedelta(hours=2))
    # ~5 concurrent executions against PC 2: most calls spill over and utilisation is full
    _, spill = _series(
        world,
        q("busy", "ProvisionedConcurrencySpilloverInvocations", "Sum", Resource="busy:live"),
        epoch,
        epoch + timedelta(hours=1),
    )
    _, calls = _series(
        world, q("busy", "Invocations", "Sum", Resource="busy:live"), epoch, epoch + timedelta(hours=1)
    )
    _, util = _series(
        world,
        q("busy", "ProvisionedConcurrencyUtilization", "Maximum", Resource="busy:live"),
        epoch,
        epoch + timedelta(hours=1),
    )
    assert 0.4 < spill[0] / calls[0] < 0.8
    assert util[0] == 1.0


def test_answers_are_newest_first_aligned_to_the_period_and_stop_at_now(world, q, epoch):
    start = epoch + timedelta(days=2, hours=20, minutes=7)
    stamps, _ = _series(world, q("cpu", "Invocations", "Sum", period=3600), start, epoch + timedelta(days=5))
    assert stamps == sorted(stamps, reverse=True)
    assert all(t.minute == 0 and t.second == 0 for t in stamps)
    assert stamps[0] == epoch + timedelta(days=2, hours=23)  # world.now is day 3, 00:00
    assert stamps[-1] == epoch + timedelta(days=2, hours=20)


def test_advancing_the_clock_reveals_new_datapoints(world, q, epoch):
    query = q("cpu", "Invocations", "Sum", period=3600)
    before = world.metric_data([query], epoch, epoch + timedelta(days=5))[0]["values"]
    world.advance(epoch + timedelta(days=4))
    after = world.metric_data([query], epoch, epoch + timedelta(days=5))[0]["values"]
    assert len(after) == len(before) + 24
    assert after[24:] == before


def test_reading_until_a_later_time_answers_what_the_clock_will_show_there(world, q, epoch):
    # Given the clock at day 3 (the twin's alarms read ahead within one advance)
    queries = [q("cpu", "Duration", "p99", period=60), q("cpu", "Invocations", "Sum", period=60)]
    start, end = epoch + timedelta(days=2, hours=22), epoch + timedelta(days=3, hours=6)
    ahead = world.metric_data(queries, start, end, until=epoch + timedelta(days=3, hours=6))
    # Then without `until` the answer still stops at now
    [newest, *_] = world.metric_data(queries, start, end)[0]["timestamps"]
    assert newest == epoch + timedelta(days=2, hours=23, minutes=59)
    # and once the clock gets there, the same query answers what was read ahead
    world.advance(epoch + timedelta(days=3, hours=6))
    assert world.metric_data(queries, start, end) == ahead
    assert len(ahead[0]["values"]) == 8 * 60
    with pytest.raises(ValueError, match="forward"):
        world.advance(epoch)


def test_out_of_memory_below_the_floor_turns_calls_into_errors(world, q, epoch):
    world.set_memory("hungry", 512, at=epoch + timedelta(days=1))
    errors = _series(world, q("hungry", "Errors", "Average", period=86400), epoch, epoch + timedelta(days=2))[
        1
    ]
    assert errors == [1.0, 0.0]  # newest first: day 2 all fail, day 1 none


def test_injected_regression_slows_calls_and_raises_errors_from_its_time(world, q, epoch):
    world.inject_regression("io", 2.0, at=epoch + timedelta(days=2), error_rate=0.2)
    avg = _series(world, q("io", "Duration", "Average", period=86400), epoch, epoch + timedelta(days=3))[1]
    err = _series(world, q("io", "Errors", "Average", period=86400), epoch, epoch + timedelta(days=3))[1]
    assert avg[0] == pytest.approx(2 * avg[1], rel=0.02)
    assert err[0] == pytest.approx(0.2, abs=0.02)
    assert err[1] == 0.0


def test_lambda_insights_metrics_exist_only_for_functions_with_the_extension(world, q, epoch):
    end = epoch + timedelta(days=1)
    cpu, mem, other = world.metric_data(
        [
            q("hungry", "cpu_total_time", "Average", namespace="LambdaInsights"),
            q("hungry", "memory_utilization", "Maximum", namespace="LambdaInsights"),
            q("io", "cpu_total_time", "Average", namespace="LambdaInsights"),
        ],
        epoch,
        end,
    )
    duration = world.metric_data([q("hungry", "Duration", "Average")], epoch, end)[0]["values"]
    assert np.mean(cpu["values"]) == pytest.approx(0.8 * np.mean(duration), rel=0.02)
    assert 80 < max(mem["values"]) <= 100
    assert other["values"] == []


def test_same_seed_and_calls_give_identical_answers_and_another_seed_differs(small_specs, q, epoch):
    queries = [q("aliased", "Duration", "p99", period=60), q("cpu", "Invocations", "Sum", period=60)]
    end = epoch + timedelta(days=1)
    runs = [
        World(small_specs, seed=s, epoch=epoch, now=end).metric_data(queries, epoch, end) for s in (5, 5, 6)
    ]
    assert runs[0] == runs[1]
    assert runs[0][0]["values"] != runs[2][0]["values"]


def test_a_window_gives_the_same_minutes_whatever_window_it_is_asked_within(world, q, epoch):
    query = q("cpu", "Duration", "p99", period=60)
    wide = world.metric_data([query], epoch, epoch + timedelta(days=2))[0]
    narrow = world.metric_data([query], epoch + timedelta(hours=10), epoch + timedelta(hours=11))[0]
    by_time = dict(zip(wide["timestamps"], wide["values"], strict=True))
    assert [by_time[t] for t in narrow["timestamps"]] == narrow["values"]


def test_metric_math_unknown_metrics_and_skipped_queries_follow_cloudwatch(world, q, epoch):
    math_query = {"Id": "m1", "Expression": "a / b"}
    hidden = q("cpu", "Invocations", "Sum") | {"ReturnData": False}
    unknown = q("cpu", "NoSuchMetric", "Sum")
    results = world.metric_data([math_query, hidden, unknown], epoch, epoch + timedelta(days=1))
    assert [r["id"] for r in results] == ["m1", unknown["Id"]]
    assert results[0]["status_code"] == "InternalError" and results[0]["values"] == []
    assert results[1]["status_code"] == "Complete" and results[1]["values"] == []


def test_bad_statistics_and_periods_are_refused_with_a_clear_message(world, q, epoch):
    with pytest.raises(ValueError, match="tm99"):
        world.metric_data([q("cpu", "Duration", "tm99")], epoch, epoch + timedelta(days=1))
    with pytest.raises(ValueError, match="multiple of 60"):
        world.metric_data([q("cpu", "Duration", "Average", period=90)], epoch, epoch + timedelta(days=1))
    with pytest.raises(ValueError, match="timezone"):
        world.metric_data([q("cpu", "Duration", "Average")], epoch.replace(tzinfo=None), epoch)


def test_no_duration_exceeds_the_timeout_and_calls_that_would_are_errors(epoch, q):
    # Given a function whose mean duration sits near its 1-second timeout
    spec = FunctionSpec(
        "slow", shapes.io_bound(900), traffic.steady(20, seed=1), memory_mb=512, timeout_s=1, noise=0.3
    )
    world = World([spec], seed=1, epoch=epoch, now=epoch + timedelta(days=1))
    end = epoch + timedelta(days=1)
    p99, top, errors = world.metric_data(
        [q("slow", "Duration", "p99"), q("slow", "Duration", "Maximum"), q("slow", "Errors", "Average")],
        epoch,
        end,
    )
    assert max(p99["values"]) <= 1000 and max(top["values"]) == 1000
    assert 0.2 < np.mean(errors["values"]) < 0.5


def test_pc_on_a_version_serves_the_alias_that_routes_to_it(epoch, q):
    spec = FunctionSpec(
        "v",
        shapes.io_bound(1000),
        traffic.steady(120, seed=3),
        memory_mb=512,
        aliases=(AliasSpec("live", "2"),),
        invoked=(("live", 1.0),),
    )
    world = World([spec], seed=2, epoch=epoch, now=epoch + timedelta(hours=2))
    world.set_pc("v", "2", 10, at=epoch)
    hour = epoch + timedelta(hours=1)
    spill, pc_calls = world.metric_data(
        [
            q("v", "ProvisionedConcurrencySpilloverInvocations", "Sum", Resource="v:2"),
            q("v", "ProvisionedConcurrencyInvocations", "Sum", Resource="v:2"),
        ],
        epoch,
        hour,
    )
    assert spill["values"] == [0.0]
    assert pc_calls["values"][0] == pytest.approx(120 * 60, rel=0.05)


def test_a_malformed_query_is_refused_with_its_id(world, epoch):
    broken = {"Id": "bad1", "MetricStat": {"Metric": {"Namespace": "AWS/Lambda", "MetricName": "Duration"}}}
    with pytest.raises(ValueError, match="bad1"):
        world.metric_data([broken], epoch, epoch + timedelta(days=1))


def test_reserved_concurrency_below_demand_throttles_from_when_it_is_set(epoch, q):
    # Given a function needing ~5 concurrent executions, reserved to 2 from day 1
    spec = FunctionSpec("busy", shapes.io_bound(1000), traffic.steady(300, seed=3), memory_mb=512)
    world = World([spec], seed=2, epoch=epoch, now=epoch + timedelta(days=2))
    world.set_reserved_concurrency("busy", 2, at=epoch + timedelta(days=1))
    throttles, calls = world.metric_data(
        [q("busy", "Throttles", "Sum", period=86400), q("busy", "Invocations", "Sum", period=86400)],
        epoch,
        epoch + timedelta(days=2),
    )
    # Then day 0 has no throttles and day 1 throttles most requests, which are then not invocations
    assert throttles["values"][1] == 0
    assert throttles["values"][0] > calls["values"][0]
    assert throttles["values"][0] + calls["values"][0] == pytest.approx(calls["values"][1], rel=0.01)
