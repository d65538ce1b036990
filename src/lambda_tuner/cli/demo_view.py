"""What the demo shows a person: recommendations, the email, approvals, changes, their effect, the audit."""

from __future__ import annotations

import os
from typing import Any

from rich import box
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from lambda_tuner.core.digest import money, one_line, why_text


def _money(value: float | None) -> str:
    return "—" if value is None else money(value)  # the sign before the dollar sign: -$1.62


def _interval(iv: dict[str, float] | None) -> str:
    if not iv:
        return "—"
    return f"{_money(iv['expected'])} [{_money(iv['low'])}, {_money(iv['high'])}]"


WHY_CHARS = 100
KIND_WORDS = {"provisioned_concurrency": "PC", "insufficient_data": "little data"}
SAVING_CHARS = 22  # "-$1.62 [-$3.51, $0.16]"; larger ones wrap
LATENCY_CHARS = 24
COST_COLUMNS = 180  # narrower, the cost before and after is left out of the table (the saving stays)


def wide_console() -> Console:
    """Piped to a file or a CI log, rich would cut every table to 80 columns; a terminal's width or
    COLUMNS still rule where there is one."""
    console = Console()
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = 160
    return console


def _target(rec: dict[str, Any]) -> str:
    return str(rec["function"]) + (f":{rec['qualifier']}" if rec.get("qualifier") else "")


def _first_key(rec: dict[str, Any]) -> tuple[str, str]:
    """What a "first decision" is per: a function's memory, and each of its aliases' PC apart."""
    pc = rec["kind"] == "provisioned_concurrency"
    return rec["function"], (f"pc:{rec.get('qualifier')}" if pc else "memory")


def _change(rec: dict[str, Any]) -> str:
    current, proposed = rec["current"], rec["proposed"]
    if "memory_mb" in proposed:
        now_mb, new_mb = current.get("memory_mb"), proposed["memory_mb"]
        return f"{now_mb} → {new_mb} MB" if new_mb != now_mb else f"{now_mb} MB"
    if "pc_schedule" in proposed:
        return "PC schedule off" if proposed["pc_schedule"] == "[]" else "PC schedule"
    if "pc" in proposed:
        return f"PC {current.get('pc')} → {proposed['pc']}"
    return "—" if current.get("memory_mb") is None else f"{current['memory_mb']} MB"


def recommendations_table(
    recs: list[dict[str, Any]], limit: int = 40, *, first_only: bool = True, width: int | None = None
) -> Table:
    """One line per recommendation: the change, its cost, saving and latency, and what decided it. With
    `first_only` (the demo, over several cycles), only each function's first memory decision and each
    alias's first PC decision. The "why" wraps (cut at WHY_CHARS), and so do the figures' columns. On a
    console narrower than COST_COLUMNS (`width`: a piped run's 160, say) the monthly cost before and after
    is left out (it is in the email, on the approval page and in the JSON): a ninth column left the
    reason a word a line there. The whole text is in those too."""
    rows: list[list[str]] = []
    seen: set[tuple[str, str]] = set()
    for rec in recs:
        if first_only and _first_key(rec) in seen:
            continue
        seen.add(_first_key(rec))
        before, after = rec.get("before") or {}, rec.get("after") or {}
        cost_now = (before.get("monthly_cost_usd") or {}).get("expected")
        cost_after = (after.get("monthly_cost_usd") or {}).get("expected")
        reason = rec["reason"]
        rows.append(
            [
                _target(rec),
                KIND_WORDS.get(rec["kind"], rec["kind"].replace("_", " ")),
                _change(rec),
                "—" if cost_now is None else f"{_money(cost_now)} → {_money(cost_after)}",
                _interval(rec.get("monthly_saving_usd")),
                (rec.get("latency_effect") or "").removeprefix("p99 "),
                rec.get("confidence", ""),
                rec.get("route", ""),
                one_line(why_text(rec["kind"], reason["summary"], reason.get("decided_by", "")), WHY_CHARS),
            ]
        )
        if len(rows) >= limit:
            break
    title = "Recommendations" + (" (the first decision of each function and alias)" if first_only else "")
    table = Table(title=title, box=box.SIMPLE_HEAD)
    table.add_column("function", no_wrap=True, min_width=max([len(r[0]) for r in rows] + [8]))
    table.add_column("kind", no_wrap=True)
    table.add_column("change", no_wrap=True)
    costs = width is None or width >= COST_COLUMNS
    if costs:
        table.add_column("cost/month")
    # the money and latency texts wrap at their spaces, and a long latency text (arm64 advice's range)
    # is kept narrow, rather than take the reason's room or push the table past the terminal's edge
    table.add_column("saving/month [90 %]", max_width=SAVING_CHARS)
    table.add_column("p99", max_width=LATENCY_CHARS)
    table.add_column("conf.", no_wrap=True)
    routed = any(r[7] for r in rows)  # `report` shows stored recommendations, which carry no route
    if routed:
        table.add_column("route", no_wrap=True)
    table.add_column("why", overflow="fold")
    for row in rows:
        table.add_row(*(cell for i, cell in enumerate(row) if (costs or i != 3) and (routed or i != 7)))
    return table


