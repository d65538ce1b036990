"""`verify_applied`: each applied change is closed with what it did next to what it projected.

Memory changes are judged at their new size; provisioned-concurrency changes, which leave the size
alone, on the calls and PC spillover after the change, a day after it was made (not a week later).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from lambda_tuner.core.cost import invocation_cost
from lambda_tuner.core.models import (
    AuditRecord,
    ConcurrencySeries,
    Epoch,
    Interval,
    Observations,
    Projection,
    Reason,
    Recommendation,
)
from lambda_tuner.core.pricing import default_prices
from lambda_tuner.verification import VERIFY_AFTER, VERIFY_GIVE_UP, verify_applied

T0 = datetime(2026, 11, 2, 6, tzinfo=UTC)
REASON = Reason(summary="s", observed="o", model="m", decided_by="d")
PRICES = default_prices()


class FakeStore:
    """Recommendations by id with their status, and the audit trail, as the real store keeps them."""

    def __init__(self, *recs: Recommendation) -> None:
        self.recs = {r.id: r for r in recs}
        self.audit: list[AuditRecord] = []

    def list_recommendations(self, status: str | None = None) -> list[Recommendation]:
        return [r for r in self.recs.values() if status is None or r.status == status]

    def transition(self, rec_id: str, from_status: str, to_status: str, now: datetime, **_: Any) -> bool:
        if self.recs[rec_id].status != from_status:
            return False
        self.recs[rec_id] = self.recs[rec_id].model_copy(update={"status": to_status})
        return True

    def append_audit(self, type: Any, at: datetime, **fields: Any) -> AuditRecord:
        record = AuditRecord(
            id=f"a{len(self.audit)}", seq=len(self.audit), type=type, at=at, prev_hash="", hash="", **fields
        )
        self.audit.append(record)
        return record

    def list_audit(self, since: datetime | None = None, function: str | None = None) -> list[AuditRecord]:
        return [
            r
            for r in self.audit
            if (since is None or r.at >= since) and (function is None or r.function == function)
        ]

    def verification(self, rec_id: str) -> dict[str, Any]:
        (record,) = [r for r in self.audit if r.type == "verification" and r.recommendation_id == rec_id]
        return dict(record.data)


# ---------------------------------------------------------------- memory


def _projection(mb: int, ms: float) -> Projection:
    per_call = invocation_cost(PRICES, "x86_64", mb, ms)
    return Projection(
        memory_mb=mb,
        duration_ms=Interval(expected=ms, low=ms * 0.9, high=ms * 1.1),
        p99_ms=Interval(expected=ms * 2, low=ms * 1.8, high=ms * 2.2),
        cost_per_invocation_usd=Interval(expected=per_call, low=per_call, high=per_call),
        monthly_cost_usd=Interval(expected=per_call * 1e6, low=per_call * 1e6, high=per_call * 1e6),
    )


def _memory_change() -> Recommendation:
    """1024 MB at 200 ms → 512 MB projected at 300 ms (270–330): cheaper per call."""
    before, after = _projection(1024, 200.0), _projection(512, 300.0)
    saving = before.monthly_cost_usd.expected - after.monthly_cost_usd.expected
    return Recommendation(
        id="mem",
        function="fn",
        kind="memory",
        created_at=T0,
        current={"memory_mb": 1024},
        proposed={"memory_mb": 512},
        before=before,
        after=after,
        monthly_saving_usd=Interval(expected=saving, low=saving * 0.8, high=saving * 1.2),
        reason=REASON,
        status="APPLIED",
    )


def _at_size(memory_mb: int, invocations: int, duration_ms: float) -> Observations:
    old = Epoch(
        memory_mb=1024,
        arch="x86_64",
        start=T0 - timedelta(days=7),
        end=T0,
        invocations=70_000,
        duration_avg_ms=200.0,
    )
    new = Epoch(
        memory_mb=memory_mb,
        arch="x86_64",
        start=T0,
        end=T0 + timedelta(days=2),
        invocations=invocations,
        duration_avg_ms=duration_ms,
    )
    return Observations(function="fn", window_start=old.start, window_end=new.end, epochs=(old, new))


def test_a_memory_change_waits_for_a_day_at_the_new_size() -> None:
    store = FakeStore(_memory_change())
    assert verify_applied({"fn": _at_size(512, 5_000, 300.0)}, store, T0 + VERIFY_AFTER / 2) == []
    assert store.recs["mem"].status == "APPLIED" and store.audit == []


def test_a_memory_change_that_ran_as_projected_is_verified_with_its_realised_saving() -> None:
    # Given a day of traffic at 512 MB with the projected 300 ms
    store = FakeStore(_memory_change())
    # When verification runs a day after the change
    done = verify_applied({"fn": _at_size(512, 5_000, 300.0)}, store, T0 + timedelta(days=1))
    # Then it is closed within the projected interval, with the saving it realises
    assert done == ["mem"] and store.recs["mem"].status == "VERIFIED"
    data = store.verification("mem")
    assert data["within_interval"] is True
    projected = _memory_change().monthly_saving_usd
    assert projected is not None
    assert data["realised_monthly_saving_usd"] == round(projected.expected, 4)


def test_a_memory_change_that_ran_slower_than_projected_is_recorded_as_outside_and_costlier() -> None:
    # Given 512 MB turned out at 600 ms, twice the projection: dearer per call than 1024 MB at 200 ms
    store = FakeStore(_memory_change())
    verify_applied({"fn": _at_size(512, 5_000, 600.0)}, store, T0 + timedelta(days=1))
    # Then the verification says so (verification records; rolling back is the rollback alarms' job)
    data = store.verification("mem")
    assert data["within_interval"] is False
    assert data["realised_monthly_saving_usd"] < 0 < data["projected_monthly_saving_usd"]["expected"]


def test_a_memory_change_with_too_little_traffic_is_held_until_it_gives_up_as_inconclusive() -> None:
    store = FakeStore(_memory_change())
    quiet = {"fn": _at_size(512, 10, 300.0)}
    assert verify_applied(quiet, store, T0 + timedelta(days=3)) == []
    assert verify_applied(quiet, store, T0 + VERIFY_GIVE_UP) == ["mem"]
    assert store.verification("mem") == {"inconclusive": "too little traffic at the new size"}


# ---------------------------------------------------------------- provisioned concurrency

APPROVED_AT = T0 + timedelta(days=2)  # a person approved it two days after the recommendation


def _pc_change(proposed: int = 4, projected_cold: str = "0.20%") -> Recommendation:
    return Recommendation(
        id="pc",
        function="fn",
        kind="provisioned_concurrency",
        created_at=T0,
        current={"pc": 10},
        proposed={"pc": proposed},
        qualifier="live",
        monthly_saving_usd=Interval(expected=120.0, low=90.0, high=150.0),
        latency_effect=f"cold starts 1,000 → 2,000 a month (0.10% → {projected_cold} of calls)",
        reason=REASON,
        status="APPLIED",
    )


def _applied(rec: Recommendation) -> FakeStore:
    store = FakeStore(rec)
    store.append_audit("change", APPROVED_AT, function="fn", recommendation_id=rec.id, data={"ok": True})
    return store


def _hourly(calls: float, spillover: float | None, days: int = 4) -> Observations:
    """`calls` an hour for `days` from T0; `spillover` of them an hour spilled over PC (None: no PC)."""
    hours = days * 24
    series = ConcurrencySeries(
        start=T0,
        period_s=3600,
        max_concurrency=(3.0,) * hours,
        invocations=(calls,) * hours,
        pc_utilization_max=(0.8,) * hours if spillover is not None else (),
        pc_spillover=(spillover,) * hours if spillover is not None else (),
    )
    epoch = Epoch(
        memory_mb=1024,
        arch="x86_64",
        start=T0,
        end=T0 + timedelta(hours=hours),
        invocations=int(calls * hours),
        duration_avg_ms=100.0,
    )
    return Observations(
        function="fn",
        qualifier="live",
        window_start=T0,
        window_end=epoch.end,
        epochs=(epoch,),
        concurrency=series,
    )


def test_a_pc_change_is_judged_a_day_after_it_was_made_not_after_it_was_recommended() -> None:
    store = _applied(_pc_change())
    # Two and a half days after the recommendation, but only half a day after the change
    assert verify_applied({"fn": _hourly(1_000, 1)}, store, APPROVED_AT + timedelta(hours=12)) == []
    assert store.recs["pc"].status == "APPLIED"


def test_a_pc_change_whose_spillover_stays_under_the_projected_cold_starts_is_verified_within() -> None:
    # Given 1,000 calls an hour after the change, 1 of them spilling over PC (0.10 %; projected 0.20 %)
    store = _applied(_pc_change())
    obs = {"fn": _hourly(1_000, 1)}
    # When verification runs a day after the change
    done = verify_applied(obs, store, APPROVED_AT + timedelta(days=1))
    # Then it is closed on its own evidence: calls counted from the change on, within the projection
    assert done == ["pc"] and store.recs["pc"].status == "VERIFIED"
    data = store.verification("pc")
    assert data["applied_at"] == APPROVED_AT.isoformat()
    assert data["realised"]["invocations"] == 1_000 * 48  # the two days of the series after the change
    assert data["realised"]["spillover_rate"] == 0.001
    assert data["projected"]["cold_start_rate"] == 0.002
    assert data["within_projection"] is True
    assert "inconclusive" not in data and "within the projected 0.20%" in data["verdict"]


def test_a_pc_change_with_more_spillover_than_projected_cold_starts_is_closed_without_a_false_pass() -> None:
    # Given 5 % of calls spilling over while 0.20 % cold starts were projected
    store = _applied(_pc_change())
    verify_applied({"fn": _hourly(1_000, 50)}, store, APPROVED_AT + timedelta(days=1))
    data = store.verification("pc")
    # Then it is closed (the function is not held) but not called within the projection
    assert store.recs["pc"].status == "VERIFIED"
    assert data["within_projection"] is None
    assert data["realised"]["spillover_rate"] == 0.05
    assert "5.00% spilled over" in data["verdict"] and "from above" in data["verdict"]


def test_removing_idle_pc_with_no_traffic_closes_a_day_later_saying_exactly_that() -> None:
    # Given idle PC removed from an alias that then served no calls at all
    store = _applied(_pc_change(proposed=0))
    verify_applied({"fn": _hourly(0, None)}, store, APPROVED_AT + timedelta(days=1))
    data = store.verification("pc")
    # Then it is closed after a day, not a week, and the message is about the calls since the change
    assert store.recs["pc"].status == "VERIFIED"
    assert "no invocations measured" in data["inconclusive"]
    assert "too little traffic at the new size" not in str(data)


def test_a_pc_change_without_a_spillover_series_reports_the_calls_and_what_cannot_be_measured() -> None:
    store = _applied(_pc_change(proposed=0))
    verify_applied({"fn": _hourly(500, None)}, store, APPROVED_AT + timedelta(days=1))
    data = store.verification("pc")
    assert data["realised"]["invocations"] == 500 * 48
    assert data["realised"]["spillover_rate"] is None and data["within_projection"] is None
    assert "spillover is not measured" in data["verdict"]


def test_a_pc_change_of_a_function_missing_from_the_observations_still_closes_after_a_day() -> None:
    store = _applied(_pc_change())
    assert verify_applied({}, store, APPROVED_AT + timedelta(days=1)) == ["pc"]
    assert "no invocations measured" in store.verification("pc")["inconclusive"]


def test_the_projected_cold_start_rate_comes_from_its_own_field_when_the_recommendation_has_it() -> None:
    # Given a PC change whose projected rate is carried as a number (its text says something else)
    rec = _pc_change(projected_cold="9.99%").model_copy(update={"cold_start_rate_after": 0.002})
    store = _applied(rec)
    verify_applied({"fn": _hourly(1_000, 1)}, store, APPROVED_AT + timedelta(days=1))
    # Then the field is what verification judges by, not the wording
    data = store.verification("pc")
    assert data["projected"]["cold_start_rate"] == 0.002 and data["within_projection"] is True


def test_a_memory_change_approved_late_is_judged_on_days_after_it_was_applied() -> None:
    # Given a change proposed at T0, applied three days later; the function ran at 512 MB before the
    # proposal too (an earlier stint), so there is an old epoch at the new size
    store = FakeStore(_memory_change())
    applied = T0 + timedelta(days=3)
    store.append_audit("change", applied, function="fn", recommendation_id="mem", data={"ok": True})
    earlier = Epoch(
        memory_mb=512,
        arch="x86_64",
        start=T0 - timedelta(days=9),
        end=T0 - timedelta(days=8),
        invocations=40_000,
        duration_avg_ms=280.0,
    )
    obs = _at_size(1024, 70_000, 200.0)  # after the proposal the function stayed at 1024 MB until applied
    obs = obs.model_copy(update={"epochs": (earlier, *obs.epochs)})
    # When verification runs a day after the proposal but before a day has passed since the change
    assert verify_applied({"fn": obs}, store, applied + VERIFY_AFTER / 2) == []
    # Then it waits: the old stint at 512 MB is no evidence of this change
    assert store.recs["mem"].status == "APPLIED"
    # And a day after the change, with a day at 512 MB since, it is judged on that day
    after = Epoch(
        memory_mb=512,
        arch="x86_64",
        start=applied,
        end=applied + timedelta(days=1),
        invocations=5_000,
        duration_avg_ms=300.0,
    )
    obs = obs.model_copy(update={"epochs": (*obs.epochs, after)})
    assert verify_applied({"fn": obs}, store, applied + timedelta(days=1)) == ["mem"]
    assert store.verification("mem")["realised"]["invocations"] == 5_000
