"""Rendering the approval pages: jinja2 with autoescape, one inline stylesheet allowed by its hash."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import UTC, datetime
from functools import cache
from importlib.resources import files
from typing import Literal

from jinja2 import Environment, PackageLoader
from markupsafe import Markup

from lambda_tuner.core.digest import change_text, experiment_limits, money, saving_text
from lambda_tuner.core.models import EXPERIMENT_KEYS, Interval, Projection, Recommendation
from lambda_tuner.core.tokens import TokenClaims
from lambda_tuner.web.chart import render_chart

Tone = Literal["ok", "bad", ""]


@cache
def _env() -> Environment:
    return Environment(loader=PackageLoader("lambda_tuner.web", "templates"), autoescape=True)


@cache
def security_headers() -> dict[str, str]:
    """Headers for every page: nothing loads from anywhere, only our one inline stylesheet applies."""
    base = files("lambda_tuner.web").joinpath("templates/base.html").read_text(encoding="utf-8")
    match = re.search(r"<style>(.*?)</style>", base, re.S)
    style = match.group(1) if match else ""
    digest = base64.b64encode(hashlib.sha256(style.encode("utf-8")).digest()).decode("ascii")
    return {
        "Content-Type": "text/html; charset=utf-8",
        "Content-Security-Policy": (
            f"default-src 'none'; style-src 'sha256-{digest}'; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'"
        ),
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
    }


def _interval(iv: Interval | None, unit: str) -> str:
    if iv is None:
        return "not estimated"
    if unit == "$":
        return f"{money(iv.expected)} ({money(iv.low)} to {money(iv.high)})"
    return f"{iv.expected:,.0f} {unit} ({iv.low:,.0f} to {iv.high:,.0f})"


_SETTINGS = {
    "memory_mb": ("Memory", " MB"),
    "pc": ("Provisioned concurrency", ""),
    "arch": ("Architecture", ""),
}


def _setting(value: object, unit: str) -> str:
    return "—" if value is None else f"{value}{unit}"


def _setting_row(key: str, current: object, proposed: object) -> dict[str, str]:
    label, unit = _SETTINGS.get(key, (key.replace("_", " "), ""))
    return {"label": label, "current": _setting(current, unit), "proposed": _setting(proposed, unit)}


def _rows(rec: Recommendation) -> list[dict[str, str]]:
    rows = [
        _setting_row(key, rec.current.get(key), value)
        for key, value in rec.proposed.items()
        if key != "pc_schedule" and key not in EXPERIMENT_KEYS
    ]
    before, after = rec.before, rec.after

    def both(pick: str, unit: str) -> dict[str, str]:
        def one(p: Projection | None) -> str:
            return _interval(getattr(p, pick) if p else None, unit)

        return {"current": one(before), "proposed": one(after)}

    rows.append({"label": "Monthly cost", **both("monthly_cost_usd", "$")})
    rows.append({"label": "Mean duration", **both("duration_ms", "ms")})
    rows.append({"label": "p99 duration", **both("p99_ms", "ms")})
    return rows


def _schedule_rows(rec: Recommendation) -> list[dict[str, str]]:
    """The proposed PC schedule, one row per scheduled action (structured field first, else its JSON)."""
    if rec.pc_schedule:
        return [{"when": a.schedule, "tz": a.timezone, "pc": str(a.capacity)} for a in rec.pc_schedule]
    raw = rec.proposed.get("pc_schedule")
    try:
        actions = json.loads(raw) if isinstance(raw, str) else []
    except ValueError:
        return [{"when": "unreadable schedule", "tz": "", "pc": ""}]
    return [
        {
            "when": str(a.get("schedule")),
            "tz": str(a.get("tz", a.get("timezone", "UTC"))),
            "pc": str(a.get("pc", a.get("capacity"))),
        }
        for a in actions
        if isinstance(a, dict)
    ]


def confirm_page(rec: Recommendation, claims: TokenClaims, token: str) -> str:
    current, proposed = rec.current.get("memory_mb"), rec.proposed.get("memory_mb")
    chart = render_chart(
        rec.chart,
        current if isinstance(current, int) else None,
        proposed if isinstance(proposed, int) else None,
    )
    return (
        _env()
        .get_template("confirm.html")
        .render(
            title=f"{claims.act.capitalize()} change to {rec.function}",
            rec=rec,
            action=claims.act,
            token=token,
            change=change_text(rec),
            rows=_rows(rec),
            schedule=_schedule_rows(rec),
            limits=experiment_limits(rec) if rec.kind == "experiment" else [],
            saving=saving_text(rec.monthly_saving_usd),
            chart=Markup(chart),  # noqa: S704 - render_chart emits only numbers and fixed labels
            expires=datetime.fromtimestamp(claims.exp, UTC).strftime("%Y-%m-%d %H:%M"),
        )
    )


def message_page(title: str, message: str, detail: str = "", tone: Tone = "") -> str:
    return _env().get_template("message.html").render(title=title, message=message, detail=detail, tone=tone)
