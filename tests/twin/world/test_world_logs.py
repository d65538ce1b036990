"""Logs Insights over REPORT records, and the REPORT lines themselves, in Text and JSON formats."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest

from lambda_tuner.adapters.reports import (
    REPORT_QUERY as COLLECTOR_QUERY,  # the twin must parse exactly what the collector sends
)
from lambda_tuner.twin import shapes, traffic
from lambda_tuner.twin.fleet import FunctionSpec
from lambda_tuner.twin.world import World

TEXT_REPORT = re.compile(
    r"^REPORT RequestId: [0-9a-f-]{36}\tDuration: \d+\.\d{2} ms\tBilled Duration: \d+ ms\t"
    r"Memory Size: \d+ MB\tMax Memory Used: \d+ MB\t(Init Duration: \d+\.\d{2} ms\t)?$"
)


def _rows(world: World, groups: list[str], start, end, query: str = COLLECTOR_QUERY) -> list[dict[str, str]]:
    rows, _ = world.insights(query, groups, start, end)
    return [{cell["field"]: cell["value"] for cell in row} for row in rows]


def test_collector_query_gives_one_row_per_group_and_memory_size_in_both_formats(world, epoch):
    # Given a Text-format and a JSON-format function, and the JSON one changed memory at noon
    world.set_memory("io", 2048, at=epoch + timedelta(hours=12))
    rows = _rows(world, ["/aws/lambda/cpu", "/aws/lambda/io"], epoch, epoch + timedelta(days=1))
    keyed = {(r["@log"], r["memory_mb"]): r for r in rows}
    # Then there are rows for cpu@512, io@1024 and io@2048, with @log as "<account>:<group>"
    assert set(keyed) == {
        ("123456789012:/aws/lambda/cpu", "512"),
        ("123456789012:/aws/lambda/io", "1024"),
        ("123456789012:/aws/lambda/io", "2048"),
    }
    cpu = keyed["123456789012:/aws/lambda/cpu", "512"]
    assert int(cpu["invocations"]) == pytest.approx(30 * 1440, rel=0.03)
    assert float(cpu["duration_ms_avg"]) == pytest.approx(
        float(world.truth("cpu").curve.duration(512)), rel=0.02
    )
    assert float(cpu["duration_ms_avg"]) < float(cpu["billed_ms_avg"])
    assert float(cpu["duration_ms_avg"]) < float(cpu["duration_ms_p99"])
    assert float(cpu["max_mem_p99"]) <= float(cpu["max_mem_max"])
    halves = [int(keyed["123456789012:/aws/lambda/io", m]["invocations"]) for m in ("1024", "2048")]
    assert halves[0] == pytest.approx(halves[1], rel=0.05)


def test_cold_starts_carry_init_duration_and_warm_pools_keep_them_rare(epoch):
    # Given a function called once an hour (always cold) and one called 60 times a minute
    specs = [
        FunctionSpec("hourly", shapes.io_bound(100), traffic.rare(24, seed=1), init_ms=400),
        FunctionSpec("busy", shapes.io_bound(100), traffic.steady(60, seed=1), init_ms=400),
    ]
    world = World(specs, seed=3, epoch=epoch, now=epoch + timedelta(days=7))
    rows = _rows(world, ["/aws/lambda/hourly", "/aws/lambda/busy"], epoch, epoch + timedelta(days=7))
    by_log = {r["@log"].split("/")[-1]: r for r in rows}
    hourly, busy = by_log["hourly"], by_log["busy"]
    # Then nearly every sparse call is cold, hardly any busy call is, and init shows up in billed time
    assert int(hourly["cold_starts"]) / int(hourly["invocations"]) > 0.7  # a few land within 10 minutes
    assert int(busy["cold_starts"]) / int(busy["invocations"]) < 0.01
    assert float(hourly["init_ms_avg"]) == pytest.approx(
        400 * 0.85 + 400 * 0.15 * (1769 / 1024) ** 0.5, rel=0.1
    )
    assert float(hourly["billed_ms_avg"]) > float(hourly["duration_ms_avg"]) + 200


def test_json_function_at_warn_level_has_no_report_rows_but_its_logs_are_still_scanned(world, epoch):
    rows, stats = world.insights(COLLECTOR_QUERY, ["/aws/lambda/quiet"], epoch, epoch + timedelta(days=1))
    assert rows == []
    assert stats["recordsMatched"] == 0
    assert stats["bytesScanned"] > 0


def test_bytes_scanned_cover_every_log_line_and_grow_with_the_window(world, epoch):
    _, day = world.insights(COLLECTOR_QUERY, ["/aws/lambda/cpu"], epoch, epoch + timedelta(days=1))
    _, two = world.insights(COLLECTOR_QUERY, ["/aws/lambda/cpu"], epoch, epoch + timedelta(days=2))
    # Then more than the REPORT records are scanned (START, END and the function's own lines count too)
    assert day["recordsScanned"] > 3 * day["recordsMatched"]
    assert day["bytesScanned"] > day["recordsMatched"] * 150
    assert two["bytesScanned"] / day["bytesScanned"] == pytest.approx(2.0, rel=0.05)


def test_a_group_without_calls_in_the_window_yields_no_row(world, epoch):
    future = world.now + timedelta(days=1)
    rows, stats = world.insights(COLLECTOR_QUERY, ["/aws/lambda/cpu"], world.now, future)
    assert rows == [] and stats["bytesScanned"] == 0


def test_general_aggregations_sort_and_limit_work_on_other_queries(world, epoch):
    query = """filter @type = "REPORT" | stats count(*) as n, sum(@duration) as total, min(@duration) as lo,
               max(@duration) as hi, avg(@duration / 1000) as avg_s by @log | sort n desc | limit 1"""
    rows = _rows(world, ["/aws/lambda/cpu", "/aws/lambda/aliased"], epoch, epoch + timedelta(days=1), query)
    assert len(rows) == 1 and rows[0]["@log"].endswith("/aliased")  # 40 rpm beats 30 rpm
    row = rows[0]
    assert float(row["lo"]) < float(row["avg_s"]) * 1000 < float(row["hi"])
    assert float(row["total"]) == pytest.approx(float(row["avg_s"]) * 1000 * int(row["n"]), rel=1e-3)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("stats count(*) as n by", "expected a value"),
        ('filter @type = "REPORT" | stats count_distinct(@requestId)', "unsupported aggregation"),
        ("parse @message 'x' as y | stats count(*)", "unsupported command"),
        ("filter @duration > 100 | stats count(*)", "per-record"),
        ('filter @type = "REPORT" | stats avg(@duration * @maxMemoryUsed)', "scaling by a constant"),
        ('filter @type = "REPORT" | stats count(*) by @duration', "cannot group"),
        ("fields @timestamp | limit 5", "stats"),
        ('filter @type = "REPORT" | stats pct(@duration) as p', "a field and a number"),
        ("filter @type = $x | stats count(*)", "unexpected character"),
    ],
)
def test_queries_the_twin_cannot_answer_raise_a_clear_error(world, epoch, query, message):
    with pytest.raises(ValueError, match=message):
        world.insights(query, ["/aws/lambda/cpu"], epoch, epoch + timedelta(hours=1))


def test_text_report_lines_have_the_exact_lambda_format(world, epoch):
    lines = world.report_lines("cpu", epoch, epoch + timedelta(hours=1), limit=40)
    assert len(lines) == 40
    assert all(TEXT_REPORT.match(line) for line in lines)
    assert all("Memory Size: 512 MB" in line for line in lines)


def test_json_report_lines_are_platform_report_records(world, epoch):
    (line,) = world.report_lines("io", epoch, epoch + timedelta(hours=1), limit=1)
    record = json.loads(line)
    assert record["type"] == "platform.report"
    assert record["time"].endswith("Z")
    metrics = record["record"]["metrics"]
    assert {"durationMs", "billedDurationMs", "memorySizeMB", "maxMemoryUsedMB"} <= set(metrics)
    assert metrics["memorySizeMB"] == 1024 and record["record"]["status"] == "success"
    assert world.report_lines("quiet", epoch, epoch + timedelta(hours=1)) == []
    assert world.report_lines("io", epoch, epoch + timedelta(hours=1), limit=0) == []


def test_report_lines_are_deterministic_and_match_the_memory_in_force(world, epoch):
    world.set_memory("cpu", 1024, at=epoch + timedelta(minutes=30))
    first = world.report_lines("cpu", epoch + timedelta(minutes=29), epoch + timedelta(minutes=31), limit=200)
    assert first == world.report_lines(
        "cpu", epoch + timedelta(minutes=29), epoch + timedelta(minutes=31), limit=200
    )
    sizes = [re.search(r"Memory Size: (\d+)", line).group(1) for line in first]
    assert sizes[0] == "512" and sizes[-1] == "1024"


def test_functions_sharing_a_custom_group_merge_into_one_row_per_memory_size(epoch):
    specs = [
        FunctionSpec(
            n, shapes.io_bound(100), traffic.steady(10, seed=i), memory_mb=1024, log_group="/app/shared"
        )
        for i, n in enumerate(("a", "b"))
    ]
    world = World(specs, seed=4, epoch=epoch, now=epoch + timedelta(days=1))
    rows = _rows(world, ["/app/shared"], epoch, epoch + timedelta(days=1))
    assert len(rows) == 1 and rows[0]["@log"] == "123456789012:/app/shared"
    assert int(rows[0]["invocations"]) == pytest.approx(2 * 10 * 1440, rel=0.03)
    again = World(specs, seed=4, epoch=epoch, now=epoch + timedelta(days=1))
    assert _rows(again, ["/app/shared"], epoch, epoch + timedelta(days=1)) == rows
