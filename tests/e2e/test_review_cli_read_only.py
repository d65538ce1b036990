"""`lambda-tuner run | report | audit` against an account with lambda-tuner's stack and a day of its
history: each reads, none writes, whatever the mode asked for; `report` needs only the tables' names."""

from __future__ import annotations

import json
import re
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner
from e2e_support import T0, Account

from lambda_tuner.adapters.store import Store
from lambda_tuner.cli.main import main
from lambda_tuner.cli.run import run_once
from lambda_tuner.core.guardrails import CHANGING_KINDS

# Operations that change something in an account, by their verb (Logs Insights' StartQuery reads).
WRITES = (
    "Put",
    "Update",
    "Delete",
    "Publish",
    "Create",
    "Tag",
    "Untag",
    "Register",
    "Deregister",
    "Invoke",
    "Send",
    "Start",
    "Stop",
    "Transact",
    "BatchWrite",
    "Set",
    "Add",
    "Remove",
)


@pytest.fixture(scope="module")
def history(account: Account) -> Account:
    """The account after one scheduled cycle in approve mode: stored proposals, audit records, a digest."""
    assert account.run_agent(T0)["ok"] is True
    assert account.stack.inbox()  # the digest went out: there is something for the CLI to read
    return account


def _writes(account: Account) -> set[str]:
    return {
        op
        for op, n in account.twin.calls.items()
        if n and op.split(".")[1].startswith(WRITES) and op != "logs.StartQuery"
    }


