"""`lambda-tuner`: run a cycle, run the demo on the twin, read reports and the audit, run benchmarks.

Commands import what they need when they run, so `lambda-tuner --help` stays instant.
"""

from __future__ import annotations

import importlib
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click


@click.group()
@click.version_option(package_name="lambda-tuner")
def main() -> None:
    """Continuous memory and provisioned-concurrency tuning for AWS Lambda."""


@main.command()
@click.option(
    "--apply",
    "apply_changes",
    is_flag=True,
    help="Store, notify and apply within guardrails (needs the deployed stack's LT_* settings).",
)
@click.option(
    "--mode",
    type=click.Choice(["off", "recommend", "approve", "auto"]),
    default=None,
    help="Override the account mode for this run.",
)
@click.option("--lookback-days", type=int, default=None)
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), default=None)
def run(apply_changes: bool, mode: str | None, lookback_days: int | None, json_out: Path | None) -> None:
    """Run one cycle against the account the AWS credential chain points at (read-only by default)."""
    from lambda_tuner.cli.run import run_once

    code = run_once(
        apply_changes=apply_changes,
        mode=mode,
        lookback_days=lookback_days,
        json_out=json_out,
        now=datetime.now(UTC),
    )
    sys.exit(code)


@main.command()
@click.option("--cycles", type=int, default=4, show_default=True, help="Simulated days to run.")
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option(
    "--curves",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Curve file for part of the fleet (default: ../shared/data/lambda-curves/curves.csv if present).",
)
@click.option("--quiet", is_flag=True, help="Only the summary.")
def demo(cycles: int, seed: int, json_out: Path | None, curves: Path | None, quiet: bool) -> None:
    """Run the agent for several simulated days on the embedded twin (no AWS account needed)."""
    from lambda_tuner.cli.demo import run_demo

    sys.exit(run_demo(cycles=cycles, seed=seed, json_out=json_out, curves=curves, quiet=quiet))


@main.command()
@click.option("--html", "html_out", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--function", "function", default=None)
@click.option("--status", default=None, help="Only recommendations in this status.")
@click.option("--state-table", envvar="LT_STATE_TABLE", help="State table (LT_STATE_TABLE).")
@click.option("--audit-table", envvar="LT_AUDIT_TABLE", help="Audit table (LT_AUDIT_TABLE).")
def report(
    html_out: Path | None,
    function: str | None,
    status: str | None,
    state_table: str | None,
    audit_table: str | None,
) -> None:
    """Show stored recommendations with their cost/duration-vs-memory model (terminal or HTML)."""
    from lambda_tuner.cli.report import show_report

    tables = (state_table or "", audit_table or "")
    sys.exit(show_report(html_out=html_out, function=function, status=status, tables=tables))


@main.group()
def bench() -> None:
    """Benchmarks: collection cost, whole cycles, memory regret (and curve files), provisioned concurrency."""


_LAZY = {
    main: {"audit": "lambda_tuner.cli.audit:audit", "revert": "lambda_tuner.cli.audit:revert"},
    bench: {
        "memory": "lambda_tuner.bench.memory_cli:memory",
        "curves": "lambda_tuner.bench.memory_cli:curves",
        "provisioned": "lambda_tuner.bench.pc_cli:provisioned",
        "collect": "lambda_tuner.bench.collect_cli:collect",
        "cycle": "lambda_tuner.bench.cycle_cli:cycle",
        "stops": "lambda_tuner.bench.stops_cli:stops",
    },
}


class _Lazy(click.Command):
    """Stands in for a command whose module is imported only when the command runs (or shows its help)."""

    def __init__(self, name: str, target: str) -> None:
        super().__init__(name, help=f"(see `lambda-tuner ... {name} --help`)")
        self.target = target

    def real(self) -> click.Command:
        module, attr = self.target.split(":")
        command = getattr(importlib.import_module(module), attr)
        assert isinstance(command, click.Command)
        return command

    def main(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover - click calls invoke via the group
        return self.real().main(*args, **kwargs)

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        return self.real().make_context(info_name, args, parent=parent, **extra)

    def get_short_help_str(self, limit: int = 45) -> str:
        return self.real().get_short_help_str(limit)


for _group, _commands in _LAZY.items():
    for _name, _target in _commands.items():
        _group.add_command(_Lazy(_name, _target), _name)


if __name__ == "__main__":
    main()
