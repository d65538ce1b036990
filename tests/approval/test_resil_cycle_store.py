"""One cycle when the store or the apply function fails part-way (moto over HTTP): what was decided is
recorded on a later cycle rather than lost, a status never moves without its audit record, and a change
whose hand-over failed is not requested a second time beside its own resumption."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from approval_support import AUDIT, NOW, STATE, Account, agent_settings, make_rec
from test_cycle_notes import collector_saying

import lambda_tuner.cycle as cycle_module
from lambda_tuner.adapters.store import Store, StoreError
from lambda_tuner.collect import CollectResult, CollectStats
from lambda_tuner.core.models import (
    Epoch,
    FunctionConfig,
    FunctionPolicy,
    Inventory,
    Observations,
    Recommendation,
)
from lambda_tuner.cycle import CycleDeps, HandOverError, run_cycle

FN = "orders-api"


class AuditDown(Store):
    """The real store, whose audit appends of the given kind fail (as after the client's retries) while
    `down` is set."""

    def __init__(self, *types: str) -> None:
        super().__init__(STATE, AUDIT)
        self.types, self.down = set(types), True

    def append_audit(self, type: Any, at: datetime, **fields: Any) -> Any:
        if self.down and type in self.types:
            raise StoreError("cannot append to the audit: ThrottlingException (injected)")
        return super().append_audit(type, at, **fields)

    def append_audit_many(self, entries: list[tuple[Any, datetime, dict[str, Any]]]) -> Any:
        if self.down and any(t in self.types for t, _, _ in entries):
            raise StoreError("cannot append to the audit: ThrottlingException (injected)")
        return super().append_audit_many(entries)


def deps_for(store: Store, collector: Any, invoke_apply: Any = None, at: datetime = NOW) -> CycleDeps:
    ids = iter(range(10_000))
    return CycleDeps(
        store=store,
        notifier=None,
        secret=lambda: b"s" * 32,
        invoke_apply=invoke_apply,
        collector=collector,
        new_id=lambda: f"id-{at:%d%H}-{next(ids)}",
    )


def test_a_note_whose_audit_write_failed_is_recorded_by_the_next_cycle(account: Account) -> None:
    # Given a function with too little data, and the audit refusing writes for one cycle
    store = AuditDown("recommendation")
    says = collector_saying({"a": "12 invocations in 14 days; at least 100 needed"})
    with pytest.raises(StoreError):
        run_cycle(agent_settings(), NOW, deps_for(store, says))
    # When the next cycle sees the same, with the audit writable again
    store.down = False
    run_cycle(agent_settings(), NOW + timedelta(days=1), deps_for(store, says, at=NOW + timedelta(days=1)))
    # Then the note is in the audit once: the failed cycle did not count it as already said
    notes = [r for r in store.list_audit(function="a") if r.type == "recommendation"]
    assert len(notes) == 1


def _collected_at(memory_mb: int) -> Any:
    def collect(now: datetime, *_: Any, **__: Any) -> CollectResult:
        epoch = Epoch(memory_mb=memory_mb, arch="x86_64", start=now - timedelta(hours=20), end=now,
                      invocations=5_000, duration_avg_ms=130.0)
        obs = Observations(function=FN, window_start=now - timedelta(days=14), window_end=now,
                           epochs=(epoch,))
        return CollectResult(inventory=Inventory(functions=()), observations={FN: obs}, stats=CollectStats(),
                             state={})

    return collect


def test_a_change_is_not_closed_verified_without_its_verification_record(account: Account) -> None:
    # Given a change applied two days ago, a day of data at its new size, and the audit refusing writes
    store = AuditDown("verification")
    store.put_recommendation(make_rec(status="APPLIED", created_at=NOW - timedelta(days=2)))
    with pytest.raises(StoreError):
        run_cycle(agent_settings(), NOW, deps_for(store, _collected_at(512)))
    # When the next cycle runs with the audit writable again
    store.down = False
    run_cycle(agent_settings(), NOW + timedelta(days=1), deps_for(store, _collected_at(512)))
    # Then the change is VERIFIED and its verification is in the audit
    rec = store.get_recommendation("rec-1")
    assert rec is not None and rec.status == "VERIFIED"
    records = [r.type for r in store.list_audit(function=FN) if r.recommendation_id == "rec-1"]
    assert records == ["verification"]


class HalveIt:
    """Stands in for the core's decision: every function's memory halved (a step auto mode may take)."""

    def __init__(self, now: datetime, new_id: Any, **_: Any) -> None:
        self.now, self.new_id = now, new_id

    def decide(
        self, fn: FunctionConfig, obs: Observations, state: Any, stopped: Any = ()
    ) -> list[Recommendation]:
        return [make_rec(rec_id=self.new_id(), function=fn.name, created_at=self.now, status="PENDING")]

    def updated_state(
        self, fn: FunctionConfig, obs: Observations, state: Any, stopped: Any = ()
    ) -> dict[str, Any]:
        return dict(state)


def _one_function(now: datetime, *_: Any, **__: Any) -> CollectResult:
    fn = FunctionConfig(name=FN, arn=f"arn:aws:lambda:us-east-1:123456789012:function:{FN}", memory_mb=1024,
                        timeout_s=30, log_group=f"/aws/lambda/{FN}")
    obs = Observations(function=FN, window_start=now - timedelta(days=14), window_end=now)
    return CollectResult(inventory=Inventory(functions=(fn,)), observations={FN: obs}, stats=CollectStats(),
                         state={})


def test_a_change_whose_hand_over_failed_is_requested_once_by_the_next_cycle(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given auto mode, a function whose memory the cycle halves, and the apply function unreachable
    monkeypatch.setattr(cycle_module, "Decider", HalveIt)
    settings = agent_settings().model_copy(update={"mode": "auto"})
    store = Store(STATE, AUDIT)

    def unreachable(payload: dict[str, Any]) -> None:
        raise HandOverError("TooManyRequestsException: Rate exceeded")

    first = run_cycle(settings, NOW, deps_for(store, _one_function, unreachable))
    assert first.handover_failed and store.list_recommendations(status="APPROVED")
    # When the next cycle runs and the apply function is reachable again (asynchronous: the change it
    # resumes is not made yet when the cycle decides)
    sent: list[dict[str, Any]] = []
    later = NOW + timedelta(days=1)
    run_cycle(settings, later, deps_for(store, _one_function, sent.append, at=later))
    # Then the stuck change is resumed, and no second copy of it is handed over beside it
    requests = [(p["recommendation_id"], p["requested_by"]) for p in sent]
    assert requests == [(first.handover_failed[0], "resume")]


def test_a_function_whose_tags_could_not_be_read_is_audited_as_blocked_saying_why(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given approve mode, and a function whose details (tags) stayed unreadable: the collector blocks
    # its changes until they are read (collect_run.Run.policy)
    monkeypatch.setattr(cycle_module, "Decider", HalveIt)
    settings = agent_settings().model_copy(update={"mode": "approve"})
    blocked = "tags not read yet (details of orders-api: throttled by the Lambda control-plane quota)"

    def unreadable_tags(now: datetime, *args: Any, **kwargs: Any) -> CollectResult:
        got = _one_function(now, *args, **kwargs)
        fn = got.inventory.functions[0].model_copy(update={"policy": FunctionPolicy(errors=(blocked,))})
        return got.model_copy(update={"inventory": Inventory(functions=(fn,))})

    store = Store(STATE, AUDIT)
    # When the cycle runs
    summary = run_cycle(settings, NOW, deps_for(store, unreadable_tags))
    # Then its change is only recorded, and the record says it is because its tags could not be read
    assert [r.route for r in summary.recommendations] == ["record"]
    [record] = [r for r in store.list_audit(function=FN) if r.type == "recommendation"]
    assert "throttled" in record.data["why"], record.data["why"]
