"""A cycle remembers the memory changes its guards rolled back (experiments, and ordinary moves) beyond
the decision's look-back: it reads them from the recommendations the apply function moved to ROLLED_BACK
(one query of the status index a cycle), as the apply function stores them and always has, so rollbacks
recorded before this rule existed are honoured too. Before, a stop was forgotten with its epochs, and
the same change was made again."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from approval_support import AUDIT, NOW, STATE, Account, make_rec, offline_cycle

from lambda_tuner.adapters.store import Store
from lambda_tuner.collect import CollectResult, CollectStats
from lambda_tuner.core.models import (
    Epoch,
    FunctionConfig,
    Inventory,
    Observations,
    Recommendation,
    ReportStats,
)

CALLS = 40 * 60 * 24  # a day at 40 calls a minute
ALARM = "lambda-tuner-rollback-orders-api-0a1b2c3d4e-stop"


def one_day_at_3008(code: str) -> Any:
    """A collector that sees orders-api, I/O-bound (80 ms whatever its memory), one day at 3,008 MB on
    code `code`: the agent's trial for it is 1,760 MB."""

    def collect(now: Any, *_: Any, **__: Any) -> CollectResult:
        fn = FunctionConfig(
            name="orders-api",
            arn="arn:aws:lambda:us-east-1:123456789012:function:orders-api",
            memory_mb=3008,
            timeout_s=30,
            log_group="/aws/lambda/orders-api",
            code_sha256=code,
        )
        day = Epoch(
            memory_mb=3008,
            arch="x86_64",
            start=now - timedelta(days=1),
            end=now,
            invocations=CALLS,
            duration_avg_ms=80.0,
            duration_p50_ms=79.2,
            duration_p95_ms=80.0 * 1.25,
            duration_p99_ms=80.0 * 1.35,
            periods=24,
            duration_avg_spread_ms=80.0 * 0.15 / math.sqrt(CALLS / 24),
            reports=ReportStats(
                invocations=CALLS,
                cold_starts=CALLS // 100,
                init_ms_avg=300.0,
                max_memory_used_mb_p99=97.0,
                max_memory_used_mb_max=100.0,
            ),
        )
        obs = Observations(function=fn.name, window_start=day.start, window_end=day.end, epochs=(day,))
        return CollectResult(
            inventory=Inventory(functions=(fn,)), observations={fn.name: obs}, stats=CollectStats(), state={}
        )

    return collect


def stopped_40_days_ago(store: Store, *, claim: bool = True, kind: str = "experiment") -> None:
    """What the apply function stores for a trial at 1,760 MB (from 3,008 MB, code sha-a) that a rollback
    alarm stopped 40 days ago: the change's APPLIED transition (`_record_change`), then the rollback's
    claim (`RollbackFlow._claim`). `claim`: the rollback's time stamped on its claim (later code) or not
    (the first releases, whose claim was `rolled_back_by` only). `kind` "memory": an ordinary move to
    1,760 MB instead, rolled back the same way."""
    made = NOW - timedelta(days=41)
    trial = {"max_days": 1} if kind == "experiment" else {}
    store.put_recommendation(
        make_rec(
            rec_id="trial-1",
            current=3008,
            proposed={"memory_mb": 1760, **trial},
            kind=kind,
            status="APPROVED",
            created_at=made,
        )
    )
    before = {"kind": "memory", "function": "orders-api", "memory_mb": 3008, "code_sha256": "sha-a"}
    after = {"kind": "memory", "function": "orders-api", "memory_mb": 1760}
    store.transition(
        "trial-1",
        "APPROVED",
        "APPLIED",
        made,
        change_id="c-1",
        applied_at=made.isoformat(),
        before=before,
        after=after,
        alarms=[ALARM],
    )
    stopped = NOW - timedelta(days=40)
    extra: dict[str, Any] = {"rollback_claim": {"alarm": ALARM, "at": stopped.isoformat(), "owner": "o"}}
    store.transition(
        "trial-1", "APPLIED", "ROLLED_BACK", stopped, rolled_back_by=ALARM, **(extra if claim else {})
    )


def decided(store: Store, code: str) -> Recommendation:
    summary = offline_cycle(store, one_day_at_3008(code), NOW)
    [memory] = [r.recommendation for r in summary.recommendations if r.recommendation.kind != "arm64_advice"]
    return memory


def test_a_trial_stopped_before_the_lookback_is_not_made_again(account: Account) -> None:
    store = Store(STATE, AUDIT)
    # Given a trial at 1,760 MB its guards stopped 40 days ago (nothing of it in the 14-day look-back)
    stopped_40_days_ago(store)
    assert store.list_audit(since=NOW - timedelta(days=14)) == []
    # When a cycle decides for the function, on the same code
    rec = decided(store, "sha-a")
    # Then neither that size nor one near it or below is tried (or moved to) again
    assert int(rec.proposed["memory_mb"] or 0) > 1760 * 2**0.2, (rec.kind, rec.proposed, rec.reason.summary)
    # and the reason says which change, when it was rolled back, and until when that holds
    said = (
        f"a change to 1760 MB was rolled back by its guards on {NOW - timedelta(days=40):%Y-%m-%d}: it and "
        f"less memory are ruled out until {NOW + timedelta(days=50):%Y-%m-%d} or a code change"
    )
    assert said in rec.reason.summary, rec.reason.summary


def test_a_move_its_guards_rolled_back_before_the_lookback_is_not_made_again(account: Account) -> None:
    store = Store(STATE, AUDIT)
    # Given an ordinary move to 1,760 MB (not a trial) its p99 alarm rolled back 40 days ago
    stopped_40_days_ago(store, kind="memory")
    # When a cycle decides for the function, on the same code
    rec = decided(store, "sha-a")
    # Then the same change is not made again (nor one near it or below), and the reason says why
    assert int(rec.proposed["memory_mb"] or 0) > 1760 * 2**0.2, (rec.kind, rec.proposed, rec.reason.summary)
    assert f"a change to 1760 MB was rolled back by its guards on {NOW - timedelta(days=40):%Y-%m-%d}" in (
        rec.reason.summary
    )


def test_a_stop_recorded_without_a_time_on_its_claim_is_honoured(account: Account) -> None:
    store = Store(STATE, AUDIT)
    # Given the same stop as the first releases stored it (the rollback's claim carried no time)
    stopped_40_days_ago(store, claim=False)
    # Then it rules the same ground out, dated by the recommendation's last update
    rec = decided(store, "sha-a")
    assert int(rec.proposed["memory_mb"] or 0) > 1760 * 2**0.2, (rec.kind, rec.proposed)
    assert f"rolled back by its guards on {NOW - timedelta(days=40):%Y-%m-%d}" in rec.reason.summary


def test_after_a_deploy_the_stopped_size_may_be_tried_again(account: Account) -> None:
    store = Store(STATE, AUDIT)
    stopped_40_days_ago(store)
    # When the function runs other code than the trial did
    rec = decided(store, "sha-b")
    # Then the stop rules nothing out: the trial at 1,760 MB is proposed again
    assert (rec.kind, rec.proposed.get("memory_mb")) == ("experiment", 1760)
