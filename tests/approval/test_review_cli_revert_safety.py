"""`lambda-tuner revert` puts back only what the agent changed, and only what it really put back counts as
undone: a failed undo is retried by the next revert, and a deploy since is never reverted with it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from approval_support import AUDIT, NOW, STATE, Account, Refusing, RevertRecordRefused, make_rec
from click.testing import CliRunner

from lambda_tuner.adapters import aws
from lambda_tuner.adapters.applier import Applier
from lambda_tuner.adapters.apply_flow import ApplyFlow
from lambda_tuner.adapters.notifier import Notifier
from lambda_tuner.adapters.store import Store
from lambda_tuner.cli import audit as cli_audit
from lambda_tuner.cli.audit import revert

ENV = {"LT_STATE_TABLE": STATE, "LT_AUDIT_TABLE": AUDIT}
SINCE = ["--since", "2026-11-26T00:00:00Z"]
FN = "orders-api"


def _applied_change(account: Account, **rec: object) -> Store:
    store = Store(STATE, AUDIT)
    store.put_recommendation(make_rec(revision_id=None, status="APPROVED", **rec))  # type: ignore[arg-type]
    rec_id = str(rec.get("rec_id", "rec-1"))
    assert ApplyFlow(store, Applier(), Notifier(account.topic_arn)).apply(rec_id, "approval", NOW).ok
    return store


def _cli_revert(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(revert, [*SINCE, "--yes", *args], env=ENV)
    return result.exit_code, result.output


def test_a_revert_that_failed_is_tried_again_by_the_next_revert(account: Account) -> None:
    # Given a change by the agent (1024 → 512 MB) and a revert whose restore was throttled
    account.create_function(FN, memory_mb=1024)
    store = _applied_change(account)
    throttled = Refusing(
        aws.client("lambda"), "update_function_configuration", "TooManyRequestsException", 429
    )
    flow = ApplyFlow(store, Applier(throttled, sleep=lambda _: None), Notifier(account.topic_arn))
    [failed] = flow.revert(NOW, None, NOW + timedelta(hours=1))
    assert not failed.ok and account.memory(FN) == 512
    # Then the change is still in force: its recommendation says so
    rec = store.get_recommendation("rec-1")
    assert rec is not None and rec.status == "APPLIED"
    # When the operator runs the revert again
    code, out = _cli_revert()
    # Then it is put back this time, not "nothing to revert"
    assert code == 0 and "nothing to revert" not in out, out
    assert account.memory(FN) == 1024


def test_a_change_whose_alarm_rollback_failed_is_still_reverted(account: Account) -> None:
    # Given a change by the agent whose alarm rollback could NOT undo it (it is still in force)
    account.create_function(FN, memory_mb=1024)
    store = _applied_change(account)
    [change] = store.list_audit(function=FN)
    store.append_audit(
        "rollback",
        NOW + timedelta(hours=1),
        function=FN,
        recommendation_id="rec-1",
        caused_by=change.id,
        data={"alarm": "a1", "ok": False, "error": "throttled", "restored": change.data["before"]},
    )
    # When the operator reverts the agent's changes
    code, out = _cli_revert()
    # Then that change is put back too
    assert code == 0 and "nothing to revert" not in out, out
    assert account.memory(FN) == 1024


def test_a_revert_leaves_an_alias_a_deploy_has_moved_since(account: Account) -> None:
    # Given a function whose alias `live` serves version 1, and the agent's memory change behind it
    # (1024 → 512 MB: version 2 published, the alias moved to it)
    account.create_function(FN, memory_mb=1024)
    lam = aws.client("lambda")
    v1 = lam.publish_version(FunctionName=FN)["Version"]
    lam.create_alias(FunctionName=FN, Name="live", FunctionVersion=v1)
    _applied_change(account, qualifier="live")
    assert lam.get_alias(FunctionName=FN, Name="live")["FunctionVersion"] == "2"
    # and since then a deploy: new code published as version 3, the alias moved to it
    lam.update_function_configuration(FunctionName=FN, Description="release 42")
    v3 = lam.publish_version(FunctionName=FN)["Version"]
    lam.update_alias(FunctionName=FN, Name="live", FunctionVersion=v3)
    # When the operator reverts the agent's changes
    code, out = _cli_revert()
    # Then the alias still serves the deploy's version, not the code from before it
    assert code == 0 and "alias live left as it is" in out, out
    assert lam.get_alias(FunctionName=FN, Name="live")["FunctionVersion"] == v3


def test_a_revert_of_a_function_deleted_since_says_it_is_gone_and_does_not_fail_again(
    account: Account,
) -> None:
    # Given a change by the agent to a function that has been deleted since
    account.create_function(FN, memory_mb=1024)
    _applied_change(account)
    aws.client("lambda").delete_function(FunctionName=FN)
    # When the operator reverts, twice
    first, second = _cli_revert(), _cli_revert()
    # Then both say there is nothing left to put back, and neither fails
    assert first[0] == 0 and "no longer exists" in first[1], first
    assert second[0] == 0, second


def test_revert_shows_what_it_would_restore_and_changes_nothing_without_confirmation(
    account: Account,
) -> None:
    # Given a change by the agent (1024 → 512 MB)
    account.create_function(FN, memory_mb=1024)
    store = _applied_change(account)
    # When the operator runs revert and answers no
    result = CliRunner().invoke(revert, SINCE, env=ENV, input="n\n")
    # Then it showed what it would put back, changed nothing, recorded nothing and exits non-zero
    assert "orders-api" in result.output and "512" in result.output and "1024" in result.output
    assert result.exit_code == 1, result.output
    assert account.memory(FN) == 512
    assert [r.type for r in store.list_audit()] == ["change"]


def test_revert_dry_run_lists_the_plan_and_changes_nothing(account: Account) -> None:
    account.create_function(FN, memory_mb=1024)
    store = _applied_change(account)
    code, out = _cli_revert("--dry-run")
    assert code == 0, out
    assert "would restore orders-api" in out and "memory_mb 512→1024" in out
    assert account.memory(FN) == 512
    assert [r.type for r in store.list_audit()] == ["change"]


def test_revert_with_yes_restores_without_asking(account: Account) -> None:
    account.create_function(FN, memory_mb=1024)
    _applied_change(account)
    code, out = _cli_revert("--yes")
    assert code == 0 and "reverted orders-api" in out, out
    assert account.memory(FN) == 1024


def test_a_revert_whose_record_fails_midway_says_what_was_and_was_not_done_and_goes_on(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the agent's changes to two functions (each 1024 → 512 MB)
    for n, fn in enumerate((FN, "billing"), start=1):
        account.create_function(fn, memory_mb=1024)
        _applied_change(account, rec_id=f"rec-{n}", function=fn)
    # and an audit table that refuses the first revert record
    monkeypatch.setattr(cli_audit, "_store", RevertRecordRefused)
    # When the operator reverts both
    code, out = _cli_revert()
    # Then the command fails, names the function whose undo is not recorded, and still reverts the other
    assert code == 1, out
    assert f"FAILED   {FN}" in out and "not recorded" in out and "audit table unavailable" in out, out
    assert "reverted billing" in out, out
    assert account.memory("billing") == 1024


def test_a_revert_leaves_a_memory_size_a_deploy_has_set_since(account: Account) -> None:
    # Given the agent's change (1024 → 512 MB) and since then a deploy that set 2048 MB on purpose
    account.create_function(FN, memory_mb=1024)
    store = _applied_change(account)
    aws.client("lambda").update_function_configuration(FunctionName=FN, MemorySize=2048)
    # When the operator reverts the agent's changes
    code, out = _cli_revert()
    # Then the deploy's size stands (putting 1024 back would undo the deploy, not the agent), and the
    # output and the audit say why nothing was put back
    assert code == 0 and "memory left at 2048 MB" in out, out
    assert account.memory(FN) == 2048
    [revert_record] = [r for r in store.list_audit(function=FN) if r.type == "revert"]
    assert revert_record.data["ok"] and revert_record.data["memory_left"] == 2048
