"""Tiny inline-SVG charts for offline reports (no JavaScript library, no CDN)."""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

PALETTE = ("#1f6fd1", "#e8590c", "#2b8a3e", "#ae3ec9", "#c92a2a", "#0b7285")
BAND = "#9ec5fe"
WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 28, 40

Format = Callable[[float], str]


def number(value: float) -> str:
    return f"{value:.3g}"


def percent(value: float) -> str:
    return f"{value:+.1%}"


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]  # one per x label; None leaves a gap


@dataclass(frozen=True)
class Band:
    name: str
    lower: Sequence[float | None]
    upper: Sequence[float | None]


def _finite(values: Sequence[float | None]) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v)]


def _scale(lo: float, hi: float, size: float, flip: bool) -> Callable[[float], float]:
    span = hi - lo or 1.0

    def to_px(value: float) -> float:
        fraction = (value - lo) / span
        return (1 - fraction) * size if flip else fraction * size

    return to_px


def _frame(title: str, body: list[str], kind: str) -> str:
    return (
        f'<svg class="chart" data-kind="{kind}" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
        f'height="{HEIGHT}" role="img" aria-label="{escape(title)}" '
        'xmlns="http://www.w3.org/2000/svg">'
        f'<text x="{LEFT}" y="16" class="title">{escape(title)}</text>' + "".join(body) + "</svg>"
    )


