"""Hand-written inline SVG charts: a time axis, lines as <path> (one point per sample, thinned past
`MAX_POINTS`), markers as <path> triangles with a <title>. No script, no network."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from html import escape

import msgspec

MAX_POINTS = 2400  # per line; more samples are thinned evenly (the last is always kept)
W, H = 900, 260
PAD_L, PAD_R, PAD_T, PAD_B = 70, 10, 10, 28
COLORS = ("#06c", "#c60", "#393", "#939", "#c03", "#099", "#663", "#333")


class Line(msgspec.Struct, frozen=True):
    label: str
    points: list[tuple[int, float]]  # (ts_ns, value)
    color: str = COLORS[0]
    area: bool = False  # filled down to zero (the drawdown)


class Marker(msgspec.Struct, frozen=True):
    ts_ns: int
    value: float
    up: bool  # a buy (triangle up) or a sell (down)
    title: str


def thin(points: Sequence[tuple[int, float]], limit: int = MAX_POINTS) -> list[tuple[int, float]]:
    if len(points) <= limit:
        return list(points)
    step = math.ceil(len(points) / limit)
    kept = list(points[::step])
    if kept[-1] != points[-1]:
        kept.append(points[-1])
    return kept


def _ts(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _num(value: float) -> str:
    return f"{value:,.2f}" if abs(value) >= 1 or value == 0 else f"{value:.4g}"


def chart(chart_id: str, title: str, lines: Sequence[Line], markers: Sequence[Marker] = ()) -> str:
    """One chart: the lines, the markers on them, value and time labels, a zero line if it shows."""
    thinned = [msgspec.structs.replace(line, points=thin(line.points)) for line in lines]
    xs = [p[0] for line in thinned for p in line.points] + [m.ts_ns for m in markers]
    ys = [p[1] for line in thinned for p in line.points] + [m.value for m in markers]
    head = (f'<figure><figcaption>{escape(title)}</figcaption><svg id="{escape(chart_id)}" class="chart" '
            f'width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img" aria-label="{escape(title)}">')
    if not xs:
        return head + f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle" class="muted">no data</text></svg></figure>'
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if any(line.area for line in thinned):
        y0, y1 = min(y0, 0.0), max(y1, 0.0)
    if y1 == y0:
        y0, y1 = y0 - 1, y1 + 1
    span_x = (x1 - x0) or 1

    def px(ts: int) -> float:
        return PAD_L + (ts - x0) / span_x * (W - PAD_L - PAD_R)

    def py(v: float) -> float:
        return PAD_T + (y1 - v) / (y1 - y0) * (H - PAD_T - PAD_B)

    parts = [head, _axes(x0, x1, y0, y1, py)]
    for line in thinned:
        d = " ".join(f"{'M' if i == 0 else 'L'}{px(t):.1f},{py(v):.1f}" for i, (t, v) in enumerate(line.points))
        if line.area and line.points:
            zero = py(0.0)
            d += f" L{px(line.points[-1][0]):.1f},{zero:.1f} L{px(line.points[0][0]):.1f},{zero:.1f} Z"
            parts.append(f'<path class="series area" data-label="{escape(line.label)}" data-points="{len(line.points)}" '
                         f'd="{d}" fill="{line.color}" fill-opacity="0.25" stroke="{line.color}"/>')
        else:
            parts.append(f'<path class="series" data-label="{escape(line.label)}" data-points="{len(line.points)}" '
                         f'd="{d}" fill="none" stroke="{line.color}" stroke-width="1.4"/>')
    for m in markers:
        x, y = px(m.ts_ns), py(m.value)
        tri = f"M{x:.1f},{y - 5:.1f} L{x + 4.5:.1f},{y + 3:.1f} L{x - 4.5:.1f},{y + 3:.1f} Z" if m.up else \
            f"M{x:.1f},{y + 5:.1f} L{x + 4.5:.1f},{y - 3:.1f} L{x - 4.5:.1f},{y - 3:.1f} Z"
        parts.append(f'<path class="marker {"buy" if m.up else "sell"}" d="{tri}"><title>{escape(m.title)}</title></path>')
    parts.append(_legend(thinned))
    parts.append("</svg></figure>")
    return "".join(parts)


def _axes(x0: int, x1: int, y0: float, y1: float, py: Callable[[float], float]) -> str:
    out = [f'<rect x="{PAD_L}" y="{PAD_T}" width="{W - PAD_L - PAD_R}" height="{H - PAD_T - PAD_B}" class="plot"/>']
    for k in range(5):
        v = y0 + (y1 - y0) * k / 4
        y = py(v)
        out.append(f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                   f'<text x="{PAD_L - 4}" y="{y + 4:.1f}" text-anchor="end" class="tick">{_num(v)}</text>')
    if y0 < 0 < y1:
        out.append(f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{py(0.0):.1f}" y2="{py(0.0):.1f}" class="zero"/>')
    out.append(f'<text x="{PAD_L}" y="{H - 8}" class="tick">{_ts(x0)} UTC</text>'
               f'<text x="{W - PAD_R}" y="{H - 8}" text-anchor="end" class="tick">{_ts(x1)} UTC</text>')
    return "".join(out)


def _legend(lines: Sequence[Line]) -> str:
    out = []
    for k, line in enumerate(lines):
        x = PAD_L + 8 + 150 * k
        out.append(f'<rect x="{x}" y="{PAD_T + 6}" width="10" height="3" fill="{line.color}"/>'
                   f'<text x="{x + 14}" y="{PAD_T + 11}" class="tick">{escape(line.label)}</text>')
    return "".join(out)
