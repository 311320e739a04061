"""One rendering of a scorecard for every command that prints results."""

from __future__ import annotations

import math
from collections.abc import Callable

from rich.table import Table

from domain.analysis import MetricRow, Scorecard
from domain.analysis.impact import signed
from domain.statistics import ProjectedImpact
from infrastructure.cli.console import shown
from infrastructure.cli.tables import keep_whole


def scorecard_table(
    card: Scorecard, title: str | None = None, truth: Callable[[MetricRow], str] | None = None
) -> Table:
    """Every metric x treatment: means, lift with its interval, adjusted p (or chance to
    win), verdict, projected impact when the experiment has run; ``truth`` adds a column
    (e.g. the simulated true lift)."""
    srm = "[red]sample ratio mismatch[/]" if card.srm.mismatch else "no SRM"
    heading = (
        f"{title or shown(card.experiment_key)} ({card.engine}, {card.total_users:,} users, {srm})"
    )
    columns = ["variant", "metric", "control -> variant", "lift [95% CI]", "adj. p / P(win)"]
    correction = CORRECTIONS.get(card.correction, card.correction)
    caption = f"p adjusted for the number of metrics ({correction}); intervals are per metric"
    impact = any(row.impact is not None for row in card.rows)
    if impact:
        caption += (
            f"; impact: change of the metric's total a day if shipped to 100 % of traffic "
            f"(x{card.planned_days:g} for the planned {card.planned_days:g} days)"
        )
    table = Table(
        *columns,
        "verdict",
        *(["impact / day [CI]"] if impact else []),
        *(["truth"] if truth else []),
        title=heading,
        title_justify="left",
        show_edge=False,  # two more columns for the numbers at 80 columns
        caption=caption,
        caption_justify="left",
    )
    for row in card.rows:
        stat = (
            row.adjusted_p_value
            if row.adjusted_p_value is not None
            else (row.chance_to_beat_control)
        )
        cells = [
            shown(row.variant),
            shown(row.label),
            f"{number(row.control_mean)} -> {number(row.variant_mean)}",
            shown(f"{percent(row.lift)} [{percent(row.ci_lower)}, {percent(row.ci_upper)}]"),
            "" if stat is None else f"{stat:.3f}" if math.isfinite(stat) else "n/a",
            verdict(row),
            *([shown(impact_cell(row.impact))] if impact else []),
        ]
        table.add_row(*cells, *([truth(row)] if truth else []))
    return keep_whole(table, "variant", "metric", "verdict", "truth")


CORRECTIONS = {"holm": "Holm", "benjamini-hochberg": "Benjamini-Hochberg"}


def number(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return ""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}" if abs(value) >= 1 else f"{value:.3f}"


def impact_cell(impact: ProjectedImpact | None) -> str:
    if impact is None or not impact.ok:
        return ""
    return (
        f"{signed(impact.per_day)} [{signed(impact.per_day_lower)}, {signed(impact.per_day_upper)}]"
    )


def percent(value: float) -> str:
    return f"{value:+.1%}" if math.isfinite(value) else "n/a"


def verdict(row: MetricRow) -> str:
    if row.error:
        return f"[yellow]{shown(row.error)}[/]"
    if row.guardrail is not None:
        colour = {"pass": "green", "fail": "red"}.get(row.guardrail.status, "yellow")
        return f"[{colour}]guardrail {row.guardrail.status}[/]"
    return {"better": "[green]better[/]", "worse": "[red]worse[/]"}.get(row.direction, "flat")
