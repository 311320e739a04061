"""Projected impact rows of a scorecard: how much traffic and time to scale an effect by."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

from domain.experiments.aggregate import Experiment
from domain.experiments.values import Metric, MetricKind
from domain.statistics import ProjectedImpact, VariantResult
from domain.statistics.impact import projected_impact

DEFAULT_PLANNED_DAYS = 28.0


def describe_impact(metric: str, variant: str, impact: ProjectedImpact) -> str:
    """One sentence for findings and narratives."""
    day, low, high = map(signed, (impact.per_day, impact.per_day_lower, impact.per_day_upper))
    return (
        f"Shipping {variant} at 100 % traffic would change the {metric} total by {day} a day "
        f"(interval {low} to {high}), {signed(impact.over_planned_days)} over "
        f"{impact.planned_days:g} days."
    )


def signed(value: float) -> str:
    """A signed amount: whole numbers from 100 on, 3 significant digits below."""
    if not math.isfinite(value):
        return "n/a"
    return f"{value:+,.0f}" if abs(value) >= 100 else f"{value:+.3g}"


def traffic_share(experiment: Experiment) -> float:
    """Share of all traffic the experiment sees: coverage x its namespace slice."""
    namespace = experiment.namespace
    return experiment.coverage * ((namespace.end - namespace.start) if namespace else 1.0)


def observed_days(experiment: Experiment, as_of: datetime | None) -> float | None:
    """Days from start to stop or to ``as_of``, whichever is first; ``None`` before a start."""
    ends = [t for t in (experiment.stopped_at, as_of) if t is not None]
    end = min(ends) if ends else None
    if experiment.started_at is None or end is None:
        return None
    return max((end - experiment.started_at).total_seconds(), 0.0) / 86_400


def projected_impacts(
    metric: Metric,
    results: Sequence[VariantResult],
    total_units: int,
    share: float,
    days: float | None,
    planned_days: float,
) -> dict[str, ProjectedImpact]:
    """Projected impact per treatment, from the row's own effect and interval.

    A relative effect and its interval are turned into amounts per unit by the control
    mean: the impact then carries the control mean's uncertainty as the lift does, so the
    two never disagree in sign (an interval of the absolute difference alone is narrower,
    and could exclude zero beside a lift that does not)."""
    if days is None or metric.kind in (MetricKind.RATIO, MetricKind.QUANTILE):
        return {}
    impacts = {}
    for result in results:
        scale = result.control_mean if result.difference_type == "relative" else 1.0
        if result.error:
            effect, lower, upper = math.nan, math.nan, math.nan
        else:
            effect, lower, upper = (
                value * scale for value in (result.estimate, result.ci_lower, result.ci_upper)
            )
        impacts[result.variant] = projected_impact(
            effect, lower, upper, total_units, share, days, planned_days
        )
    return impacts
