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
@click.option("--versions-per-function", default=0, show_default=True, type=click.IntRange(0, 1000),
              help="Published versions of every function (a version-heavy account); 0: as the aliases need.")
@click.option("--version-pages-share", default=None, type=click.FloatRange(min=0.0), metavar="SHARE",
              help="Override the collector's VERSION_PAGES_SHARE in the bench's collector only (e.g. 1000: "
                   "never switch to the $LATEST-only listing). Default: the collector's own.")
def collect(
    sizes: str, json_out: Path | None, seed: int, lookback_days: int, savings_hook: str | None,
    *, versions_per_function: int, version_pages_share: float | None,
) -> None:
    """Run one cold and one warm collection cycle per fleet size and compare calls with the lower bound."""
    from lambda_tuner.bench.collect import run

    try:
        parsed = [int(s) for s in sizes.split(",") if s.strip()]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {sizes!r}") from None
    if not parsed or any(n < 1 for n in parsed):
        raise click.BadParameter("fleet sizes must be positive integers")
    results = run(parsed, seed=seed, lookback_days=lookback_days, savings=_hook(savings_hook),
                  versions_per_function=versions_per_function, version_pages_share=version_pages_share)
    for r in results["runs"]:
        click.echo(
            f"{r['functions']:>6} functions: {r['api_calls_total']} calls "
            f"(lower bound {r['lower_bound_total']}, x{r['ratio_to_lower_bound']}), "
            f"{r['cycle_s_with_pacing']} s with pacing, "
            f"{r['peak_rss_mb']} MB peak RSS, ${r['agent_cost_usd_per_month']}/month ({results['schedule']})"
        )
        if versions_per_function or version_pages_share is not None:
            for label, c in (("cold", r["first_cycle"]), ("warm", r)):
                click.echo(
                    f"        {label}: listing {c['listing']['mode']}, {c['listing']['pages']} pages "
                    f"({c['listing']['all_versions']} FunctionVersion=ALL); details read {c['refreshed']}, "
                    f"deferred {c['deferred']}; {c['wall_s']} s"
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
