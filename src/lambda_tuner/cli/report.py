"""`lambda-tuner report`: the stored recommendations, in the terminal or as one self-contained HTML page.

The HTML draws each function's cost and duration against memory from the series stored with the
recommendation — the same chart the approval page shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape
from rich.console import Console

from lambda_tuner.adapters.store import Store
from lambda_tuner.cli.demo_view import recommendations_table
from lambda_tuner.core.guardrails import CHANGING_KINDS
from lambda_tuner.core.models import Recommendation
from lambda_tuner.web.chart import render_chart


def _mb(config: Mapping[str, object]) -> int | None:
    value = config.get("memory_mb")
    return value if isinstance(value, int) else None


def newest_per_function(recs: list[Recommendation]) -> list[Recommendation]:
    """Each function's recommendation from its newest cycle, a change ahead of advice and notes: a cycle
    stores several per function (a memory proposal beside arm64 advice, say), all at the same time, and
    the one that asks for something is the one to show."""
    shown: dict[str, Recommendation] = {}
    for r in sorted(
        recs, key=lambda r: (r.function, -r.created_at.timestamp(), r.kind not in CHANGING_KINDS)
    ):
        shown.setdefault(r.function, r)
    return list(shown.values())


def show_report(
    *, html_out: Path | None, function: str | None, status: str | None, tables: tuple[str, str]
) -> int:
    """`tables`: the state and audit tables' names (only they are needed: the report only reads)."""
    if not all(tables):
        Console().print(
            "[red]name the stack's tables: --state-table and --audit-table (or LT_STATE_TABLE, "
            "LT_AUDIT_TABLE)[/red]"
        )
        return 2
    store = Store(*tables)
    latest = newest_per_function(store.list_recommendations(status=status, function=function))
    Console().print(recommendations_table([r.model_dump(mode="json") for r in latest], limit=10_000))
    if html_out is not None:
        env = Environment(
            loader=PackageLoader("lambda_tuner.web", "templates"), autoescape=select_autoescape(default=True)
        )
        charts = {r.id: render_chart(r.chart, _mb(r.current), _mb(r.proposed)) for r in latest}
        html_out.write_text(env.get_template("report.html").render(recs=latest, charts=charts))
        Console().print(f"wrote {html_out}")
    return 0
