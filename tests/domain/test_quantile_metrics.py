"""Quantile metrics in an experiment's definition."""

import pytest

from domain.experiments.aggregate import Experiment
from domain.experiments.errors import InvalidMetric
from domain.experiments.values import Metric, MetricKind, MetricRole
from tests.factories import two_variants


@pytest.mark.parametrize(
    "metric",
    [
        Metric("p", MetricRole.GUARDRAIL, MetricKind.QUANTILE),  # no level
        Metric("p", MetricRole.GUARDRAIL, MetricKind.QUANTILE, quantile=1.0),
        Metric("p", MetricRole.SECONDARY, MetricKind.MEAN, quantile=0.9),
        Metric("p", MetricRole.SECONDARY, MetricKind.MEAN, quantile_per_user=True),
    ],
)
def test_invalid_quantile_definitions(metric):
    with pytest.raises(InvalidMetric):
        Experiment.design("q", "Q", variants=two_variants(), metrics=[metric])


def test_a_quantile_metric_survives_the_event_round_trip():
    metric = Metric("p", MetricRole.GUARDRAIL, MetricKind.QUANTILE, quantile=0.99)
    assert Metric.from_dict(metric.as_dict()) == metric
    old = {"key": "c", "role": "primary", "kind": "binomial"}  # stored before quantiles
    assert Metric.from_dict(old).quantile is None
