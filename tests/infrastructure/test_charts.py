"""Charts as inline SVG: self-contained, ids unique per page, the wide start left out."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date, timedelta

from infrastructure.charts import Band, Series, bar_chart, forest_plot, line_chart

DAYS = [date(2026, 5, 1) + timedelta(days=i) for i in range(8)]
LIFT = Series("t vs c", [0.5, 0.3, 0.2, 0.15, 0.12, 0.1, 0.11, 0.1])
BAND = Band("95%", [-3.0, -1.0, -0.2, -0.1, -0.05, -0.02, 0.0, 0.01],
            [4.0, 1.6, 0.6, 0.4, 0.3, 0.22, 0.2, 0.19])  # fmt: skip


def ids(html: str) -> list[str]:
    return re.findall(r'\bid="([^"]+)"', html)


def test_charts_are_self_contained_with_unique_ids_on_one_page():
    page = (
        line_chart("lift-t", "Lift", DAYS, [LIFT], BAND, percent=True, zero_line=True,
                   partial_last_day=True)
        + line_chart("exposures", "Exposed", DAYS, [Series("c", [10.0] * 8)])
        + bar_chart("srm", "Users", ["control", "t"], [Series("observed", [100, 120])])
        + forest_plot("segments", "By segment", [("ios", 0.1, -0.05, 0.2)])
    )  # fmt: skip
    repeated = [i for i, n in Counter(ids(page)).items() if n > 1]
    assert repeated == []
    assert not re.search(r"<script|<image|<metadata|(src|href)=\"(https?:)?//", page)
    for element in ("lift-t-band", "lift-t-zero-line", "lift-t-partial-day", "lift-t-line-0",
                    "lift-t-plot", "lift-t-y-axis", "exposures-line-0", "srm-bars-0-1",
                    "segments-intervals", "segments-zero-line"):  # fmt: skip
        assert element in ids(page), element
    refs = re.findall(r'(?:url\(#|href="#)([^)"]+)', page)
    assert refs and set(refs) <= set(ids(page))  # every reference resolves within the page


def test_percent_ticks_are_round_and_include_zero():
    chart = line_chart("lift", "Lift", DAYS, [LIFT], BAND, percent=True, zero_line=True)
    axis = chart[chart.index('id="lift-y-axis"') :]
    ticks = [t.replace("\u2212", "-") for t in re.findall(r">([^<>]*%)</text>", axis)]
    assert "0%" in ticks and all(re.fullmatch(r"-?\d+%", t) for t in ticks), ticks


def test_leading_days_with_a_band_far_wider_than_at_the_end_are_left_out():
    chart = line_chart("lift", "Lift", DAYS, [LIFT], BAND, percent=True)
    assert 'data-hidden-days="3"' in chart  # 700%, 260% and 80% wide against 18% at the end
    assert "data-hidden-days" not in line_chart("x", "X", DAYS, [LIFT])


def test_no_data_gives_an_empty_figure():
    assert 'data-kind="empty"' in line_chart("x", "X", [], [LIFT])
    assert 'data-kind="empty"' in line_chart("x", "X", DAYS, [Series("a", [None] * 8)])
