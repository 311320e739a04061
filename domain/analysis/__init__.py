"""Experiment-level analysis: an experiment's definition plus GROUP BY sums -> a scorecard."""

from domain.analysis.impact import (
    DEFAULT_PLANNED_DAYS,
    describe_impact,
    observed_days,
    traffic_share,
)
from domain.analysis.scorecard import MetricRow, Scorecard, VariantSums, build_scorecard

__all__ = [
    "DEFAULT_PLANNED_DAYS",
    "MetricRow",
    "Scorecard",
    "VariantSums",
    "build_scorecard",
    "describe_impact",
    "observed_days",
    "traffic_share",
]
