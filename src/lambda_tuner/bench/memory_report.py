"""The terminal table of a memory benchmark result (rich)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def _pct(value: object) -> str:
    return f"{value:.1%}" if isinstance(value, float) else "—"


def print_table(result: dict[str, Any], console: Console | None = None) -> None:
    out = console or Console(width=110)  # wide enough for every column when piped to a file
    table = Table(title=f"Memory regret — {result['config']['file']} ({result['config']['cycles']} cycles)")
    columns = ("policy", "median", "p90", "max", "explore", "guard", "calib. (n)", "width", "overspend $")
    for column in columns:
        table.add_column(column, justify="left" if column == "policy" else "right", no_wrap=True)
    for name, row in result["summary"].items():
        is_strategy = "calibration_n" in row
        table.add_row(
            name,
            _pct(row["regret_median"]),
            _pct(row["regret_p90"]),
            _pct(row["regret_max"]),
            str(row["exploration_steps_max"]) if is_strategy else "",
            str(row.get("guard_violations", "")),
            f"{_pct(row['calibration'])} ({row['calibration_n']})" if is_strategy else "",
            _pct(row["interval_width_median"]) if is_strategy else "",
            f"{row['exploration_overspend_usd']:.4f}"
            if is_strategy
            else (f"tuning {row['tuning_cost_usd']:.4f}" if "tuning_cost_usd" in row else ""),
        )
    out.print(table)
    out.print(
        "Baselines show the cost strategy's regret (bound_allowance_*: default's); every strategy is under "
        "summary.<name>.by_strategy. bound_* rows read the truth: the regret the data alone leaves."
    )
