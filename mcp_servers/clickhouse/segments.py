"""Rows of the segment and time-series answers, from the read model's query results."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from domain.experiments.values import Metric, MetricKind
from mcp_servers.clickhouse.models import DailyRow, SegmentRow
from mcp_servers.common.models import finite

if TYPE_CHECKING:
    from domain.analysis import VariantSums
    from domain.experiments.aggregate import Experiment


def segment_rows(
    experiment: Experiment,
    metric: Metric,
    by_segment: Mapping[tuple[str, str], Mapping[str, VariantSums]],
) -> list[SegmentRow]:
    """Each (dimension, segment) analysed on its own, as the scorecard analyses ``metric``
    (a mean, a rate, a ratio of means or a quantile): every treatment against control."""
    from domain.analysis import build_scorecard
    from domain.statistics import AnalysisOptions

    options = AnalysisOptions(engine="frequentist")
    rows = []
    for (dimension, segment), data in sorted(by_segment.items(), key=_unknown_last):
        card = build_scorecard(experiment, data, options, cuped=False, metrics=[metric])
        rows += [
            SegmentRow(
                experiment_id=experiment.key,
                metric=metric.key,
                statistic=statistic_name(metric),
                dimension=dimension,
                segment=segment or "unknown",
                variant=row.variant,
                users=sum(d.users for d in data.values()),
                control_mean=finite(row.control_mean),
                variant_mean=finite(row.variant_mean),
                relative_lift=finite(row.lift),
                ci_lower=finite(row.ci_lower),
                ci_upper=finite(row.ci_upper),
                p_value=finite(row.p_value),
                q_value=None,
                significant=False,
            )
            for row in card.rows
        ]
    return rows


def corrected(rows: list[SegmentRow], alpha: float = 0.05) -> list[SegmentRow]:
    """``rows`` with q-values: Benjamini-Hochberg across all of them (the rows of one answer
    are one family: asking for the best of many segments finds some by chance)."""
    from domain.statistics.corrections import benjamini_hochberg

    p_values = [math.nan if r.p_value is None else r.p_value for r in rows]
    q_values = benjamini_hochberg(p_values) if rows else []
    return [
        r.model_copy(update={"q_value": finite(float(q)), "significant": bool(q < alpha)})
        for r, q in zip(rows, q_values, strict=True)
    ]


def _unknown_last(item: tuple[tuple[str, str], Any]) -> tuple[str, bool, str]:
    (dimension, segment), _ = item
    return dimension, not segment, segment


def statistic_name(metric: Metric) -> str:
    """What a segment row's values are: ``mean``, ``rate``, ``ratio`` or ``p90`` (...)."""
    if metric.kind == MetricKind.QUANTILE:
        per = " of users' totals" if metric.quantile_per_user else ""
        return f"p{(metric.quantile or 0) * 100:g}{per}"
    return {MetricKind.BINOMIAL: "rate", MetricKind.RATIO: "ratio"}.get(metric.kind, "mean")


def daily_rows(daily: list[tuple[Any, ...]], exposures: list[tuple[Any, ...]]) -> list[DailyRow]:
    """Daily metric rows with exposure-based denominators (users exposed so far)."""
    first_exposed: dict[tuple[Any, str], int] = defaultdict(int)
    for day, variant, count in exposures:
        first_exposed[(day, variant)] += int(count)
    rows: list[DailyRow] = []
    cumulative_sums: dict[str, float] = defaultdict(float)
    for day, variant, users, conversions, total, squares in daily:
        exposed = sum(n for (d, v), n in first_exposed.items() if v == variant and d <= day)
        cumulative_sums[variant] += float(total)
        rows.append(
            DailyRow(
                date=day,
                variant=variant,
                users=int(users),
                conversions=int(conversions),
                sum=float(total),
                sum_squares=float(squares),
                exposed_users=first_exposed.get((day, variant), 0),
                cumulative_exposed_users=exposed,
                rate=float(total) / exposed if exposed else None,
                cumulative_sum=cumulative_sums[variant],
                cumulative_rate=cumulative_sums[variant] / exposed if exposed else None,
            )
        )
    return rows
