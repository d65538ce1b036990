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
from lambda_tuner.cli.demo_view import recommendations_table, wide_console
from lambda_tuner.core.digest import ADVICE_KINDS, change_text, saving_text
from lambda_tuner.core.guardrails import CHANGING_KINDS
from lambda_tuner.core.models import Recommendation
from lambda_tuner.web.chart import render_chart


def _mb(config: Mapping[str, object]) -> int | None:
    value = config.get("memory_mb")
    return value if isinstance(value, int) else None


ASKING_KINDS = CHANGING_KINDS | ADVICE_KINDS


def newest_per_function(recs: list[Recommendation]) -> list[Recommendation]:
    """What each function's newest cycle asks for: its changes (memory, and PC per alias) and advice,
    changes first; a note ("keep", too little data) only when that cycle asked for nothing. A cycle
    stores several per function at the same time, and a PC plan beside a memory change is a decision
    of its own, not a detail of it. A change an earlier cycle asked for and a person has not answered yet
    comes first: later cycles do not ask for it twice, and hold the function's next change behind it."""
    newest: dict[str, list[Recommendation]] = {}
    unanswered: dict[str, list[Recommendation]] = {}
    for r in sorted(recs, key=lambda r: (r.function, -r.created_at.timestamp())):
        cycle = newest.setdefault(r.function, [r])
        if r.created_at == cycle[0].created_at:
            cycle += [] if r is cycle[0] else [r]
        elif r.status == "PENDING" and r.kind in CHANGING_KINDS:
            unanswered.setdefault(r.function, []).append(r)
    shown: list[Recommendation] = []
    for function, cycle in newest.items():
        asking = [r for r in cycle if r.kind in ASKING_KINDS]
        asking.sort(key=lambda r: (r.kind not in CHANGING_KINDS, r.kind != "memory", r.qualifier or ""))
        shown += unanswered.get(function, []) + (asking or cycle[:1])
    return shown


def report_page(recs: list[Recommendation]) -> str:
    env = Environment(
        loader=PackageLoader("lambda_tuner.web", "templates"), autoescape=select_autoescape(default=True)
    )
    charts = {r.id: render_chart(r.chart, _mb(r.current), _mb(r.proposed)) for r in recs}
    changes = {r.id: change_text(r) for r in recs}
    savings = {r.id: saving_text(r.monthly_saving_usd) for r in recs if r.monthly_saving_usd}
    return env.get_template("report.html").render(recs=recs, charts=charts, changes=changes, savings=savings)


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
    console = wide_console()
    rows = [r.model_dump(mode="json") for r in latest]
    console.print(recommendations_table(rows, limit=10_000, first_only=False, width=console.width))
    if html_out is not None:
        html_out.write_text(report_page(latest))
        console.print(f"wrote {html_out}")
    return 0