def _invoke(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(main, args, catch_exceptions=False, env={"COLUMNS": "250"})
    return result.exit_code, result.output


def test_report_reads_the_stored_recommendations_and_writes_nothing(history: Account, tmp_path: Path) -> None:
    # Given the cycle's stored proposals: several per function (a proposal beside arm64 advice)
    stored = Store(history.stack.settings["LT_STATE_TABLE"], history.stack.settings["LT_AUDIT_TABLE"])
    proposals = {r.function: r for r in stored.list_recommendations() if r.kind in CHANGING_KINDS}
    assert len(proposals) >= 2
    history.twin.calls.clear()
    # When a person asks for the report
    page = tmp_path / "report.html"
    code, out = _invoke(["report", "--html", str(page)])
    # Then each function's proposal is what it shows, with its chart, whatever else the cycle stored ...
    assert code == 0, out
    html = page.read_text()
    for function, rec in proposals.items():
        section = html.split(f"<h2>{function}")[1].split("</section>")[0]
        assert f"<strong>{rec.kind}</strong>" in section and "<svg" in section, function
        assert re.search(rf"{function}\s+{rec.kind}", out), out
    # ... and it only read
    assert history.twin.calls["dynamodb.Scan"] >= 1
    assert _writes(history) == set()


def test_report_needs_only_the_tables_not_the_apply_functions_topic(
    history: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a person who names the two tables, as the error message and `lambda-tuner audit` ask
    monkeypatch.delenv("LT_TOPIC_ARN")
    # When they ask for the report, Then they get it
    code, out = _invoke(["report"])
    assert code == 0, out
    assert "orders-api" in out


def test_the_audit_list_and_its_verification_write_nothing(history: Account) -> None:
    history.twin.calls.clear()
    code, out = _invoke(["audit", "--format", "json"])
    assert code == 0, out
    records = json.loads(out)
    assert {r["type"] for r in records} >= {"recommendation"}
    code, out = _invoke(["audit", "verify"])
    assert code == 0 and out.startswith("intact:"), out
    assert history.twin.calls["dynamodb.Query"] >= 2
    assert _writes(history) == set()


@pytest.mark.parametrize("mode", ["auto", "approve"])
def test_a_run_without_apply_writes_nothing_even_in_a_mode_that_would_act(
    history: Account, tmp_path: Path, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without the stack's tables named, the run decides afresh: the cycle's asks, still waiting for a
    # person in the tables, would otherwise be shown as waiting (the next test), not asked again
    monkeypatch.delenv("LT_STATE_TABLE")
    history.twin.calls.clear()
    inbox_before = history.stack.inbox()
    out_file = tmp_path / "run.json"
    # `lambda-tuner run --mode <mode> --json <file>`, at the simulated day (the command takes the wall clock)
    code = run_once(apply_changes=False, mode=mode, lookback_days=None, json_out=out_file, now=T0)
    assert code == 0
    summary = json.loads(out_file.read_text())
    routes = {r["route"] for r in summary["recommendations"]}
    assert routes & {"apply", "approve"}, routes  # it would have acted: the routes say so
    assert summary["applied_requests"] == [] and summary["notified"] is False
    assert history.twin.calls["lambda.ListFunctions"] >= 1
    assert _writes(history) == set()
    assert inbox_before == [] and history.stack.inbox() == []


def test_a_read_only_run_reads_what_the_stack_remembers_and_does_not_ask_again(
    history: Account, tmp_path: Path
) -> None:
    # Given the scheduled cycle's asks, waiting for a person in the stack's tables (named in the environment)
    stored = Store(history.stack.settings["LT_STATE_TABLE"], history.stack.settings["LT_AUDIT_TABLE"])
    waiting = {r.function: r for r in stored.list_recommendations(status="PENDING")}
    assert waiting, "the scheduled cycle asked for nothing"
    history.twin.calls.clear()
    out_file = tmp_path / "run.json"
    # When a person runs `lambda-tuner run --json <file>` at the same time
    assert run_once(apply_changes=False, mode=None, lookback_days=None, json_out=out_file, now=T0) == 0
    # Then it shows what a scheduled run would do: nothing asked for twice; each waiting change a note
    # that says so, on its function (a run that remembered nothing asked for them all again)
    summary = json.loads(out_file.read_text())
    routed = [(r["recommendation"], r["route"]) for r in summary["recommendations"]]
    asked_again = [(rec["function"], rec["kind"]) for rec, route in routed if route == "approve"]
    assert not any(function in waiting for function, _ in asked_again), asked_again
    for function, ask in waiting.items():
        notes = [rec["reason"]["summary"] for rec, _ in routed if rec["function"] == function]
        said = f"asked for on {ask.created_at:%Y-%m-%d}, waiting for a person's answer"
        assert any(said in note for note in notes), (function, notes)
    # ... having read the tables, and written nothing
    assert history.twin.calls["dynamodb.Query"] >= 1
    assert _writes(history) == set()


def test_a_read_only_run_whose_tables_cannot_be_read_says_so_and_decides_without_them(
    history: Account, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the environment naming a state table the run cannot read (here: one that does not exist)
    monkeypatch.setenv("LT_STATE_TABLE", "lambda-tuner-state-elsewhere")
    out_file = tmp_path / "run.json"
    # When a person runs `lambda-tuner run`
    assert run_once(apply_changes=False, mode=None, lookback_days=None, json_out=out_file, now=T0) == 0
    # Then it says what it could not read, and shows the decisions it makes without it
    out = capsys.readouterr().out
    assert "decided without what the stack remembers" in out and "lambda-tuner-state-elsewhere" in out, out
    routes = {r["route"] for r in json.loads(out_file.read_text())["recommendations"]}
    assert "approve" in routes, routes


@pytest.mark.parametrize("named", ["LT_STATE_TABLE", "LT_AUDIT_TABLE"])
def test_a_read_only_run_with_one_of_the_two_tables_named_says_it_read_neither(
    history: Account, named: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an environment that names one of the stack's tables and not the other
    other = ({"LT_STATE_TABLE", "LT_AUDIT_TABLE"} - {named}).pop()
    monkeypatch.delenv(other)
    history.twin.calls.clear()
    # When a person runs `lambda-tuner run`, expecting it to decide as the scheduled run would
    assert run_once(apply_changes=False, mode=None, lookback_days=None, json_out=None, now=T0) == 0
    # Then it read neither table, and says so, naming the one missing: a silent preview would show the
    # changes already waiting for a person as new asks, and the person could not tell why
    out = capsys.readouterr().out
    assert "decided without what the stack remembers" in out and other in out, out
    assert not [op for op, n in history.twin.calls.items() if n and op.startswith("dynamodb.")]


def test_a_read_only_run_shows_the_routes_the_kill_switch_leaves(history: Account, tmp_path: Path) -> None:
    # A read-only run used to show `auto`'s routes with the switch pulled: changes a scheduled run would
    # never make. It reads the switch (a read) and shows what a run would do now.
    ssm = boto3.client("ssm")
    name = history.stack.settings["LT_KILL_SWITCH_PARAMETER"]
    out_file = tmp_path / "run.json"
    ssm.put_parameter(Name=name, Value="stop", Type="String", Overwrite=True)
    try:
        history.twin.calls.clear()
        assert run_once(apply_changes=False, mode="auto", lookback_days=None, json_out=out_file, now=T0) == 0
        summary = json.loads(out_file.read_text())
        assert summary["kill_switch"] is True
        routes = {r["route"] for r in summary["recommendations"]}
        assert routes and not routes & {"apply", "approve"}, routes
        assert history.twin.calls["ssm.GetParameter"] >= 1 and _writes(history) == set()
    finally:
        ssm.put_parameter(Name=name, Value="run", Type="String", Overwrite=True)


@pytest.mark.parametrize("days", [0, 64])
def test_a_look_back_out_of_range_is_refused_not_replaced(
    history: Account, days: int, capsys: pytest.CaptureFixture[str]
) -> None:
    # `--lookback-days 0` used to be taken for "not given" and the cycle ran over 14 days
    history.twin.calls.clear()
    code = run_once(apply_changes=False, mode=None, lookback_days=days, json_out=None, now=T0)
    assert code == 2
    out = capsys.readouterr().out
    assert "LT_LOOKBACK_DAYS" in out and "--apply" not in out  # a read-only run needs no stack settings
    assert sum(history.twin.calls.values()) == 0
