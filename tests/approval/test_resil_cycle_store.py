"""One cycle when the store fails part-way (moto over HTTP): what was decided is recorded on a later cycle
rather than lost."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from approval_support import AUDIT, NOW, STATE, Account, agent_settings
from test_cycle_notes import collector_saying

from lambda_tuner.adapters.store import Store, StoreError
from lambda_tuner.cycle import CycleDeps, run_cycle


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
