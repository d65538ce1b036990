"""A canary concluded by this cycle stops holding its function in this cycle's decision: the next step,
judged on both sizes the canary measured side by side, is proposed at once, not a day later. While the
canary still runs, the same step waits ("one change in flight per function"). (The arm64 advice is
advice only and never held, so it is left out of what is compared.)"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from approval_support import NOW, Account
from canary_apply_support import ALIAS, FN
from test_canary_apply_cycle import Agent

from lambda_tuner.collect import CollectResult, CollectStats
from lambda_tuner.core.models import AliasInfo, Epoch, FunctionConfig, Inventory, Observations
from lambda_tuner.cycle import CycleSummary


def _epoch(mb: int, start: datetime, end: datetime, *, calls: int, avg: float, p99: float) -> Epoch:
    return Epoch(
        memory_mb=mb,
        arch="x86_64",
        start=start,
        end=end,
        invocations=calls,
        duration_avg_ms=avg,
        duration_p99_ms=p99,
        periods=24,
        duration_avg_spread_ms=avg * 0.02,
        duration_p99_spread_ms=p99 * 0.05,
    )


def collected_with_canary_day(now: datetime, *_: Any, **__: Any) -> CollectResult:
    """A week at 1,024 MB, then the canary's day: 512 MB on 10 % of the calls, about as fast (I/O-bound),
    so the decision wants 512 MB for all the traffic."""
    day = timedelta(days=1)
    canary_start = NOW
    epochs = [
        _epoch(1024, canary_start - (k + 1) * day, canary_start - k * day, calls=90_000, avg=200.0, p99=400.0)
        for k in range(7, 0, -1)
    ]
    epochs += [
        _epoch(1024, canary_start, canary_start + day, calls=81_000, avg=200.0, p99=400.0),
        _epoch(512, canary_start, canary_start + day, calls=9_000, avg=201.0, p99=402.0),
    ]
    fn = FunctionConfig(
        name=FN,
        arn=f"arn:aws:lambda:us-east-1:123456789012:function:{FN}",
        memory_mb=1024,
        timeout_s=30,
        log_group=f"/aws/lambda/{FN}",
        aliases=(AliasInfo(name=ALIAS, function_version="1"),),
    )
    obs = Observations(
        function=FN,
        qualifier=ALIAS,
        window_start=epochs[0].start,
        window_end=epochs[-1].end,
        epochs=tuple(epochs),
    )
    return CollectResult(
        inventory=Inventory(functions=(fn,)), observations={FN: obs}, stats=CollectStats(), state={}
    )


class CanaryAgent(Agent):
    """The canary agent of test_canary_apply_cycle, collecting the canary's day. The agent hands the
    apply function its requests asynchronously (InvocationType "Event"), so a conclusion runs after the
    cycle has decided: `deliver` plays the apply function's queue afterwards."""

    collector = staticmethod(collected_with_canary_day)

    def __init__(self, account: Account) -> None:
        super().__init__(account)
        self.queued: list[dict[str, Any]] = []

    def invoke_apply(self, payload: dict[str, Any]) -> None:
        self.queued.append(payload)

    def deliver(self) -> None:
        for payload in self.queued:
            super().invoke_apply(payload)
        self.queued = []


def memory_recs(summary: CycleSummary) -> list[tuple[str, str]]:
    return [
        (r.recommendation.kind, r.recommendation.reason.decided_by)
        for r in summary.recommendations
        if r.recommendation.function == FN
    ]


def test_a_canary_concluded_this_cycle_no_longer_holds_its_function(account: Account) -> None:
    # Given a canary at 512 MB whose day is over, and data showing 512 MB as fast as 1,024 MB
    agent = CanaryAgent(account)
    # When the next cycle hands it over to conclude (the apply function runs it after the cycle decided)
    summary = agent.cycle(NOW + timedelta(days=1, minutes=5))
    assert summary.concluded == ["rec-1"] and agent.status() == "APPLIED"
    agent.deliver()
    assert agent.status() == "VERIFIED"
    # Then the same cycle proposed the next step (judged on both sizes), not a held "keep"
    steps = [(kind, why) for kind, why in memory_recs(summary) if kind in ("memory", "experiment", "keep")]
    assert len(steps) == 1, steps
    kind, why = steps[0]
    assert kind in ("memory", "experiment") and why != "one change in flight per function", steps


def test_while_the_canary_runs_the_next_step_waits(account: Account) -> None:
    # Given the same data, but the canary is only twelve hours into its day
    agent = CanaryAgent(account)
    # When a cycle runs
    summary = agent.cycle(NOW + timedelta(hours=12))
    # Then nothing is concluded and the step to 512 MB is held as a "keep" while the canary runs
    assert summary.concluded == [] and agent.status() == "APPLIED"
    steps = [(kind, why) for kind, why in memory_recs(summary) if kind in ("memory", "experiment", "keep")]
    assert steps == [("keep", "one change in flight per function")]
