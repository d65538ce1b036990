"""`lambda-tuner run` without --apply decides and reports, and writes nothing anywhere in the account."""

from __future__ import annotations

import json
from pathlib import Path

from e2e_support import T0, Account

from lambda_tuner.cli.run import run_once

WRITES = ("Put", "Update", "Delete", "Publish", "Create", "Tag", "Register", "Invoke", "Send", "Start")


def test_a_read_only_run_reports_recommendations_and_writes_nothing(account: Account, tmp_path: Path):
    # Given an account with lambda-tuner's stack, and the twin counting every operation it serves
    account.twin.calls.clear()
    out = tmp_path / "run.json"

    # When a person runs one cycle without --apply
    code = run_once(apply_changes=False, mode=None, lookback_days=None, json_out=out, now=T0)

    # Then it reports what it would do ...
    assert code == 0
    summary = json.loads(out.read_text())
    assert {r["recommendation"]["function"] for r in summary["recommendations"]} >= {
        "orders-api",
        "thumbnailer",
    }
    # ... having only read: no writes to Lambda, DynamoDB, SNS or anything else (Logs Insights queries
    # are reads, though their API verb is StartQuery)
    written = {
        op for op in account.twin.calls if op.split(".")[1].startswith(WRITES) and op != "logs.StartQuery"
    }
    assert (
        account.twin.calls["lambda.ListFunctions"] >= 1
        and account.twin.calls["cloudwatch.GetMetricData"] >= 1
    )
    assert written == set()
    assert account.stack.inbox() == []
