"""Cost and duration versus memory as one inline SVG, drawn from stored `ChartPoint`s (no scipy, no JS).

Duration (with its 90 % band) is drawn against the left axis, monthly cost against the right one;
observed sizes are filled dots, the current and proposed sizes are vertical markers. Memory runs in
octaves (a log scale: 128 to 10,240 MB is six of them, and the sizes that matter are often a few hundred
MB apart), over two octaves either side of the observed, current and proposed sizes: the model's far
tail (a projected 128 MB of a function observed at 3 GB, say) would otherwise set the duration axis
and flatten the rest. Only numbers and fixed labels reach the SVG, so it is safe to embed without
escaping.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from lambda_tuner.core.models import ChartPoint

W, H = 640, 300
LEFT, RIGHT, TOP, BOTTOM = 60, 70, 20, 40
MARGIN_OCTAVES = 2.0  # shown either side of the sizes that matter
CHAR_W = 6.5  # about a character's width at the labels' font size, to keep labels inside the picture
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
        self.x_k, self.x_b = _scale(math.log2(self.mems[0]), math.log2(self.mems[-1]), LEFT, W - RIGHT)
        self.d_hi = max(p.duration_high_ms for p in pts) * 1.05 or 1.0
        self.d_k, self.d_b = _scale(0.0, self.d_hi, H - BOTTOM, TOP)
        self.c_hi = max(p.monthly_cost_usd for p in pts) * 1.05 or 1.0
        self.c_k, self.c_b = _scale(0.0, self.c_hi, H - BOTTOM, TOP)

    def x(self, mb: float) -> float:
        return self.x_k * math.log2(mb) + self.x_b

    def yd(self, ms: float) -> float:
        return self.d_k * ms + self.d_b

    def yc(self, usd: float) -> float:
        return self.c_k * usd + self.c_b


def _shown(pts: list[ChartPoint], marked: Sequence[int | None]) -> list[ChartPoint]:
    """The points within MARGIN_OCTAVES of the observed and `marked` sizes (all when that leaves fewer
    than two sizes)."""
    anchors = [p.memory_mb for p in pts if p.observed] + [mb for mb in marked if mb]
    if not anchors:
        return pts
    factor = 2.0**MARGIN_OCTAVES
    lo, hi = min(anchors) / factor, max(anchors) * factor
    near = [p for p in pts if lo <= p.memory_mb <= hi]
    return near if len({p.memory_mb for p in near}) >= 2 else pts


def _poly(values: list[tuple[float, float]]) -> str:
    return " ".join(f"{a:.1f},{b:.1f}" for a, b in values)


def render_chart(
    points: Sequence[ChartPoint], current_mb: int | None = None, proposed_mb: int | None = None
) -> str:
    """The SVG element; an empty string when there are fewer than two sizes to draw a line through."""
    pts = sorted((p for p in points if p.memory_mb > 0), key=lambda p: p.memory_mb)
    if len({p.memory_mb for p in pts}) < 2:
        return ""
    pts = _shown(pts, (current_mb, proposed_mb))
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
            text = f"{label} {mb} MB"
            x = f.x(mb)  # the label goes left of a marker near the right edge
            at = (f'x="{x + 3:.1f}"' if x + 3 + len(text) * CHAR_W <= W - RIGHT
                  else f'x="{x - 3:.1f}" text-anchor="end"')
            parts.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{H - BOTTOM}" stroke="{colour}" '
                f'stroke-dasharray="3 3"/><text {at} y="{label_y}" font-size="11" '
                f'fill="{colour}">{text}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _memory_ticks(lo: int, hi: int) -> list[int]:
    """Powers of two from `lo` to `hi` (and the ends when they are not within half an octave of one)."""
    ticks = [2**k for k in range(math.ceil(math.log2(lo)), math.floor(math.log2(hi)) + 1)]
    if not ticks or math.log2(ticks[0] / lo) >= 0.5:
        ticks.insert(0, lo)
    if math.log2(hi / ticks[-1]) >= 0.5:
        ticks.append(hi)
    return ticks


def _axes(f: _Frame) -> list[str]:
    out = [
        f'<text x="{f.x(m):.1f}" y="{H - BOTTOM + 16}" font-size="10" text-anchor="middle">{m}</text>'
        for m in _memory_ticks(f.mems[0], f.mems[-1])
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
        # the units above the plot, clear of the top tick labels
        f'<text x="{LEFT - 6}" y="{TOP - 8}" font-size="11" text-anchor="end" fill="{DURATION}">ms</text>',
        f'<text x="{W - RIGHT + 6}" y="{TOP - 8}" font-size="11" fill="{COST}">$/month</text>',
    ]
    return out
