"""One change at a time per function, over the real store (moto): the change that waits its turn is not
held for good behind one a person has refused."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, ClassVar

import pytest
from approval_support import AUDIT, NOW, STATE, Account, agent_settings, make_rec
from test_resil_cycle_store import _one_function, deps_for

import lambda_tuner.cycle as cycle_module
from lambda_tuner.adapters.store import Store
from lambda_tuner.core.models import FunctionConfig, Interval, Observations, Recommendation
from lambda_tuner.cycle import run_cycle
from lambda_tuner.settings import AgentSettings

FN = "orders-api"


class MemoryAndPc:
    """Stands in for the core's decision: every cycle, halve the memory (the larger saving) and lower the
    alias's PC (the smaller one)."""

    def __init__(self, now: datetime, new_id: Any, **_: Any) -> None:
        self.now, self.new_id = now, new_id

    def decide(
        self, fn: FunctionConfig, obs: Observations, state: Any, stopped: Any = ()
    ) -> list[Recommendation]:
        memory = make_rec(rec_id=self.new_id(), function=fn.name, created_at=self.now, qualifier="live")
        pc = make_rec(
            rec_id=self.new_id(), function=fn.name, created_at=self.now, kind="provisioned_concurrency",
            current={"pc": 10}, proposed={"pc": 4}, qualifier="live",
            monthly_saving_usd=Interval(expected=5.0, low=4.0, high=6.0),
        )
        return [memory, pc]

    def updated_state(
        self, fn: FunctionConfig, obs: Observations, state: Any, stopped: Any = ()
    ) -> dict[str, Any]:
        return dict(state)


def _memory_asked() -> tuple[AgentSettings, Store, Recommendation]:
    """A first cycle in approve mode asks for the memory change (the larger saving)."""
    settings = agent_settings().model_copy(update={"mode": "approve"})
    store = Store(STATE, AUDIT)
    first = run_cycle(settings, NOW, deps_for(store, _one_function))
    [asked] = [r.recommendation for r in first.recommendations if r.route == "approve"]
    assert asked.kind == "memory"
    return settings, store, asked


def _memory_asked_and_rejected() -> tuple[AgentSettings, Store]:
    """... and a person rejects it."""
    settings, store, asked = _memory_asked()
    assert store.transition(asked.id, "PENDING", "REJECTED", NOW + timedelta(hours=1))
    return settings, store


