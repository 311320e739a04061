"""The CLI's --metric spec for quantile metrics."""

import pytest

from domain.experiments.values import Metric, MetricKind, MetricRole
from infrastructure.cli.parsing import SpecError, parse_metric


def test_spec_of_an_event_level_and_a_per_user_quantile():
    p90 = parse_metric("page_load_ms:guardrail:quantile=0.9:lower-is-better:margin=0.05")
    assert p90 == Metric(
        "page_load_ms", MetricRole.GUARDRAIL, MetricKind.QUANTILE, higher_is_better=False,
        margin=0.05, quantile=0.9,
    )  # fmt: skip
    median = parse_metric("basket:quantile=0.5:per-user")
    assert (median.kind, median.quantile, median.quantile_per_user) == ("quantile", 0.5, True)
    with pytest.raises(SpecError, match="quantile needs a level"):
        parse_metric("page_load_ms:quantile=p90")
