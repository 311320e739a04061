"""Projected impact rows of a scorecard: how much traffic and time to scale an effect by."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

from domain.experiments.aggregate import Experiment
from domain.experiments.values import Metric, MetricKind
from domain.statistics import AnalysisOptions, ProjectedImpact, Statistic, analyze_experiment
from domain.statistics.impact import projected_impact

DEFAULT_PLANNED_DAYS = 28.0


def traffic_share(experiment: Experiment) -> float:
    """Share of all traffic the experiment sees: coverage x its namespace slice."""
    namespace = experiment.namespace
    return experiment.coverage * ((namespace.end - namespace.start) if namespace else 1.0)


def observed_days(experiment: Experiment, as_of: datetime | None) -> float | None:
    """Days from start to stop (or to ``as_of`` while running); ``None`` before a start."""
    end = experiment.stopped_at or as_of
    if experiment.started_at is None or end is None:
        return None
    return max((end - experiment.started_at).total_seconds(), 0.0) / 86_400


def projected_impacts(
    metric: Metric,
    control: Statistic,
    treatments: Mapping[str, Statistic],
    options: AnalysisOptions,
    total_units: int,
    share: float,
    days: float | None,
    planned_days: float,
) -> dict[str, ProjectedImpact]:
    """Projected impact per treatment, from the absolute effect and its interval."""
    if days is None or metric.kind == MetricKind.RATIO:
        return {}
    absolute = analyze_experiment(control, treatments, replace(options, difference_type="absolute"))
    return {
        result.variant: projected_impact(
            result.estimate,
            result.ci_lower,
            result.ci_upper,
            total_units,
            share,
            days,
            planned_days,
        )
        for result in absolute
    }
