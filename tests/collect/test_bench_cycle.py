"""`lambda-tuner bench cycle` runs the deployed agent handler over a twin fleet and reports each day."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from lambda_tuner.bench.cycle import run_cycle_bench
from lambda_tuner.cli.main import main


def test_whole_cycles_report_time_calls_and_fewer_records_once_notes_repeat(tmp_path: Path) -> None:
    # Given a small fleet run for three simulated days
    result = run_cycle_bench(30, days=3)
    days = result["days"]
    assert [d["day"] for d in days] == [1, 2, 3] and all(d["ok"] for d in days)
    for d in days:
        # Then each day's cycle contains its collection, and deciding and recording went to DynamoDB
        assert 0 < d["collect_s"] <= d["cycle_s"]
        assert d["calls_by_service"]["dynamodb"] == sum(d["dynamodb_calls"].values()) > 0
        assert d["calls_by_service"]["lambda"] > 0 and "cloudwatch" in d["calls_by_service"]
        assert d["projected_cycle_s"] > d["cycle_s"]
        # measured in the agent's own interpreter, as in Lambda
        assert d["agent_cpu_s"] > 0 and d["peak_rss_mb"] > 50
    # And the first day records every function's recommendation; later days skip the repeated notes
    assert days[0]["repeated_notes"] == 0 and days[0]["recommendations_recorded"] >= 30
    assert days[2]["repeated_notes"] > 0
    assert days[2]["recommendations_recorded"] < days[0]["recommendations_recorded"]
    assert sum(days[2]["dynamodb_calls"].values()) < sum(days[0]["dynamodb_calls"].values())


def test_the_command_prints_a_line_a_day_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "cycle.json"
    result = CliRunner().invoke(
        main, ["bench", "cycle", "--functions", "10", "--days", "1", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "day 1: cycle" in result.output and "DynamoDB calls" in result.output
    assert json.loads(out.read_text())["functions"] == 10