def test_a_change_waiting_behind_one_a_person_rejected_is_asked_for_next(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given approve mode and a function whose cycle finds a memory change and a smaller PC change
    monkeypatch.setattr(cycle_module, "Decider", MemoryAndPc)
    settings, store = _memory_asked_and_rejected()
    # When the next cycle finds the same two
    later = NOW + timedelta(days=1)
    second = run_cycle(settings, later, deps_for(store, _one_function, at=later))
    # Then the PC change is asked for now: the refused one no longer goes first, and waits its turn
    routes = {r.recommendation.kind: r.route for r in second.recommendations}
    assert routes == {"provisioned_concurrency": "approve", "keep": "record"}, routes


def test_a_rejection_older_than_its_time_no_longer_puts_its_change_behind(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the memory change rejected long ago (the store reads rejections only REFUSED_FOR back)
    monkeypatch.setattr(cycle_module, "Decider", MemoryAndPc)
    settings, store = _memory_asked_and_rejected()
    # When a cycle long after finds the same two
    later = NOW + cycle_module.REFUSED_FOR + timedelta(days=1)
    again = run_cycle(settings, later, deps_for(store, _one_function, at=later))
    # Then the larger saving goes first again
    routes = {r.recommendation.kind: r.route for r in again.recommendations}
    assert routes == {"memory": "approve", "keep": "record"}, routes


def test_a_change_waiting_behind_an_ask_nobody_answered_is_asked_for_next(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the memory change asked for first, and its links expiring unanswered (72 hours on)
    monkeypatch.setattr(cycle_module, "Decider", MemoryAndPc)
    settings, store, asked = _memory_asked()
    # When the cycle after the expiry finds the same two
    later = NOW + timedelta(hours=settings.token_ttl_hours + 24)
    again = run_cycle(settings, later, deps_for(store, _one_function, at=later))
    assert store.get_recommendation(asked.id).status == "EXPIRED"  # type: ignore[union-attr]
    # Then the PC change waiting behind it is asked for: it does not wait for a person who does not answer
    routes = {r.recommendation.kind: r.route for r in again.recommendations}
    assert routes == {"provisioned_concurrency": "approve", "keep": "record"}, routes


def test_auto_mode_asks_a_person_again_for_what_a_person_rejected_rather_than_make_it(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the memory change a person rejected, and the account in auto mode since
    monkeypatch.setattr(cycle_module, "Decider", MemoryAndPc)
    settings, store = _memory_asked_and_rejected()
    auto = settings.model_copy(update={"mode": "auto"})
    # When a cycle finds the same change after the month in which it is not asked for at all
    later = NOW + cycle_module.REFUSED_FOR + timedelta(days=1)
    again = run_cycle(auto, later, deps_for(store, _one_function, at=later))
    # Then the agent does not make it itself: a person is asked, and told why
    [memory] = [r for r in again.recommendations if r.recommendation.kind == "memory"]
    assert memory.route == "approve", (memory.route, memory.why)
    assert f"a person rejected a change like it on {NOW:%Y-%m-%d}" in memory.why, memory.why


def test_auto_mode_makes_the_same_change_itself_when_nobody_rejected_it(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The control: the same cycle in auto mode, with the first ask approved rather than rejected
    monkeypatch.setattr(cycle_module, "Decider", MemoryAndPc)
    settings, store, asked = _memory_asked()
    assert store.transition(asked.id, "PENDING", "EXPIRED", NOW + timedelta(hours=1))
    auto = settings.model_copy(update={"mode": "auto"})
    later = NOW + cycle_module.REFUSED_FOR + timedelta(days=1)
    again = run_cycle(auto, later, deps_for(store, _one_function, at=later))
    [memory] = [r for r in again.recommendations if r.recommendation.kind == "memory"]
    assert memory.route == "apply", (memory.route, memory.why)


class PcPlan:
    """Stands in for the core's decision: the alias's PC, from the level in force to the level of the day's
    plan (`levels`: cycle time -> (in force, planned)); a static plan moves by an instance or so as the
    days' traffic does."""

    levels: ClassVar[dict[datetime, tuple[int, int]]] = {}

    def __init__(self, now: datetime, new_id: Any, **_: Any) -> None:
        self.now, self.new_id = now, new_id

    def decide(
        self, fn: FunctionConfig, obs: Observations, state: Any, stopped: Any = ()
    ) -> list[Recommendation]:
        current, planned = self.levels[self.now]
        return [
            make_rec(
                rec_id=self.new_id(), function=fn.name, created_at=self.now, kind="provisioned_concurrency",
                current={"pc": current}, proposed={"pc": planned}, qualifier="live",
                monthly_saving_usd=Interval(expected=5.0, low=4.0, high=6.0),
            )
        ]

    def updated_state(
        self, fn: FunctionConfig, obs: Observations, state: Any, stopped: Any = ()
    ) -> dict[str, Any]:
        return dict(state)


def _pc_rejected_then(later: datetime, level: tuple[int, int], monkeypatch: pytest.MonkeyPatch) -> Any:
    """Approve mode: a person rejects lowering the alias's PC 10 -> 6; the cycle at `later` plans `level`.
    That cycle's one PC recommendation, routed."""
    monkeypatch.setattr(cycle_module, "Decider", PcPlan)
    monkeypatch.setattr(PcPlan, "levels", {NOW: (10, 6), later: level})
    settings, store = agent_settings().model_copy(update={"mode": "approve"}), Store(STATE, AUDIT)
    first = run_cycle(settings, NOW, deps_for(store, _one_function))
    [asked] = [r.recommendation for r in first.recommendations]
    assert asked.proposed == {"pc": 6}
    assert store.transition(asked.id, "PENDING", "REJECTED", NOW + timedelta(hours=1))
    [routed] = run_cycle(settings, later, deps_for(store, _one_function, at=later)).recommendations
    return routed


def test_a_pc_plan_one_instance_from_the_level_a_person_rejected_is_not_asked_for_again(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a person who rejected lowering the PC 10 -> 6, and the next day's plan 10 -> 7
    routed = _pc_rejected_then(NOW + timedelta(days=1), (10, 7), monkeypatch)
    # Then it is a note that the person said no, not the same question asked the next morning
    assert routed.route == "record", (routed.route, routed.recommendation.reason.summary)
    assert "a person rejected" in routed.recommendation.reason.summary


def test_a_pc_plan_from_a_level_its_team_set_since_the_rejection_is_asked_for(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a person who rejected lowering the PC 10 -> 6, and its team raising it to 20 since
    routed = _pc_rejected_then(NOW + timedelta(days=1), (20, 6), monkeypatch)
    # Then lowering 20 -> 6 is a new question, asked: the person never said no to it
    assert routed.route == "approve", (routed.route, routed.recommendation.reason.summary)
