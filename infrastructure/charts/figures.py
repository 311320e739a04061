"""Line, bar and interval charts (matplotlib's object API, SVG out; no pyplot state)."""

from __future__ import annotations

import io
import math
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from html import escape
from typing import Any

PALETTE = ("#1f6fd1", "#e8590c", "#2b8a3e", "#ae3ec9", "#c92a2a", "#0b7285")
BAND = "#9ec5fe"
PARTIAL = "#adb5bd"
SIZE = (7.2, 2.6)  # inches at 100 dpi: 720 x 260 px
WIDE_BAND = 4.0  # leading days whose band is this many times its final width are not drawn

_setup = threading.Lock()
_ready = False


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]  # one per x position; None leaves a gap


@dataclass(frozen=True)
class Band:
    name: str
    lower: Sequence[float | None]
    upper: Sequence[float | None]


def prepare() -> None:
    """Imports matplotlib and applies the SVG settings, once per process (a long-running
    process can do it ahead of its first chart: about a second)."""
    global _ready
    with _setup:
        if not _ready:
            import matplotlib

            matplotlib.rcParams.update({
                "svg.fonttype": "none",  # <text> elements: no embedded glyphs, searchable
                "svg.hashsalt": "neonblue",  # stable generated ids
                "font.size": 9,
                "font.family": "sans-serif",
                "font.sans-serif": ["DejaVu Sans", "Arial"],
                "axes.spines.top": False,
                "axes.spines.right": False,
                "axes.prop_cycle": matplotlib.cycler(color=PALETTE),
            })  # fmt: skip
            from matplotlib.figure import Figure

            warm_up = Figure(figsize=(1, 1))  # loads the font and the SVG backend once
            warm_up.add_subplot().set_title("0")
            warm_up.savefig(io.StringIO(), format="svg")
            _ready = True


def _figure() -> tuple[Any, Any]:
    """A fresh figure and its axes (ids ``plot``, ``x-axis``, ``y-axis``)."""
    prepare()
    from matplotlib.figure import Figure

    figure = Figure(figsize=SIZE, dpi=100)  # fixed margins: a layout engine draws twice
    figure.subplots_adjust(left=0.09, right=0.98, top=0.96, bottom=0.17)
    ax = figure.add_subplot()
    ax.patch.set_gid("plot")
    ax.xaxis.set_gid("x-axis")
    ax.yaxis.set_gid("y-axis")
    return figure, ax


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _x(days: Sequence[date]) -> list[datetime]:
    return [datetime(d.year, d.month, d.day) for d in days]


def _svg(figure: Any, chart_id: str, title: str, kind: str, attributes: str = "") -> str:
    """The figure as an inline ``<svg>`` whose ids are unique in the page."""
    out = io.StringIO()
    figure.savefig(out, format="svg", metadata={"Date": None, "Creator": None})
    text = out.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r"\s*<metadata>.*?</metadata>", "", text, count=1, flags=re.S)
    text = re.sub(r'\bid="([^"]+)"', rf'id="{chart_id}-\1"', text)
    text = re.sub(r"url\(#([^)]+)\)", rf"url(#{chart_id}-\1)", text)
    text = re.sub(r'href="#([^"]+)"', rf'href="#{chart_id}-\1"', text)
    text = text.replace("<svg ", f'<svg role="img" aria-label="{escape(title)}" ', 1)
    return (
        f'<figure class="chart" id="{chart_id}" data-kind="{kind}"{attributes}>'
        f"<figcaption>{escape(title)}</figcaption>{text}</figure>"
    )


def _empty(chart_id: str, title: str) -> str:
    return (
        f'<figure class="chart" id="{chart_id}" data-kind="empty">'
        f"<figcaption>{escape(title)}</figcaption><p>No data yet.</p></figure>"
    )


def _percent_axis(axis: Any) -> None:
    from matplotlib.ticker import PercentFormatter

    axis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=None))


def _date_axis(ax: Any) -> None:
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    locator = AutoDateLocator(minticks=3, maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))


def _first_narrow(band: Band) -> int:
    """Index of the first day whose band is at most WIDE_BAND times its final width."""
    widths = [
        (u - lo) if _finite(lo) and _finite(u) else math.inf  # type: ignore[operator]
        for lo, u in zip(band.lower, band.upper, strict=True)
    ]
    final = next((w for w in reversed(widths) if math.isfinite(w)), math.inf)
    if not math.isfinite(final):
        return 0
    return next((i for i, w in enumerate(widths) if w <= WIDE_BAND * final), 0)


