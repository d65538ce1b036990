"""`lambda-tuner bench cycle`: the whole agent cycle on the twin; the work is in `cycle.run_cycle_bench`."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("cycle")
@click.option(
    "--functions",
    "n",
    type=click.IntRange(1, 100_000),
    default=1000,
    show_default=True,
    help="Fleet size (scaled_fleet(n) on the twin).",
)
@click.option(
    "--days",
    type=click.IntRange(1, 14),
    default=2,
    show_default=True,
    help="Agent cycles, one a simulated day: the first is cold, the others warm.",
)
@click.option("--seed", default=1, show_default=True)
@click.option(
    "--json",
    "json_out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the results to this JSON file.",
)
def cycle(n: int, days: int, seed: int, json_out: Path | None) -> None:
    """Whole agent cycles (collect, decide, record, notify) with their time and AWS calls per service."""
    from lambda_tuner.bench.cycle import run_cycle_bench

    result = run_cycle_bench(n, days=days, seed=seed)
    for row in result["days"]:
        click.echo(
            f"day {row['day']}: cycle {row['cycle_s']} s (collection {row['collect_s']} s, the rest "
            f"{row['rest_s']} s), {sum(row['dynamodb_calls'].values())} DynamoDB calls, "
            f"{row['recommendations_recorded']} recommendations recorded, {row['repeated_notes']} repeated "
            f"notes; projected {row['projected_cycle_s']} s at "
            f"{result['dynamodb_call_s_assumed'] * 1000:g} ms "
            "per DynamoDB call"
        )
    if json_out is not None:
        json_out.write_text(json.dumps(result, indent=2))
        click.echo(f"wrote {json_out}")
