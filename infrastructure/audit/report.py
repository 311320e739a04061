"""`neonblue report EXPERIMENT --html out.html`: a self-contained experiment report.

One HTML file with inline CSS and SVG charts drawn by matplotlib (`infrastructure.charts`;
no CDN, no external file), readable offline:
cumulative lift of the primary metric with its confidence sequence, daily exposures and
per-variant metric values, the SRM check and a segment breakdown, plus the final scorecard.
A few lines of inline script only count the charts (``data-charts`` on ``<body>``), so
automated checks can tell that the page ran.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from html import escape

from domain.analysis.impact import signed
from domain.analysis.version import ENGINE_VERSION
from domain.statistics import ProjectedImpact
from infrastructure.application import NeonBlue
from infrastructure.audit.report_data import ReportData, report_data
from infrastructure.charts import Band, Series, bar_chart, forest_plot, line_chart

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:760px;color:#212529}
h1{font-size:22px;margin-bottom:4px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #dee2e6}
.meta{color:#6c757d;font-size:13px}table{border-collapse:collapse;font-size:13px;margin:8px 0}
td,th{border:1px solid #dee2e6;padding:3px 8px;text-align:right}th{background:#f1f3f5}
td:first-child,th:first-child{text-align:left}.bad{color:#c92a2a;font-weight:600}.good{color:#2b8a3e}
figure.chart{margin:12px 0}figure.chart figcaption{font-size:13px;font-weight:600}
figure.chart svg{display:block;max-width:100%;height:auto}
"""
SCRIPT = (
    "document.addEventListener('DOMContentLoaded',function(){"
    "document.body.dataset.charts=String(document.querySelectorAll('figure.chart svg').length);});"
)


def _fmt(value: float | None, pattern: str = "{:.4g}") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return pattern.format(value)


def _lift_charts(data: ReportData) -> list[str]:
    charts = []
    control = data.scorecard.control if data.scorecard else "control"
    for variant, intervals in data.lift.items():
        charts.append(line_chart(
            f"lift-{variant}",
            f"Cumulative lift of {data.primary}: {variant} (sequential, always valid)",
            data.days,
            [Series(f"{variant} vs {control}", [i.estimate if i else None for i in intervals])],
            Band("95% confidence sequence", [i.lower if i else None for i in intervals],
                         [i.upper if i else None for i in intervals]),
            percent=True, zero_line=True, partial_last_day=data.partial_last_day,
        ))  # fmt: skip
    return charts


def _daily_charts(data: ReportData) -> list[str]:
    variants = data.experiment.variant_keys()
    partial = data.partial_last_day
    charts = [line_chart(
        "exposures", "Exposed users per day", data.days,
        [  # a variant no one was exposed to yet (a draft) is a line of zeros
            Series(v, [float(n) for n in data.exposed_per_day.get(v) or [0] * len(data.days)])
            for v in variants
        ],
        partial_last_day=partial,
    )]  # fmt: skip
    for metric, per_variant in data.means.items():
        level = data.experiment.metric(metric).quantile
        what = "mean" if level is None else f"p{level * 100:g}"
        charts.append(line_chart(
            f"means-{metric}", f"{metric}: cumulative {what} per variant at the end of each day",
            data.days, [Series(v, per_variant.get(v) or [None] * len(data.days)) for v in variants],
            partial_last_day=partial,
        ))  # fmt: skip
    return charts


def _srm_section(data: ReportData) -> str:
    card = data.scorecard
    if card is None:
        return "<p>No exposed users yet.</p>"
    variants = data.experiment.variant_keys()
    observed = [float(card.users.get(v, 0)) for v in variants]
    expected = list(card.srm.expected) if len(card.srm.expected) == len(variants) else [math.nan] * len(variants)  # fmt: skip
    verdict = (
        '<span class="bad">sample ratio mismatch: do not trust the results</span>'
        if card.srm.mismatch
        else '<span class="good">no sample ratio mismatch detected</span>'
    )
    return (
        f"<p>Chi-square p-value {_fmt(card.srm.p_value)} (threshold 0.001): {verdict}.</p>"
        + bar_chart(
            "srm-users",
            "Users per variant: observed vs expected from the weights",
            variants,
            [Series("observed", observed), Series("expected", expected)],
        )
        + line_chart(
            "srm-p",
            "SRM p-value over time",
            data.days,
            [Series("p-value", data.srm_p_values)],
            partial_last_day=data.partial_last_day,
        )
    )


