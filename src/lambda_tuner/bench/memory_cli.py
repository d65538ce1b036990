"""The `memory` click command the lead adds to `lambda-tuner bench`; the work is in `memory.run_bench`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from lambda_tuner.bench.memory import (
    DEFAULT_CANARY_WEIGHT,
    DEFAULT_STARTS,
    STRATEGIES,
    run_bench,
    write_json,
)
from lambda_tuner.bench.memory_report import print_table
from lambda_tuner.twin.curves import INTERPOLATIONS, Interpolation

DEFAULT_TRACE = Path("../shared/data/azure-functions-2019")


def _starts(value: str) -> tuple[int, ...]:
    try:
        starts = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError as exc:
        raise click.BadParameter(f"comma-separated sizes in MB, got {value!r}") from exc
    if not starts or any(s <= 0 for s in starts):
        raise click.BadParameter("at least one positive size")
    return starts


@click.command()
@click.option(
    "--curves",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="Any file in the curve format (shared/data/lambda-curves/curves.csv is one).",
)
@click.option(
    "--starts",
    default=",".join(map(str, DEFAULT_STARTS)),
    show_default=True,
    help="Start sizes in MB, clipped to each curve's measured range.",
)
@click.option("--cycles", type=click.IntRange(1, 60), default=10, show_default=True, help="Simulated days.")
@click.option("--seed", type=int, default=7, show_default=True)
@click.option(
    "--trace",
    "trace_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Azure 2019 trace folder for daily traffic (default: ../shared/data/azure-functions-2019 "
    "when present, else a synthetic diurnal day).",
)
@click.option(
    "--no-trace", is_flag=True, help="Use the synthetic diurnal day even when the trace is present."
)
@click.option("--strategies", default=",".join(STRATEGIES), show_default=True)
@click.option(
    "--canary-weight",
    type=click.FloatRange(0.0, 0.5),
    default=DEFAULT_CANARY_WEIGHT,
    show_default=True,
    help="Functions invoked through an alias: experiments are canaries on at least this share of the "
    "traffic (more, up to half, for a function with fewer than 10,000 calls a day: a canary needs about "
    "1,000 calls), the same day as the size in force. 0: no alias, experiments take all traffic for a day.",
)
@click.option(
    "--interpolation",
    type=click.Choice(INTERPOLATIONS),
    default="power",
    show_default=True,
    help="The truth between the sizes the file measured: a power law from one to the next, or PCHIP in "
    "log-log space (the figures before 2026-11-27; it can put the cheapest size between measured ones).",
)
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), required=True)
def memory(  # noqa: PLR0917 - click passes every option as an argument
    curves: Path,
    starts: str,
    cycles: int,
    seed: int,
    trace_dir: Path | None,
    no_trace: bool,
    strategies: str,
    canary_weight: float,
    interpolation: Interpolation,
    json_out: Path,
) -> None:
    """Closed-loop regret of the memory decisions against the oracle, with peer baselines."""
    chosen = tuple(s.strip() for s in strategies.split(",") if s.strip())
    unknown = [s for s in chosen if s not in STRATEGIES]
    if unknown:
        raise click.BadParameter(f"unknown strategies {unknown}; choose from {list(STRATEGIES)}")
    if no_trace:
        trace_dir = None
    elif trace_dir is None and DEFAULT_TRACE.is_dir():
        trace_dir = DEFAULT_TRACE
    if trace_dir is not None and not any(trace_dir.glob("*_inv.csv")):
        raise click.BadParameter(
            f"{trace_dir} holds no N_inv.csv / N_run.csv / N_mem.csv triple", param_hint="--trace"
        )
    result = run_bench(
        curves,
        starts=_starts(starts),
        cycles=cycles,
        seed=seed,
        trace_dir=trace_dir,
        strategies=chosen,  # type: ignore[arg-type]
        command=" ".join(["lambda-tuner", "bench", "memory", *sys.argv[3:]]),
        canary_weight=canary_weight or None,
        interpolation=interpolation,
    )
    write_json(result, json_out)
    print_table(result)


@click.command()
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--seed", type=int, required=True, help="The generator's seed: one seed, one file.")
@click.option("--count", "n_curves", type=click.IntRange(1, 1000), default=10, show_default=True)
@click.option(
    "--samples",
    type=click.IntRange(1, 100),
    default=None,
    help="Samples per size (default: 1 or 5, drawn per curve).",
)
@click.option(
    "--centred",
    is_flag=True,
    help="Each size's samples average to the curve's law exactly: the truth is the shape, without the "
    "bumps its sampling error would add (the same samples' spread, the same file otherwise).",
)
def curves(out: Path, seed: int, n_curves: int, samples: int | None, centred: bool) -> None:
    """Write a curve file of generated shapes (cpu, multi, io, mixed, lowmem) for `bench memory`."""
    from lambda_tuner.bench.memory_curvegen import generate_curves

    generate_curves(out, n_curves=n_curves, seed=seed, samples=samples, centred=centred)
    click.echo(f"wrote {n_curves} curves to {out}")