def applied_table(out: dict[str, Any]) -> Table:
    table = Table(title="Applied changes (read back from the account after the run)")
    for col in ("function", "before MB", "after MB", "in account now", "audit id", "measured effect"):
        table.add_column(col)
    effects = {v["recommendation_id"]: v["data"] for v in out["verifications"]}
    rolled_back = {a.get("recommendation_id") for a in out["audit"] if a["type"] == "rollback"}
    for change in out["applied"]:
        effect = effects.get(change["recommendation_id"])
        measured = "awaiting data"
        weight = change["after"].get("canary_weight")
        after_mb = f"{change['after']['memory_mb']}" + (f" ({weight:.0%} canary)" if weight else "")
        if weight:  # a canary's verification is its conclusion: the routing removed after its day
            measured = str(effect.get("detail", "concluded")) if effect else "canary running"
            if change["recommendation_id"] in rolled_back:
                measured = "stopped by its p99 guard → routing removed"
        elif effect:
            realised = effect.get("realised", {})
            measured = (
                f"{realised.get('duration_ms', 0):.0f} ms avg, "
                f"{'within' if effect.get('within_interval') else 'outside'} projected interval"
            )
        if change["recommendation_id"] == (out.get("regression") or {}).get("recommendation_id"):
            measured = "regressed on purpose → rolled back"
        table.add_row(
            change["function"],
            str(change["before"]["memory_mb"]),
            after_mb,
            str(change["memory_mb_in_account_now"]),
            change["audit_id"],
            measured,
        )
    return table


def audit_table(audit: list[dict[str, Any]], limit: int = 30) -> Table:
    table = Table(title=f"Audit trail (last {min(limit, len(audit))} of {len(audit)} records, hash-chained)")
    for col in ("seq", "type", "function", "actor", "caused by", "hash"):
        table.add_column(col)
    for rec in audit[-limit:]:
        table.add_row(
            str(rec["seq"]),
            rec["type"],
            rec.get("function") or "",
            rec.get("actor") or "",
            rec.get("caused_by") or "",
            rec["hash"][:16],
        )
    return table


def show(console: Console, out: dict[str, Any], record: Any, *, quiet: bool) -> None:
    if not quiet:
        console.print(recommendations_table(out["recommendations"], width=console.width))
        first_mail = next((m for d in record.days for m in d["mail"]), None)
        if first_mail:
            console.print(Panel(first_mail["text"], title=f"Email: {first_mail['subject']}", expand=False))
        decisions = Table(title="Decisions taken on the approval page")
        for col in ("day", "function", "decision", "page", "result"):
            decisions.add_column(col)
        for d in out["decisions"]:
            decisions.add_row(
                d["time"][:10],
                d["function"],
                d["decision"],
                f"{d['page_status']} {d['page']}",
                f"{d['result_status']} {d['result']}",
            )
        console.print(decisions)
        console.print(audit_table(out["audit"]))
    console.print(applied_table(out))
    reg = out.get("regression")
    if reg:
        console.print(
            f"Injected regression: {reg['function']} ×{reg['factor']} at {reg['injected_at']} → "
            f"status {reg['status_after']}, rollback records {reg['rollback_audit_ids']}"
        )
    problems = out["audit_verify"]["problems"]
    console.print(f"Audit chain: {problems or 'intact'} (head {out['audit_verify']['head']})")
    savings = [d.get("monthly_saving_usd") or 0 for d in out["days"]]
    canaries = sum(1 for c in out["applied"] if c["after"].get("canary_weight"))
    console.print(
        f"Days run: {len(out['days'])}; savings found on day 1: {_money(savings[0] if savings else 0)}"
        f"/month; changes applied: {len(out['applied'])} ({canaries} of them canary experiments on part "
        "of an alias's traffic)"
    )
