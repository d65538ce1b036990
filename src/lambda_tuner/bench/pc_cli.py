"""`lambda-tuner bench provisioned`: the PC policies side by side on a trace day, as JSON and a table."""

from __future__ import annotations

import json
from pathlib import Path

import click

from lambda_tuner.bench.pc import POLICIES, BenchConfig, run
from lambda_tuner.bench.pc_synth import SYNTH_POLICIES, run_synthetic


def _floats(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise click.BadParameter(f"expected comma-separated numbers, got {text!r}") from None
    if not values or any(v < 0 for v in values):
        raise click.BadParameter("give at least one value, none negative")
    return values


@click.command("provisioned")
@click.option(
    "--trace",
    "trace_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder with one N_inv.csv / N_run.csv / N_mem.csv triple.",
)
@click.option(
    "--json",
    "json_out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the full results here.",
)
@click.option(
    "--train-hours", default=16, show_default=True, help="Hours to learn from; the rest are scored."
)
@click.option(
    "--lambdas",
    default="0,0.001,0.01,0.05",
    show_default=True,
    help="Dollar values of one avoided cold start to sweep.",
)
@click.option(
    "--keep-alive",
    "keep_alives",
    default="5,10,20",
    show_default=True,
    help="On-demand keep-alive minutes to sweep (10 is the default model).",
)
@click.option(
    "--synthetic-days",
    default=7,
    show_default=True,
    help="Days of SYNTHETIC diurnal traffic for the daily-schedule section (0 to skip).",
)
@click.option("--limit", type=int, default=None, help="Use only the first N functions of the trace.")
def provisioned(
    *,
    trace_dir: Path,
    json_out: Path | None,
    train_hours: int,
    lambdas: str,
    keep_alives: str,
    synthetic_days: int,
    limit: int | None,
) -> None:
    """Provisioned concurrency: none, target tracking, static, agent and hindsight oracle on a trace day."""
    sweep = tuple(int(k) for k in _floats(keep_alives))
    cfg = BenchConfig(train_hours=train_hours, lambdas=_floats(lambdas), keep_alive_sweep=sweep)
    try:
        result = run(trace_dir, cfg, limit=limit)
        if synthetic_days:
            result["synthetic_diurnal"] = run_synthetic(synthetic_days, cfg.lambdas, cfg.keep_alive_min)
    except (ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(format_table(result))
    if json_out is not None:
        json_out.write_text(json.dumps(result, indent=2) + "\n")
        click.echo(f"wrote {json_out}")


def format_table(result: dict[str, object]) -> str:
    config = result["config"]
    assert isinstance(config, dict)
    lines = [
        f"{config['functions']} functions, trained on {config['train_hours']} h, scored on "
        f"{config['evaluated_hours']} h; {config['memory_mb']} MB x86_64, "
        f"keep-alive {config['keep_alive_min']} min; objective USD (cold starts); request fees excluded",
        _header(POLICIES),
    ]
    lines += [_row(r, POLICIES) for r in _list(result["results"])]
    for block in _list(result["keep_alive_sweep"]):
        lines.append(f"keep-alive {block['keep_alive_min']} min")
        lines += [_row(r, POLICIES) for r in _list(block["results"])]
    synth = result.get("synthetic_diurnal")
    if isinstance(synth, dict):
        lines += [f"{synth['label']}: {synth['days']} days, last day scored", _header(SYNTH_POLICIES)]
        lines += [_row(r, SYNTH_POLICIES) for r in _list(synth["results"])]
    return "\n".join(lines)


def _list(value: object) -> list[dict[str, object]]:
    assert isinstance(value, list)
    return value


def _header(names: tuple[str, ...]) -> str:
    return "λ $/cold  " + "".join(f"{n:>24}" for n in names) + "   agent/oracle"


def _row(r: dict[str, object], names: tuple[str, ...]) -> str:
    pol = r["policies"]
    assert isinstance(pol, dict)
    cells = "".join(f"{pol[n]['objective_usd']:>12.2f} ({pol[n]['cold_starts']:>7})  " for n in names)
    oracle = pol["oracle"]["objective_usd"]
    ratio = pol["agent"]["objective_usd"] / oracle if oracle else 1.0
    return f"{r['lambda_usd_per_cold_start']:<10g}{cells}   {ratio:.3f}"