def _segment_section(data: ReportData) -> str:
    if not data.segments:
        return "<p>No segments.</p>"
    rows = "".join(
        f"<tr><td>{escape(r.segment)}</td><td>{escape(r.variant)}</td>"
        f"<td>{sum(r.users.values())}</td><td>{_fmt(r.control_mean)}</td><td>{_fmt(r.variant_mean)}</td>"
        f"<td>{_fmt(r.lift.estimate, '{:+.2%}')}</td>"
        f"<td>[{_fmt(r.lift.lower, '{:+.2%}')}, {_fmt(r.lift.upper, '{:+.2%}')}]</td></tr>"
        for r in data.segments
    )
    plot = forest_plot(
        "segments",
        f"Lift of {data.primary} by {data.segment_key} (fixed-horizon 95% CI)",
        [(f"{r.segment} / {r.variant}", r.lift.estimate, r.lift.lower, r.lift.upper) for r in data.segments],
    )  # fmt: skip
    header = "<tr><th>segment</th><th>variant</th><th>users</th><th>control</th><th>variant</th><th>lift</th><th>95% CI</th></tr>"  # fmt: skip
    return plot + f"<table>{header}{rows}</table>"


def _scorecard_table(data: ReportData) -> str:
    if data.scorecard is None:
        return ""
    rows = "".join(
        f"<tr><td>{escape(r.label)} ({escape(r.role)})</td><td>{escape(r.variant)}</td>"
        f"<td>{_fmt(r.control_mean)}</td><td>{_fmt(r.variant_mean)}</td>"
        f"<td>{_fmt(r.lift, '{:+.2%}')}</td><td>[{_fmt(r.ci_lower, '{:+.2%}')}, {_fmt(r.ci_upper, '{:+.2%}')}]</td>"
        f"<td>{_fmt(r.adjusted_p_value)}</td><td>{escape(r.direction)}</td>{_impact_cells(r.impact)}</tr>"
        for r in data.scorecard.rows
    )
    days = data.scorecard.planned_days
    header = f"<tr><th>metric</th><th>variant</th><th>control</th><th>variant</th><th>lift</th><th>confidence sequence</th><th>p (adj.)</th><th>verdict</th><th>impact / day at 100 %</th><th>over {days:g} days</th></tr>"  # fmt: skip
    note = "<p>Impact: change of the metric's total if the variant shipped to all traffic (the lift x the control mean x units a day at 100 % traffic), with the lift's interval scaled alike.</p>"  # fmt: skip
    return f"<h2>Scorecard ({escape(data.scorecard.engine)} engine)</h2><table>{header}{rows}</table>{note}"


def _impact_cells(impact: ProjectedImpact | None) -> str:
    if impact is None or not impact.ok:
        return "<td></td><td></td>"
    day = f"{signed(impact.per_day)} [{signed(impact.per_day_lower)}, {signed(impact.per_day_upper)}]"  # fmt: skip
    total = f"{signed(impact.over_planned_days)} [{signed(impact.over_planned_days_lower)}, {signed(impact.over_planned_days_upper)}]"  # fmt: skip
    return f"<td>{day}</td><td>{total}</td>"


def render_report(data: ReportData, generated_at: datetime) -> str:
    """The whole HTML document."""
    experiment = data.experiment
    weights = ", ".join(f"{v.key} {v.weight:g}" for v in experiment.variants)
    body = [
        f"<h1>{escape(experiment.name)} <small>({escape(experiment.key)})</small></h1>",
        f'<p class="meta">Status {escape(str(experiment.status))} &middot; variants {escape(weights)} '
        f"&middot; from the event log up to position {data.position} &middot; generated "
        f"{generated_at:%Y-%m-%d %H:%M} UTC &middot; statistics engine {ENGINE_VERSION}</p>",
        f"<p>{escape(experiment.hypothesis)}</p>",
        "<h2>Cumulative lift with its confidence sequence</h2>",
        *(_lift_charts(data) or ["<p>No exposed users yet.</p>"]),
        "<h2>Daily metrics per variant</h2>",
        *_daily_charts(data),
        "<h2>Sample ratio mismatch (SRM)</h2>",
        _srm_section(data),
        f"<h2>Segments by {escape(data.segment_key)}</h2>",
        _segment_section(data),
        _scorecard_table(data),
    ]
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(experiment.key)} report</title><style>{STYLE}</style></head>"
        f"<body>{''.join(body)}<script>{SCRIPT}</script></body></html>"
    )


def build_report(
    app: NeonBlue, key: str, segment_key: str = "source", engine: str = "sequential"
) -> str:
    """The report of experiment ``key`` from the event log, as an HTML string."""
    return render_report(report_data(app, key, segment_key, engine), datetime.now(UTC))
