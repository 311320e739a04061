"""Experiment-level analysis: an experiment's definition plus GROUP BY sums -> a scorecard."""

from domain.analysis.scorecard import MetricRow, Scorecard, VariantSums, build_scorecard

__all__ = ["MetricRow", "Scorecard", "VariantSums", "build_scorecard"]
