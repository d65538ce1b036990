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
from lambda_tuner.settings import ApplySettings
from lambda_tuner.web.chart import render_chart


def _mb(config: Mapping[str, object]) -> int | None:
    value = config.get("memory_mb")
    return value if isinstance(value, int) else None


def show_report(*, html_out: Path | None, function: str | None, status: str | None) -> int:
    try:
        settings = ApplySettings()
    except ValueError:
        Console().print("[red]LT_STATE_TABLE and LT_AUDIT_TABLE must name the stack's tables[/red]")
        return 2
    store = Store(settings.state_table, settings.audit_table)
    recs = sorted(
        store.list_recommendations(status=status, function=function), key=lambda r: (r.function, r.created_at)
    )
    latest = {r.function: r for r in recs}  # the newest recommendation per function
    Console().print(recommendations_table([r.model_dump(mode="json") for r in latest.values()], limit=10_000))
    if html_out is not None:
        env = Environment(
            loader=PackageLoader("lambda_tuner.web", "templates"), autoescape=select_autoescape(default=True)
        )
        charts = {r.id: render_chart(r.chart, _mb(r.current), _mb(r.proposed)) for r in latest.values()}
        html_out.write_text(env.get_template("report.html").render(recs=list(latest.values()), charts=charts))
        Console().print(f"wrote {html_out}")
    return 0
