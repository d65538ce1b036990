"""`lambda-tuner revert --apply-function`: the deployed apply function's answer says, per function, what
it put back, also when the store fails midway, and the CLI prints it as the direct revert does (against
the twin, whose Lambda runs the apply handler and answers a crash with FunctionError, as AWS does)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from approval_support import AUDIT, NOW, STATE, RevertRecordRefused, make_rec
from click.testing import CliRunner
from twin_support import Live

from lambda_tuner.adapters.applier import Applier
from lambda_tuner.adapters.apply_flow import ApplyFlow
from lambda_tuner.adapters.notifier import Notifier
from lambda_tuner.adapters.store import Store
from lambda_tuner.cli.audit import revert
from lambda_tuner.core.models import AuditRecord, AuditType
from lambda_tuner.handlers import apply

SINCE = ["--since", "2026-11-26T00:00:00Z"]
THROUGH = ["--apply-function", "lt-apply"]
FUNCTIONS = ("rv-orders", "rv-billing")


def changed(live: Live, functions: tuple[str, ...] = FUNCTIONS, at: datetime = NOW) -> None:
    """The agent's change to each of `functions` (1,024 → 512 MB), applied and audited."""
    account, store = live.deployed.account, Store(STATE, AUDIT)
    for fn in functions:
        account.create_function(fn, memory_mb=1024)
        store.put_recommendation(
            make_rec(rec_id=f"rec-{fn}", function=fn, revision_id=None, status="APPROVED")
        )
        assert ApplyFlow(store, Applier(), Notifier(account.topic_arn)).apply(f"rec-{fn}", "approval", at).ok


def cli(*args: str, answer: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(revert, [*SINCE, *args], input=answer)
    return result.exit_code, result.output


def test_a_revert_through_the_apply_function_whose_record_fails_midway_says_what_was_done(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    changed(live)
    # Given the apply function's audit table refusing the first revert record
    monkeypatch.setattr(apply, "Store", RevertRecordRefused)
    apply._flow.cache_clear()
    # When the operator reverts both functions through it
    code, out = cli(*THROUGH, "--yes")
    # Then the command fails, names the function whose undo is not recorded, and still reverts the other
    # (the apply function used to raise on the first, so the CLI said only "the apply function failed",
    # and the functions after it were never reverted)
    assert code == 1, out
    assert "FAILED   rv-orders" in out and "not recorded" in out and "audit table unavailable" in out, out
    assert "reverted rv-billing" in out, out
    assert live.deployed.account.memory("rv-billing") == 1024
    # And, as it says, a second run records the first
    monkeypatch.setattr(apply, "Store", Store)
    apply._flow.cache_clear()
    code, out = cli(*THROUGH, "--yes")
    assert code == 0 and "reverted rv-orders" in out, out
    reverts = [r.function for r in Store(STATE, AUDIT).list_audit() if r.type == "revert"]
    assert sorted(reverts) == ["rv-billing", "rv-orders"]


@pytest.mark.parametrize("through", [True, False], ids=["apply function", "directly"])
def test_a_revert_prints_what_it_put_back(live: Live, through: bool) -> None:
    changed(live, ("rv-orders",))
    code, out = cli(*(THROUGH if through else []), "--yes")
    # (it used to print only "reverted rv-orders: reverted", whatever the apply function did)
    assert code == 0 and "reverted rv-orders: reverted (memory_mb 512→1024)" in out, out


def test_a_crash_of_the_apply_function_says_what_the_audit_then_shows_in_force(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    changed(live)

    class Crashing(Store):
        """The invocation ends (its timeout, say) as it is about to record its second revert."""

        def append_audit(self, type: AuditType, at: datetime, **fields: Any) -> AuditRecord:
            if type == "revert" and fields.get("function") == "rv-billing":
                raise RuntimeError("Task timed out after 900.00 seconds")
            return super().append_audit(type, at, **fields)

    monkeypatch.setattr(apply, "Store", Crashing)
    apply._flow.cache_clear()
    code, out = cli(*THROUGH, "--yes")
    # Then the error is named, and so is what the audit now shows still in force
    # (it used to say only that the apply function failed: not which functions were put back)
    assert code == 1 and "Task timed out" in out, out
    assert "reverted rv-orders" in out, out
    assert "rv-billing" in out.split("Task timed out")[0] and "not recorded as reverted" in out, out


def test_a_revert_through_the_apply_function_that_did_other_than_the_plan_says_so(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    changed(live, ("rv-orders",))

    def later_change(event: dict[str, Any], context: object) -> Any:
        """Another change of the agent's lands between the plan shown and the revert."""
        changed(live, ("rv-billing",), at=NOW + timedelta(hours=1))
        return apply.handler(event, context)

    live.twin.register_handler("lt-apply", later_change)
    code, out = cli(*THROUGH, answer="y\n")
    assert code == 0, out
    plan, done = out.split("Restore these", 1)
    assert "rv-orders" in plan and "rv-billing" not in plan
    # Then it prints what the apply function did, and that it differs from the plan it showed
    assert "reverted rv-orders" in done and "reverted rv-billing" in done, out
    assert "differs from the plan" in done, out
