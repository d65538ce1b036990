"""The cycle's side of a canary: once its day is over, and before deciding, the cycle hands the canary
to the apply function to conclude; never earlier, never in a read-only run, and a canary in its day is
not closed by verification (moto over HTTP, the apply function's flow in-process)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from approval_support import AUDIT, NOW, STATE, Account, agent_settings
from canary_apply_support import ACTION, FN, alias_state, behind_alias, canary_rec

from lambda_tuner.adapters.applier import Applier
from lambda_tuner.adapters.apply_flow import ApplyFlow
from lambda_tuner.adapters.canary_flow import ConcludeEvent
from lambda_tuner.adapters.notifier import Notifier
from lambda_tuner.adapters.store import Store
from lambda_tuner.collect import CollectResult, CollectStats
from lambda_tuner.core.models import Epoch, Inventory, Observations
from lambda_tuner.cycle import CycleDeps, CycleSummary, HandOverError, run_cycle


def collected_at_trial_size(now: datetime, *_: Any, **__: Any) -> CollectResult:
    """Plenty of calls at the canary's 512 MB: enough for verification to close an ordinary change."""
    epoch = Epoch(
        memory_mb=512,
        arch="x86_64",
        start=now - timedelta(hours=6),
        end=now,
        invocations=5_000,
        duration_avg_ms=130.0,
    )
    obs = Observations(function=FN, window_start=now - timedelta(days=14), window_end=now, epochs=(epoch,))
    return CollectResult(
        inventory=Inventory(functions=()), observations={FN: obs}, stats=CollectStats(), state={}
    )


class Agent:
    """A canary applied at NOW (proposed two days before), and the cycle wired to the apply flow."""

    collector = staticmethod(collected_at_trial_size)

    def __init__(self, account: Account) -> None:
        self.v1 = behind_alias(account)
        self.store = Store(STATE, AUDIT)
        applier = Applier(sleep=lambda _: None, poll_delay_s=1)
        self.flow = ApplyFlow(self.store, applier, Notifier(account.topic_arn), alarm_action_arn=ACTION)
        self.store.put_recommendation(canary_rec(created_at=NOW - timedelta(days=2)))
        applied = self.flow.apply("rec-1", "approval", NOW)
        assert applied.ok, applied.message
        self.trial = str(applied.after["published_version"])
        self.sent: list[dict[str, Any]] = []

    def invoke_apply(self, payload: dict[str, Any]) -> None:
        """The apply function: its own event validation, then its flow."""
        self.sent.append(payload)
        event = ConcludeEvent.model_validate(payload)
        self.flow.conclude(event.recommendation_id, event.time, actor=event.requested_by)

    def cycle(self, now: datetime, *, read_only: bool = False) -> CycleSummary:
        deps = CycleDeps(
            store=self.store,
            notifier=None,
            secret=lambda: b"s" * 32,
            invoke_apply=self.invoke_apply,
            collector=self.collector,
        )
        return run_cycle(agent_settings(), now, deps, read_only=read_only)

    def status(self) -> str:
        rec = self.store.get_recommendation("rec-1")
        assert rec is not None
        return rec.status


def test_a_canary_in_its_day_is_neither_concluded_nor_verified(account: Account) -> None:
    # Given a canary applied 12 hours ago, and a day of data at its trial size
    agent = Agent(account)
    # When the cycle runs
    summary = agent.cycle(NOW + timedelta(hours=12))
    # Then nothing is handed over, the canary keeps running, and verification left it open
    assert agent.sent == [] and summary.concluded == [] and summary.verifications == []
    assert agent.status() == "APPLIED" and alias_state() == (agent.v1, {agent.trial: 0.1})


def test_the_cycle_after_the_canarys_day_hands_it_over_to_conclude(account: Account) -> None:
    # Given a canary applied a day ago (a daily schedule fires a few minutes early: still its day)
    agent = Agent(account)
    # When the next cycle runs
    now = NOW + timedelta(days=1) - timedelta(minutes=10)
    summary = agent.cycle(now)
    # Then it sent one conclude request, and the apply function removed the routing and closed it
    assert agent.sent == [
        {"action": "conclude", "recommendation_id": "rec-1", "time": now.isoformat(), "requested_by": "agent"}
    ]
    assert summary.concluded == ["rec-1"]
    assert alias_state() == (agent.v1, {}) and agent.status() == "VERIFIED"
    assert account.memory(FN) == 1024


def test_a_read_only_run_concludes_nothing(account: Account) -> None:
    # Given a canary whose day is over
    agent = Agent(account)
    # When `lambda-tuner run` runs without --apply
    summary = agent.cycle(NOW + timedelta(days=2), read_only=True)
    # Then nothing is handed over and the canary still runs
    assert agent.sent == [] and summary.concluded == []
    assert agent.status() == "APPLIED" and alias_state() == (agent.v1, {agent.trial: 0.1})


def test_a_conclusion_lost_on_the_way_is_sent_again_by_the_next_cycle(account: Account) -> None:
    # Given a conclude request that never reached the apply function
    agent = Agent(account)
    lost: list[dict[str, Any]] = []
    agent.invoke_apply = lost.append  # type: ignore[method-assign]
    agent.cycle(NOW + timedelta(days=1))
    assert len(lost) == 1 and agent.status() == "APPLIED"
    # When the next cycle runs with the apply function reachable, then it is concluded
    del agent.invoke_apply
    agent.cycle(NOW + timedelta(days=2))
    assert agent.sent[0]["recommendation_id"] == "rec-1" and agent.status() == "VERIFIED"


def test_a_request_that_cannot_be_sent_does_not_stop_the_cycle_and_is_sent_next_time(
    account: Account,
) -> None:
    # Given the apply function unreachable for this cycle (the asynchronous invoke refused)
    agent = Agent(account)

    def unreachable(payload: dict[str, Any]) -> None:
        raise HandOverError("TooManyRequestsException: Rate exceeded")

    agent.invoke_apply = unreachable  # type: ignore[method-assign]
    # When the cycle runs, then it finishes, and says which request was not sent
    summary = agent.cycle(NOW + timedelta(days=1))
    assert summary.handover_failed == ["rec-1"] and summary.concluded == []
    assert agent.status() == "APPLIED"
    # And the next cycle, with the apply function reachable, concludes it
    del agent.invoke_apply
    assert agent.cycle(NOW + timedelta(days=2)).concluded == ["rec-1"] and agent.status() == "VERIFIED"