def line_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    band: Band | None = None,
    fmt: Format = number,
    zero_line: bool = False,
) -> str:
    """Lines over categorical x labels (e.g. days), an optional shaded band and legend."""
    values = [v for s in series for v in _finite(s.values)]
    if band is not None:  # the first few points of a sequence are very wide: keep them clipped
        skip = len(band.lower) // 5 if len(band.lower) >= 5 else 0
        values += _finite(band.lower[skip:]) + _finite(band.upper[skip:])
    if zero_line:
        values.append(0.0)
    if not values or not labels:
        return _frame(title, [f'<text x="{LEFT}" y="60">no data yet</text>'], "empty")
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.08 or abs(hi) * 0.1 or 1.0
    lo, hi = lo - pad, hi + pad
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    y = _scale(lo, hi, plot_h, flip=True)
    step = plot_w / max(len(labels) - 1, 1)

    def x(i: int) -> float:
        return LEFT + i * step

    clip = f"clip{zlib.crc32(title.encode()):08x}"
    body = [
        f'<clipPath id="{clip}"><rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}"/></clipPath>',
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" class="plot"/>',
    ]
    for tick in range(5):
        value = lo + (hi - lo) * tick / 4
        py = TOP + y(value)
        body.append(
            f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{py:.1f}" y2="{py:.1f}" class="grid"/>'
        )
        body.append(f'<text x="{LEFT - 6}" y="{py + 4:.1f}" class="axis" text-anchor="end">{escape(fmt(value))}</text>')  # fmt: skip
    every = max(1, math.ceil(len(labels) / 8))
    for i, label in enumerate(labels):
        if i % every == 0 or i == len(labels) - 1:
            body.append(f'<text x="{x(i):.1f}" y="{HEIGHT - BOTTOM + 16}" class="axis" text-anchor="middle">{escape(label)}</text>')  # fmt: skip
    if zero_line and lo < 0 < hi:
        py = TOP + y(0.0)
        body.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{py:.1f}" y2="{py:.1f}" class="zero"/>')  # fmt: skip
    if band is not None:
        points = [(i, lo_, hi_) for i, (lo_, hi_) in enumerate(zip(band.lower, band.upper, strict=True))
                  if lo_ is not None and hi_ is not None and math.isfinite(lo_) and math.isfinite(hi_)]  # fmt: skip
        if points:
            upper = " ".join(f"{x(i):.1f},{TOP + y(h):.1f}" for i, _, h in points)
            lower = " ".join(f"{x(i):.1f},{TOP + y(low):.1f}" for i, low, _ in reversed(points))
            body.append(f'<polygon points="{upper} {lower}" fill="{BAND}" fill-opacity="0.55" class="band" clip-path="url(#{clip})"><title>{escape(band.name)}</title></polygon>')  # fmt: skip
    for index, s in enumerate(series):
        color = PALETTE[index % len(PALETTE)]
        points = [(i, v) for i, v in enumerate(s.values) if v is not None and math.isfinite(v)]
        path = " ".join(f"{x(i):.1f},{TOP + y(v):.1f}" for i, v in points)
        body.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2.5" class="series" clip-path="url(#{clip})"><title>{escape(s.name)}</title></polyline>')  # fmt: skip
        body.append(_legend(index, s.name, color))
    if band is not None:
        body.append(_legend(len(series), band.name, BAND))
    return _frame(title, body, "line")


def bar_chart(
    title: str, labels: Sequence[str], bars: Sequence[Series], fmt: Format = number
) -> str:
    """Grouped vertical bars: one group per label, one bar per series."""
    values = [v for s in bars for v in _finite(s.values)] + [0.0]
    hi = max(values) * 1.1 or 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    y = _scale(0.0, hi, plot_h, flip=True)
    group = plot_w / max(len(labels), 1)
    width = group * 0.8 / max(len(bars), 1)
    body = [f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" class="plot"/>']
    for gi, label in enumerate(labels):
        gx = LEFT + gi * group + group * 0.1
        body.append(f'<text x="{gx + group * 0.4:.1f}" y="{HEIGHT - BOTTOM + 16}" class="axis" text-anchor="middle">{escape(label)}</text>')  # fmt: skip
        for bi, s in enumerate(bars):
            value = s.values[gi]
            if value is None or not math.isfinite(value):
                continue
            top = TOP + y(value)
            color = PALETTE[bi % len(PALETTE)]
            body.append(f'<rect x="{gx + bi * width:.1f}" y="{top:.1f}" width="{width * 0.92:.1f}" height="{TOP + plot_h - top:.1f}" fill="{color}" class="bar"><title>{escape(s.name)} {escape(label)}: {escape(fmt(value))}</title></rect>')  # fmt: skip
            body.append(f'<text x="{gx + (bi + 0.46) * width:.1f}" y="{top - 4:.1f}" class="axis" text-anchor="middle">{escape(fmt(value))}</text>')  # fmt: skip
    for bi, s in enumerate(bars):
        body.append(_legend(bi, s.name, PALETTE[bi % len(PALETTE)]))
    return _frame(title, body, "bar")


def forest_plot(
    title: str, rows: Sequence[tuple[str, float, float, float]], fmt: Format = percent
) -> str:
    """One horizontal interval per row: (label, estimate, lower, upper), with a zero line."""
    finite = [r for r in rows if all(math.isfinite(v) for v in r[1:])]
    if not finite:
        return _frame(title, [f'<text x="{LEFT}" y="60">no data yet</text>'], "empty")
    lo = min(0.0, *(r[2] for r in finite))
    hi = max(0.0, *(r[3] for r in finite))
    pad = (hi - lo) * 0.08 or 0.1
    left = 180
    x = _scale(lo - pad, hi + pad, WIDTH - left - RIGHT, flip=False)
    row_h = (HEIGHT - TOP - BOTTOM) / max(len(finite), 1)
    body = [f'<line x1="{left + x(0.0):.1f}" x2="{left + x(0.0):.1f}" y1="{TOP}" y2="{HEIGHT - BOTTOM}" class="zero"/>']  # fmt: skip
    for i, (label, estimate, lower, upper) in enumerate(finite):
        cy = TOP + row_h * (i + 0.5)
        body.append(f'<text x="{left - 8}" y="{cy + 4:.1f}" class="axis" text-anchor="end">{escape(label)}</text>')  # fmt: skip
        body.append(f'<line x1="{left + x(lower):.1f}" x2="{left + x(upper):.1f}" y1="{cy:.1f}" y2="{cy:.1f}" stroke="{PALETTE[0]}" stroke-width="3" class="interval"/>')  # fmt: skip
        body.append(f'<circle cx="{left + x(estimate):.1f}" cy="{cy:.1f}" r="5" fill="{PALETTE[1]}" class="estimate"><title>{escape(label)}: {escape(fmt(estimate))} [{escape(fmt(lower))}, {escape(fmt(upper))}]</title></circle>')  # fmt: skip
    for value in (lo, 0.0, hi):
        body.append(f'<text x="{left + x(value):.1f}" y="{HEIGHT - BOTTOM + 16}" class="axis" text-anchor="middle">{escape(fmt(value))}</text>')  # fmt: skip
    return _frame(title, body, "forest")


def _legend(index: int, name: str, color: str) -> str:
    lx = LEFT + 8 + index * 150
    return (
        f'<rect x="{lx}" y="{HEIGHT - 14}" width="12" height="8" fill="{color}"/>'
        f'<text x="{lx + 16}" y="{HEIGHT - 6}" class="legend">{escape(name)}</text>'
    )