def line_chart(
    chart_id: str,
    title: str,
    days: Sequence[date],
    series: Sequence[Series],
    band: Band | None = None,
    percent: bool = False,
    zero_line: bool = False,
    partial_last_day: bool = False,
) -> str:
    """Lines over days, with an optional shaded band, a zero line and the partial day."""
    drawn = [s for s in series if any(_finite(v) for v in s.values)]
    if not days or not drawn:
        return _empty(chart_id, title)
    start = _first_narrow(band) if band is not None else 0
    x = _x(days)
    figure, ax = _figure()
    if band is not None:
        points = [(x[i], band.lower[i], band.upper[i]) for i in range(start, len(x))
                  if _finite(band.lower[i]) and _finite(band.upper[i])]  # fmt: skip
        if points:
            ax.fill_between(
                [p[0] for p in points], [p[1] for p in points], [p[2] for p in points],
                color=BAND, alpha=0.55, linewidth=0, label=band.name, gid="band",
            )  # fmt: skip
    for index, s in enumerate(drawn):
        values = [v if _finite(v) and i >= start else math.nan for i, v in enumerate(s.values)]
        ax.plot(x, values, linewidth=2, marker="o", markersize=3, label=s.name,
                color=PALETTE[index % len(PALETTE)], gid=f"line-{index}")  # fmt: skip
    if zero_line:
        ax.axhline(0.0, color="#495057", linewidth=1, linestyle="--", gid="zero-line")
        low, high = ax.get_ylim()
        ax.set_ylim(min(low, 0.0), max(high, 0.0))
    if partial_last_day:
        ax.axvspan(x[-1] - timedelta(hours=12), x[-1] + timedelta(hours=12), color=PARTIAL,
                   alpha=0.3, hatch="///", linewidth=0, label="partial day", gid="partial-day")  # fmt: skip
    if percent:
        _percent_axis(ax.yaxis)
    _date_axis(ax)
    ax.grid(axis="y", color="#e9ecef")
    ax.legend(loc="upper left", fontsize=8, frameon=False, ncols=4)
    note = f' data-hidden-days="{start}"' if start else ""
    return _svg(figure, chart_id, title, "line", note)


def bar_chart(chart_id: str, title: str, labels: Sequence[str], bars: Sequence[Series]) -> str:
    """Grouped vertical bars: one group per label, one bar per series, values on top."""
    if not labels or not any(_finite(v) for s in bars for v in s.values):
        return _empty(chart_id, title)
    figure, ax = _figure()
    width = 0.8 / max(len(bars), 1)
    for index, s in enumerate(bars):
        positions = [i + (index - (len(bars) - 1) / 2) * width for i in range(len(labels))]
        heights = [v if _finite(v) else 0.0 for v in s.values]
        container = ax.bar(
            positions, heights, width * 0.92, label=s.name, color=PALETTE[index % len(PALETTE)]
        )
        for position, bar in enumerate(container.patches):
            bar.set_gid(f"bars-{index}-{position}")  # series index, label index
        ax.bar_label(container, fmt="{:,.0f}", fontsize=8)
    ax.set_xticks(range(len(labels)), labels)
    ax.grid(axis="y", color="#e9ecef")
    ax.legend(loc="upper right", fontsize=8, frameon=False)
    return _svg(figure, chart_id, title, "bar")


def forest_plot(chart_id: str, title: str, rows: Sequence[tuple[str, float, float, float]]) -> str:
    """One horizontal interval per row, (label, estimate, lower, upper), around a zero line."""
    finite = [r for r in rows if all(math.isfinite(v) for v in r[1:])]
    if not finite:
        return _empty(chart_id, title)
    figure, ax = _figure()
    positions = list(range(len(finite)))[::-1]
    estimates = [r[1] for r in finite]
    errors = [[r[1] - r[2] for r in finite], [r[3] - r[1] for r in finite]]
    drawn = ax.errorbar(estimates, positions, xerr=errors, fmt="o", color=PALETTE[1],
                        ecolor=PALETTE[0], elinewidth=3, capsize=0)  # fmt: skip
    drawn.lines[0].set_gid("estimates")
    drawn.lines[2][0].set_gid("intervals")
    ax.axvline(0.0, color="#495057", linewidth=1, linestyle="--", gid="zero-line")
    ax.set_yticks(positions, [r[0] for r in finite])
    _percent_axis(ax.xaxis)
    ax.grid(axis="x", color="#e9ecef")
    return _svg(figure, chart_id, title, "forest")
