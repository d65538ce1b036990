"""`lambda-tuner bench collect`: API calls, time, memory and cost of full collection cycles on the twin."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("collect")
@click.option("--functions", "sizes", default="1000,10000", show_default=True,
              help="Comma-separated fleet sizes (scaled_fleet(n) on the twin).")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the results to this JSON file.")
@click.option("--seed", default=1, show_default=True)
@click.option("--lookback-days", default=14, show_default=True, type=click.IntRange(1, 63))
def collect(sizes: str, json_out: Path | None, seed: int, lookback_days: int) -> None:
    """Run one cold and one warm collection cycle per fleet size and compare calls with the lower bound."""
    from lambda_tuner.bench.collect import run  # noqa: PLC0415 - keeps `lambda-tuner --help` fast

    try:
        parsed = [int(s) for s in sizes.split(",") if s.strip()]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {sizes!r}") from None
    if not parsed or any(n < 1 for n in parsed):
        raise click.BadParameter("fleet sizes must be positive integers")
    results = run(parsed, seed=seed, lookback_days=lookback_days)
    for r in results["runs"]:
        click.echo(
            f"{r['functions']:>6} functions: {r['api_calls_total']} calls "
            f"(lower bound {r['lower_bound_total']}, x{r['ratio_to_lower_bound']}), "
            f"{r['cycle_s_with_pacing']} s with pacing, "
            f"{r['peak_rss_mb']} MB peak RSS, ${r['agent_cost_usd_per_month']}/month ({results['schedule']})"
        )
    if json_out is not None:
        json_out.write_text(json.dumps(results, indent=2, default=str))
        click.echo(f"wrote {json_out}")
