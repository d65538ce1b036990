"""Cost and duration versus memory as one inline SVG, drawn from stored `ChartPoint`s (no scipy, no JS).

Duration (with its 90 % band) is drawn against the left axis, monthly cost against the right one;
observed sizes are filled dots, the current and proposed sizes are vertical markers. Only numbers
and fixed labels reach the SVG, so it is safe to embed without escaping.
"""

from __future__ import annotations

from collections.abc import Sequence

from lambda_tuner.core.models import ChartPoint

W, H = 640, 300
LEFT, RIGHT, TOP, BOTTOM = 60, 70, 20, 40
DURATION, COST, BAND = "#1f6fb2", "#c2501b", "#1f6fb233"


def _scale(lo: float, hi: float, a: float, b: float) -> tuple[float, float]:
    span = (hi - lo) or 1.0
    return (b - a) / span, a - lo * (b - a) / span


def _ticks(lo: float, hi: float, n: int = 4) -> list[float]:
    return [lo + (hi - lo) * i / n for i in range(n + 1)]


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.2f}" if abs(v) < 10 else f"{v:,.1f}"


class _Frame:
    """Maps memory to x, duration to the left y axis and monthly cost to the right one."""

    def __init__(self, pts: Sequence[ChartPoint]) -> None:
        self.mems = sorted({p.memory_mb for p in pts})
        self.x_k, self.x_b = _scale(self.mems[0], self.mems[-1], LEFT, W - RIGHT)
        self.d_hi = max(p.duration_high_ms for p in pts) * 1.05 or 1.0
        self.d_k, self.d_b = _scale(0.0, self.d_hi, H - BOTTOM, TOP)
        self.c_hi = max(p.monthly_cost_usd for p in pts) * 1.05 or 1.0
        self.c_k, self.c_b = _scale(0.0, self.c_hi, H - BOTTOM, TOP)

    def x(self, mb: float) -> float:
        return self.x_k * mb + self.x_b

    def yd(self, ms: float) -> float:
        return self.d_k * ms + self.d_b

    def yc(self, usd: float) -> float:
        return self.c_k * usd + self.c_b


def _poly(values: list[tuple[float, float]]) -> str:
    return " ".join(f"{a:.1f},{b:.1f}" for a, b in values)


def render_chart(
    points: Sequence[ChartPoint], current_mb: int | None = None, proposed_mb: int | None = None
) -> str:
    """The SVG element; an empty string when there are fewer than two sizes to draw a line through."""
    pts = sorted(points, key=lambda p: p.memory_mb)
    if len({p.memory_mb for p in pts}) < 2:
        return ""
    f = _Frame(pts)
    band = [(f.x(p.memory_mb), f.yd(p.duration_high_ms)) for p in pts]
    band += [(f.x(p.memory_mb), f.yd(p.duration_low_ms)) for p in reversed(pts)]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="100%" role="img" '
        'aria-label="Projected duration and monthly cost by memory size">',
        f'<rect x="{LEFT}" y="{TOP}" width="{W - LEFT - RIGHT}" height="{H - TOP - BOTTOM}" fill="none" '
        'stroke="#ccc"/>',
        f'<polygon points="{_poly(band)}" fill="{BAND}" stroke="none"/>',
        f'<polyline points="{_poly([(f.x(p.memory_mb), f.yd(p.duration_ms)) for p in pts])}" fill="none" '
        f'stroke="{DURATION}" stroke-width="2"/>',
        f'<polyline points="{_poly([(f.x(p.memory_mb), f.yc(p.monthly_cost_usd)) for p in pts])}" '
        f'fill="none" stroke="{COST}" stroke-width="2" stroke-dasharray="6 3"/>',
    ]
    parts += [
        f'<circle cx="{f.x(p.memory_mb):.1f}" cy="{f.yd(p.duration_ms):.1f}" r="4" fill="{DURATION}">'
        f"<title>observed at {p.memory_mb} MB</title></circle>"
        for p in pts
        if p.observed
    ]
    parts += _axes(f)
    markers = ((current_mb, "current", "#555", TOP + 12), (proposed_mb, "proposed", "#1a7f37", TOP + 26))
    for mb, label, colour, label_y in markers:
        if mb is not None and f.mems[0] <= mb <= f.mems[-1]:
            parts.append(
                f'<line x1="{f.x(mb):.1f}" x2="{f.x(mb):.1f}" y1="{TOP}" y2="{H - BOTTOM}" stroke="{colour}" '
                f'stroke-dasharray="3 3"/><text x="{f.x(mb) + 3:.1f}" y="{label_y}" '
                f'font-size="11" fill="{colour}">{label} {mb} MB</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _axes(f: _Frame) -> list[str]:
    step = max(1, len(f.mems) // 8)
    out = [
        f'<text x="{f.x(m):.1f}" y="{H - BOTTOM + 16}" font-size="10" text-anchor="middle">{m}</text>'
        for m in f.mems[::step]
    ]
    out += [
        f'<text x="{LEFT - 6}" y="{f.yd(v) + 3:.1f}" font-size="10" text-anchor="end" fill="{DURATION}">'
        f"{_fmt(v)}</text>"
        for v in _ticks(0.0, f.d_hi)
    ]
    out += [
        f'<text x="{W - RIGHT + 6}" y="{f.yc(v) + 3:.1f}" font-size="10" fill="{COST}">${_fmt(v)}</text>'
        for v in _ticks(0.0, f.c_hi)
    ]
    mid = (LEFT + W - RIGHT) / 2
    out += [
        f'<text x="{mid:.0f}" y="{H - 6}" font-size="11" text-anchor="middle">memory (MB)</text>',
        f'<text x="12" y="{TOP + 10}" font-size="11" fill="{DURATION}">ms</text>',
        f'<text x="{W - 40}" y="{TOP + 10}" font-size="11" fill="{COST}">$/month</text>',
    ]
    return out
