"""Logs Insights scans: 50 groups a query, at most 10 in flight, polled until done or out of time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from lambda_tuner.adapters import reports

T0 = datetime(2026, 11, 1, tzinfo=UTC)
T1 = T0 + timedelta(days=1)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class FakeLogs:
    """Answers like Logs Insights: Running for `polls_needed` polls, then Complete with one row per group."""

    def __init__(
        self,
        *,
        polls_needed: int = 2,
        never_finish: bool = False,
        busy_starts: int = 0,
        missing: frozenset[str] = frozenset(),
        finish_up_to: int | None = None,
        end_status: str = "Complete",
    ) -> None:
        self.finish_up_to, self.end_status = finish_up_to, end_status
        self.polls_needed, self.never_finish, self.busy_starts, self.missing = (
            polls_needed,
            never_finish,
            busy_starts,
            missing,
        )
        self.queries: dict[str, dict[str, Any]] = {}
        self.max_running = 0
        self.stopped: list[str] = []

    def _running(self) -> int:
        return sum(1 for q in self.queries.values() if q["status"] == "Running")

    def start_query(self, **kw: Any) -> dict[str, str]:
        if self.busy_starts:
            self.busy_starts -= 1
            raise ClientError({"Error": {"Code": "LimitExceededException", "Message": "busy"}}, "StartQuery")
        if self.missing & set(kw["logGroupNames"]):
            raise ClientError({"Error": {"Code": "ResourceNotFoundException", "Message": "no"}}, "StartQuery")
        assert len(kw["logGroupNames"]) <= 50 and kw["queryString"] == reports.REPORT_QUERY
        qid = f"q{len(self.queries)}"
        self.queries[qid] = {
            "groups": kw["logGroupNames"],
            "polls": 0,
            "status": "Running",
            "span": (kw["startTime"], kw["endTime"]),
        }
        self.max_running = max(self.max_running, self._running())
        return {"queryId": qid}

    def get_query_results(self, queryId: str) -> dict[str, Any]:
        q = self.queries[queryId]
        q["polls"] += 1
        small_enough = self.finish_up_to is None or len(q["groups"]) <= self.finish_up_to
        finishes = not self.never_finish and small_enough
        if q["status"] == "Running" and finishes and q["polls"] >= self.polls_needed:
            q["status"] = self.end_status
        rows = [
            [
                {"field": "@log", "value": f"123456789012:{g}"},
                {"field": "memory_mb", "value": "512"},
                {"field": "invocations", "value": "10"},
                {"field": "cold_starts", "value": "1"},
                {"field": "init_ms_avg", "value": "250.5"},
                {"field": "max_mem_p99", "value": "80"},
            ]
            for g in q["groups"]
        ]
        return {
            "status": q["status"],
            "results": rows,
            "statistics": {"bytesScanned": 1000.0 * len(q["groups"])},
        }

    def stop_query(self, queryId: str) -> dict[str, bool]:
        self.stopped.append(queryId)
        self.queries[queryId]["status"] = "Cancelled"
        return {"success": True}


def _scan(logs: FakeLogs, n_groups: int, **kw: Any) -> reports.ScanOutcome:
    clock = FakeClock()
    jobs = reports.batch_jobs({f"/aws/lambda/f{i}": (T0, T1) for i in range(n_groups)})
    return reports.scan(jobs, client=logs, sleep=clock.sleep, monotonic=clock.monotonic, **kw)


def test_groups_go_50_to_a_query_with_at_most_10_in_flight():
    logs = FakeLogs()
    out = _scan(logs, 1234)
    assert out.queries == len(logs.queries) == 25  # ceil(1234 / 50)
    assert logs.max_running <= 10
    assert len(out.rows) == 1234 and not out.failed
    assert out.bytes_scanned == 1234 * 1000.0
    assert set(out.scanned.values()) == {T1}


def test_rows_are_parsed_with_the_log_group_name_and_numbers():
    row = _scan(FakeLogs(), 1).rows[0]
    assert (row.log_group, row.memory_mb, row.invocations, row.cold_starts) == ("/aws/lambda/f0", 512, 10, 1)
    assert row.values["init_ms_avg"] == 250.5 and row.values["max_mem_p99"] == 80.0


def test_a_query_that_does_not_finish_in_time_is_stopped_and_its_rows_dropped():
    # A maximum of memory used read over part of the calls would set the memory floor too low
    logs = FakeLogs(never_finish=True)
    out = _scan(logs, 3, timeout_s=30.0)
    assert logs.stopped[0] == "q0"
    assert out.rows == [] and out.scanned == {}  # no watermark moves: the next cycle scans these bytes
    assert set(out.failed) == {f"/aws/lambda/f{i}" for i in range(3)}
    assert all("timed out" in why for why in out.failed.values())
    # tried again in halves before giving up: 3 groups -> 1 + 2 -> 1 + 1
    assert [len(q["groups"]) for q in logs.queries.values()] == [3, 1, 2, 1, 1]
    assert out.bytes_scanned == 1000.0 * (3 + 1 + 2 + 1 + 1)  # every scan is paid, finished or not
    # Polling backs off: far fewer polls than seconds waited
    assert logs.queries["q0"]["polls"] < 10


def test_a_query_too_big_to_finish_in_time_is_split_until_its_parts_do():
    logs = FakeLogs(finish_up_to=13)
    out = _scan(logs, 50, timeout_s=30.0)
    assert [len(q["groups"]) for q in logs.queries.values()] == [50, 25, 25, 12, 13, 12, 13]
    assert len(out.rows) == 50 and not out.failed and set(out.scanned.values()) == {T1}


def test_a_query_that_fails_with_rows_is_not_used_either():
    logs = FakeLogs(end_status="Failed")
    out = _scan(logs, 1)
    assert out.rows == [] and out.scanned == {} and "Failed" in out.failed["/aws/lambda/f0"]


def test_an_account_at_its_concurrent_query_limit_is_waited_for():
    logs = FakeLogs(busy_starts=3)
    out = _scan(logs, 60)
    assert out.queries == 2 and not out.failed


def test_a_missing_log_group_fails_alone_not_its_49_companions():
    logs = FakeLogs(missing=frozenset({"/aws/lambda/f7"}))
    out = _scan(logs, 50)
    assert set(out.failed) == {"/aws/lambda/f7"}
    assert len(out.rows) == 49


def test_consecutive_windows_share_no_second():
    # StartQuery's startTime and endTime are both inclusive (seconds)
    logs = FakeLogs()
    clock = FakeClock()
    jobs = reports.batch_jobs({"/aws/lambda/a": (T0, T1)}) + reports.batch_jobs(
        {"/aws/lambda/a": (T1, T1 + (T1 - T0))}
    )
    reports.scan(jobs, client=logs, sleep=clock.sleep, monotonic=clock.monotonic)
    (s1, e1), (s2, _) = (q["span"] for q in logs.queries.values())
    assert (s1, e1) == (int(T0.timestamp()), int(T1.timestamp()) - 1) and s2 == e1 + 1


def test_groups_with_different_watermarks_are_queried_separately():
    jobs = reports.batch_jobs({"a": (T0, T1), "b": (T0, T1), "c": (T0 + timedelta(hours=5), T1)})
    assert sorted(len(j.groups) for j in jobs) == [1, 2]
