"""One rendering of a scorecard for every command that prints results."""

from __future__ import annotations

import math
from collections.abc import Callable

from rich.table import Table

from domain.analysis import MetricRow, Scorecard


def scorecard_table(
    card: Scorecard, title: str | None = None, truth: Callable[[MetricRow], str] | None = None
) -> Table:
    """Every metric x treatment: means, lift with its interval, adjusted p (or chance to
    win), verdict; ``truth`` adds a column (e.g. the simulated true lift)."""
    srm = "[red]sample ratio mismatch[/]" if card.srm.mismatch else "no SRM"
    heading = f"{title or card.experiment_key} ({card.engine}, {card.total_users:,} users, {srm})"
    columns = ["variant", "metric", "control -> variant", "lift [95% CI]", "adj. p / P(win)"]
    correction = CORRECTIONS.get(card.correction, card.correction)
    table = Table(
        *columns,
        "verdict",
        *(["truth"] if truth else []),
        title=heading,
        title_justify="left",
        caption=f"p adjusted for the number of metrics ({correction}); intervals are per metric",
        caption_justify="left",
    )
    for row in card.rows:
        stat = (
            row.adjusted_p_value
            if row.adjusted_p_value is not None
            else (row.chance_to_beat_control)
        )
        cells = [
            row.variant,
            row.metric,
            f"{number(row.control_mean)} -> {number(row.variant_mean)}",
            f"{percent(row.lift)} [{percent(row.ci_lower)}, {percent(row.ci_upper)}]",
            "" if stat is None else f"{stat:.3f}",
            verdict(row),
        ]
        table.add_row(*cells, *([truth(row)] if truth else []))
    return table


CORRECTIONS = {"holm": "Holm", "benjamini-hochberg": "Benjamini-Hochberg"}


def number(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return ""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}" if abs(value) >= 1 else f"{value:.3f}"


def percent(value: float) -> str:
    return f"{value:+.1%}" if math.isfinite(value) else "n/a"


def verdict(row: MetricRow) -> str:
    if row.error:
        return f"[yellow]{row.error}[/]"
    if row.guardrail is not None:
        colour = {"pass": "green", "fail": "red"}.get(row.guardrail.status, "yellow")
        return f"[{colour}]guardrail {row.guardrail.status}[/]"
    return {"better": "[green]better[/]", "worse": "[red]worse[/]"}.get(row.direction, "flat")
