"""Charts as inline SVG, drawn by matplotlib: shared by the HTML report and the dashboard.

Every chart is a ``<figure class="chart" id=CHART>`` holding one self-contained ``<svg>``
(text as ``<text>``, no fonts, scripts or links to fetch), so a page stays one offline file.
matplotlib picks round ticks; lifts get a zero line and percent ticks; the axes always
hold the whole confidence band; a last day with data up to mid-day is shaded as partial.
The elements a reader (or a test) looks for carry stable ids, prefixed by the chart's id:
``CHART-line-0`` (first series), ``CHART-band``, ``CHART-zero-line``, ``CHART-partial-day``,
``CHART-bars-0-1`` (series 0, label 1), ``CHART-intervals`` and ``CHART-estimates``, and the axes ``CHART-plot``, ``CHART-x-axis``,
``CHART-y-axis``. matplotlib is imported on first use (the CLI starts
without it).
"""

from __future__ import annotations

from infrastructure.charts.figures import (
    BAND,
    PALETTE,
    Band,
    Series,
    bar_chart,
    forest_plot,
    line_chart,
    prepare,
)

__all__ = ["BAND", "PALETTE", "Band", "Series", "bar_chart", "forest_plot", "line_chart", "prepare"]
