"""`lambda-tuner bench stops`: the product's canary stop rule fires like the memory bench's day rule."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from lambda_tuner.bench.stops import run
from lambda_tuner.cli.main import main


def test_the_products_rule_stops_canaries_past_the_allowance_as_the_day_rule_does_and_hours_do_not():
    # Given a function with 20,000 calls a day and a 10 % canary 12 % slower than the live version
    result = run([20_000], [1.0, 1.12], days=60, seed=3)
    equal, slow = (row["p_stop"] for row in result["rows"])
    # Then the day rule and the product's six-hour windows stop it almost always; half a day's hourly
    # ratios, whose thin p99s read low, let a clear share through
    assert slow["day"] >= 0.95 and slow["6h, 2 of 4"] >= 0.9
    assert slow["1h, 12 of 24"] <= slow["6h, 2 of 4"] - 0.1
    # And when the canary is as fast as the live version, the product's rule rarely stops it
    assert equal["6h, 2 of 4"] <= 0.15


def test_the_command_prints_each_scenario_and_writes_json(tmp_path: Path):
    out = tmp_path / "stops.json"
    got = CliRunner().invoke(
        main, ["bench", "stops", "--calls", "5000", "--truths", "1.3", "--days", "10", "--json", str(out)]
    )
    assert got.exit_code == 0, got.output
    assert "5000 calls/day, canary 20%" in got.output and "truth 1.30" in got.output
    [row] = json.loads(out.read_text())["rows"]
    assert row["p_stop"] == {"day": 1.0, "6h, 2 of 4": 1.0, "1h, 12 of 24": 1.0}
