"""Logs Insights held by someone else's queries: the scan gives up in bounded time, keeps the watermarks,
and says so; the next cycle scans what was skipped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from collect_helpers import NOW, FakeClock, clients, run_collect

from lambda_tuner.adapters import reports

T0 = datetime(2026, 11, 1, tzinfo=UTC)


class AlwaysBusyLogs:
    """Every StartQuery refused: the account's concurrent Insights queries are all someone else's."""

    def __init__(self) -> None:
        self.starts = 0

    def start_query(self, **_: Any) -> dict[str, str]:
        self.starts += 1
        raise ClientError({"Error": {"Code": "LimitExceededException", "Message": "busy"}}, "StartQuery")


def test_a_scan_refused_throughout_gives_up_in_bounded_time_and_scans_nothing():
    clock, logs = FakeClock(), AlwaysBusyLogs()
    jobs = reports.batch_jobs({f"/aws/lambda/f{i}": (T0, T0 + timedelta(days=1)) for i in range(60)})
    out = reports.scan(jobs, client=logs, sleep=clock.sleep, monotonic=clock.monotonic, timeout_s=300)
    assert clock.t <= reports.BUSY_WAIT_S + 2 and logs.starts <= reports.BUSY_WAIT_S + 2
    assert set(out.skipped) == {f"/aws/lambda/f{i}" for i in range(60)}
    assert "LimitExceededException" in out.skipped["/aws/lambda/f0"]
    assert not out.scanned and not out.rows  # nothing scanned: no watermark moves


def test_no_query_starts_after_the_deadline():
    clock, logs = FakeClock(), AlwaysBusyLogs()
    jobs = reports.batch_jobs({"/aws/lambda/f": (T0, T0 + timedelta(days=1))})
    out = reports.scan(
        jobs, client=logs, sleep=clock.sleep, monotonic=clock.monotonic, busy_wait_s=1e9, deadline=30.0
    )
    assert 30.0 <= clock.t <= 32.0 and "deadline" in out.skipped["/aws/lambda/f"]


def _refuse_start_query(logs_client: Any) -> None:
    def busy(**_: Any) -> tuple[Any, dict[str, Any]]:
        return (
            AWSResponse("", 400, {}, None),
            {
                "Error": {"Code": "LimitExceededException", "Message": "busy"},
                "ResponseMetadata": {"HTTPStatusCode": 400},
            },
        )

    logs_client.meta.events.register("before-call.logs.StartQuery", busy, unique_id="test-busy")


def test_a_cycle_with_insights_busy_finishes_keeps_the_watermarks_and_the_next_cycle_scans(fresh):
    made = clients(fresh)
    _refuse_start_query(made["logs_client"])
    clock = FakeClock()
    busy = run_collect(fresh, clock=clock, **made)
    assert clock.t < 900  # the agent's timeout: the cycle is not lost
    assert any("not scanned this cycle" in p and "/aws/lambda/cruncher" in p for p in busy.stats.partial)
    assert "/aws/lambda/cruncher" not in busy.state["logs"]  # the watermark did not move
    assert not busy.state["reports"].get("cruncher")

    later = run_collect(fresh, now=NOW + timedelta(hours=1), state=busy.state)
    end = NOW + timedelta(hours=1)
    assert later.state["logs"]["/aws/lambda/cruncher"] == end.isoformat()
    # the skipped bytes are scanned now: from the start of the look-back, not from the busy cycle's end
    (window,) = later.state["reports"]["cruncher"]
    assert window["s"] == int((end - timedelta(days=14)).timestamp() // 3600)
