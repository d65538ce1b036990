"""`lambda-tuner audit`, `audit verify` and `revert` from a terminal, against moto."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from approval_support import AUDIT, NOW, STATE, Account, make_rec, route_invokes
from click.testing import CliRunner

from lambda_tuner.adapters import aws
from lambda_tuner.adapters.applier import Applier
from lambda_tuner.adapters.apply_flow import ApplyFlow
from lambda_tuner.adapters.notifier import Notifier
from lambda_tuner.adapters.store import Store
from lambda_tuner.cli import audit as cli_audit
from lambda_tuner.cli.audit import audit, revert
from lambda_tuner.handlers import apply

ENV = {"LT_STATE_TABLE": STATE, "LT_AUDIT_TABLE": AUDIT}


@pytest.fixture
def history(account: Account) -> Store:
    store = Store(STATE, AUDIT)
    store.append_audit(
        "recommendation",
        NOW,
        function="orders-api",
        recommendation_id="rec-1",
        data={"reason": "over-provisioned"},
    )
    store.append_audit("approval", NOW + timedelta(hours=1), function="orders-api", recommendation_id="rec-1")
    store.append_audit(
        "recommendation", NOW + timedelta(hours=2), function="billing", recommendation_id="rec-2"
    )
    return store


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(audit, list(args), env=ENV)
    return result.exit_code, result.output


def test_the_audit_lists_as_a_table_with_filters(history: Store) -> None:
    code, out = _run("--function", "orders-api")
    assert code == 0 and "recommendation" in out and "approval" in out and "billing" not in out
    code, out = _run("--since", "2026-11-26T10:30:00Z")
    assert code == 0 and "billing" in out and "approval" not in out


def test_the_audit_exports_csv_and_json(history: Store) -> None:
    code, out = _run("--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and [r["type"] for r in rows] == ["recommendation", "approval", "recommendation"]
    assert rows[0]["summary"] == "reason: over-provisioned"
    code, out = _run("--format", "json")
    assert [r["seq"] for r in json.loads(out)] == [1, 2, 3]


def test_a_bad_since_is_a_clear_error(history: Store) -> None:
    code, out = _run("--since", "yesterday")
    assert code == 2 and "ISO-8601" in out


def test_verify_passes_on_an_intact_chain(history: Store) -> None:
    code, out = _run("verify")
    assert code == 0 and "intact: 3 records" in out


def test_verify_fails_on_an_edited_record(history: Store) -> None:
    ddb = aws.client("dynamodb")
    item = ddb.get_item(TableName=AUDIT, Key={"pk": {"S": "AUDIT"}, "sk": {"S": f"{2:012d}"}})["Item"]
    record = json.loads(item["record"]["S"])
    record["actor"] = "somebody-else"
    item["record"] = {"S": json.dumps(record)}
    ddb.put_item(TableName=AUDIT, Item=item)
    code, out = _run("verify")
    assert code == 1 and "seq 2" in out and "edited" in out


def test_verify_reports_a_record_edited_past_reading_as_broken_not_a_crash(history: Store) -> None:
    # Given record 2 edited so it no longer reads as an audit record (its type changed to one not known)
    ddb = aws.client("dynamodb")
    item = ddb.get_item(TableName=AUDIT, Key={"pk": {"S": "AUDIT"}, "sk": {"S": f"{2:012d}"}})["Item"]
    record = json.loads(item["record"]["S"])
    record["type"] = "nothing-happened"
    item["record"] = {"S": json.dumps(record)}
    ddb.put_item(TableName=AUDIT, Item=item)
    # When the chain is verified
    result = CliRunner().invoke(audit, ["verify"], env=ENV)
    # Then it says which record is broken and exits 1, rather than crashing on it
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
    assert "BROKEN" in result.output and "seq 2" in result.output, result.output


def test_verify_fails_when_the_newest_records_are_deleted(history: Store) -> None:
    aws.client("dynamodb").delete_item(TableName=AUDIT, Key={"pk": {"S": "AUDIT"}, "sk": {"S": f"{3:012d}"}})
    code, out = _run("verify")
    assert code == 1 and "truncated" in out


def test_verify_fails_when_a_published_head_is_missing(history: Store) -> None:
    code, out = _run("verify", "--head", "f" * 64)
    assert code == 1 and "not in the chain" in out


def _applied_change(account: Account) -> None:
    account.create_function("orders-api", memory_mb=1024)
    store = Store(STATE, AUDIT)
    store.put_recommendation(make_rec(revision_id=None, status="APPROVED"))
    ApplyFlow(store, Applier(), Notifier(account.topic_arn)).apply("rec-1", "approval", NOW)
    assert account.memory("orders-api") == 512


def test_revert_restores_directly_with_the_callers_credentials(account: Account) -> None:
    _applied_change(account)
    result = CliRunner().invoke(revert, ["--since", "2026-11-26T00:00:00Z", "--yes"], env=ENV)
    assert result.exit_code == 0 and "reverted orders-api" in result.output
    assert account.memory("orders-api") == 1024
    assert [r.type for r in Store(STATE, AUDIT).list_audit()] == ["change", "revert"]


def test_revert_goes_through_the_apply_function_when_named(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    _applied_change(account)
    for key, value in {**ENV, "LT_TOPIC_ARN": account.topic_arn}.items():
        monkeypatch.setenv(key, value)
    apply._flow.cache_clear()
    # The revert invokes on its own client (long timeout, no retries): route that one to the handler
    monkeypatch.setattr(cli_audit, "apply_function_client", lambda: aws.client("lambda"))
    with route_invokes(aws.client("lambda"), {"lt-apply": apply.handler}) as invoked:
        result = CliRunner().invoke(
            revert, ["--since", "2026-11-26T00:00:00Z", "--apply-function", "lt-apply", "--yes"], env=ENV
        )
    apply._flow.cache_clear()
    assert result.exit_code == 0, result.output
    assert invoked == ["lt-apply"] and account.memory("orders-api") == 1024
    assert Store(STATE, AUDIT).list_audit()[-1].actor == "cli"


def test_revert_with_nothing_to_do_says_so(account: Account) -> None:
    result = CliRunner().invoke(revert, ["--since", "2026-11-26T00:00:00Z"], env=ENV)
    assert result.exit_code == 0 and "nothing to revert" in result.output


def test_tables_can_be_named_on_the_group_or_the_command_and_are_required(history: Store) -> None:
    runner = CliRunner()
    on_group = runner.invoke(audit, ["--state-table", STATE, "--audit-table", AUDIT, "verify"], env={})
    on_command = runner.invoke(audit, ["verify", "--state-table", STATE, "--audit-table", AUDIT], env={})
    assert on_group.exit_code == on_command.exit_code == 0
    missing = runner.invoke(audit, ["verify"], env={"LT_STATE_TABLE": "", "LT_AUDIT_TABLE": ""})
    assert missing.exit_code == 2 and "--state-table" in missing.output


def test_a_table_that_does_not_exist_is_a_clear_error_not_a_crash(history: Store) -> None:
    for args in (["--audit-table", "lt-audti"], ["verify", "--audit-table", "lt-audti"]):
        result = CliRunner().invoke(audit, args, env=ENV)
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
        assert "ResourceNotFoundException" in result.output, result.output
    result = CliRunner().invoke(revert, ["--since", "2026-11-26", "--audit-table", "lt-audti"], env=ENV)
    assert result.exit_code == 1 and "ResourceNotFoundException" in result.output, result.exception
