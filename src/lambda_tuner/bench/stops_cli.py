"""`lambda-tuner bench stops`: P(stop) of a canary's ratio stop under the bench's and the product's rules."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("stops")
@click.option("--calls", default="2000,20000,200000", show_default=True, help="Calls a day, comma-separated.")
@click.option(
    "--truths",
    default="1.0,1.05,1.1,1.12,1.2",
    show_default=True,
    help="True p99 ratios of the canary to the live version, comma-separated.",
)
@click.option("--days", default=200, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--seed", default=1, show_default=True)
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), default=None)
def stops(calls: str, truths: str, days: int, seed: int, json_out: Path | None) -> None:
    """Simulate canary days and report how often each stop rule fires."""
    from lambda_tuner.bench.stops import run

    try:
        parsed_calls = [int(c) for c in calls.split(",") if c.strip()]
        parsed_truths = [float(t) for t in truths.split(",") if t.strip()]
    except ValueError:
        raise click.BadParameter("expected comma-separated numbers") from None
    result = run(parsed_calls, parsed_truths, days=days, seed=seed)
    for row in result["rows"]:
        shares = ", ".join(f"{name} {p:.2f}" for name, p in row["p_stop"].items())
        click.echo(
            f"{row['calls_per_day']:>7} calls/day, canary {row['weight']:.0%}, stop {row['stop']:.4f}, "
            f"truth {row['truth']:.2f}: P(stop) {shares}"
        )
    if json_out is not None:
        json_out.write_text(json.dumps(result, indent=2))
        click.echo(f"wrote {json_out}")
