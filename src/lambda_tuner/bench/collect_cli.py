"""`lambda-tuner bench collect`: API calls, time, memory and cost of full collection cycles on the twin."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import cast

import click


@click.command("collect")
@click.option("--functions", "sizes", default="1000,10000", show_default=True,
              help="Comma-separated fleet sizes (scaled_fleet(n) on the twin).")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the results to this JSON file.")
@click.option("--seed", default=1, show_default=True)
@click.option("--lookback-days", default=14, show_default=True, type=click.IntRange(1, 63))
@click.option("--savings-hook", default="lambda_tuner.bench.savings:found", show_default=True,
              metavar="MODULE:FUNCTION|none",
              help="A function(CollectResult) -> monthly USD savings the decision core finds ('none': null).")
def collect(
    sizes: str, json_out: Path | None, seed: int, lookback_days: int, savings_hook: str | None
) -> None:
    """Run one cold and one warm collection cycle per fleet size and compare calls with the lower bound."""
    from lambda_tuner.bench.collect import run

    try:
        parsed = [int(s) for s in sizes.split(",") if s.strip()]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {sizes!r}") from None
    if not parsed or any(n < 1 for n in parsed):
        raise click.BadParameter("fleet sizes must be positive integers")
    results = run(parsed, seed=seed, lookback_days=lookback_days, savings=_hook(savings_hook))
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


def _hook(spec: str | None) -> Callable[..., float] | None:
    if spec is None or spec.lower() == "none":
        return None
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise click.BadParameter(f"expected MODULE:FUNCTION, got {spec!r}")
    hook = getattr(importlib.import_module(module_name), attr, None)
    if not callable(hook):
        raise click.BadParameter(f"{spec} is not a function")
    return cast("Callable[..., float]", hook)
