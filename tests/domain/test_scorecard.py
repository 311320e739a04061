"""The scorecard wires experiment definitions to the statistics engine correctly."""

from __future__ import annotations

import pytest
from scipy import stats

from domain.analysis import VariantSums, build_scorecard
from domain.experiments.aggregate import Experiment
from domain.experiments.values import Metric, MetricKind, MetricRole, Variant
from domain.statistics import AnalysisOptions
from tests.factories import conversion_metrics, two_variants


def experiment(metrics=None, variants=None) -> Experiment:
    return Experiment.design(
        "exp", "Exp", variants=variants or two_variants(), metrics=metrics or conversion_metrics()
    )


def sums(users, conversions, revenue=0.0, revenue_sq=0.0) -> VariantSums:
    return VariantSums(
        users=users,
        sums={"conversion": conversions, "revenue": revenue},
        sums_of_squares={"conversion": conversions, "revenue": revenue_sq},
    )


def test_binomial_primary_matches_an_independent_welch_test():
    card = build_scorecard(
        experiment(metrics=[Metric("conversion", MetricRole.PRIMARY, MetricKind.BINOMIAL)]),
        {"control": sums(5000, 600), "treatment": sums(5000, 700)},
        AnalysisOptions(difference_type="absolute"),
    )
    (row,) = card.rows
    # Welch t-test on the 0/1 outcomes, from summary statistics (independent computation)
    p_c, p_t = 600 / 5000, 700 / 5000
    sd = lambda p: (p * (1 - p) * 5000 / 4999) ** 0.5  # noqa: E731 - sample sd of 0/1 data
    expected = stats.ttest_ind_from_stats(p_t, sd(p_t), 5000, p_c, sd(p_c), 5000, equal_var=False)
    assert row.lift == pytest.approx(0.02)
    assert row.p_value == pytest.approx(expected.pvalue, rel=1e-3)
    assert row.significant and row.direction == "better"
    assert card.users == {"control": 5000, "treatment": 5000}
    assert not card.srm.mismatch


def test_srm_is_flagged():
    card = build_scorecard(experiment(), {"control": sums(5000, 600), "treatment": sums(4500, 540)})
    assert card.srm.mismatch and card.srm.p_value < 0.001


def test_p_values_are_holm_adjusted_across_metrics_and_variants():
    card = build_scorecard(
        experiment(
            metrics=[
                Metric("conversion", MetricRole.PRIMARY, MetricKind.BINOMIAL),
                Metric("revenue", MetricRole.SECONDARY, MetricKind.MEAN),
            ],
            variants=[
                Variant("control", "C", 0.34),
                Variant("a", "A", 0.33),
                Variant("b", "B", 0.33),
            ],
        ),
        {
            "control": sums(3000, 300, 3000, 9000),
            "a": sums(3000, 340, 3100, 9400),
            "b": sums(3000, 380, 3050, 9300),
        },
    )
    raw = sorted(r.p_value for r in card.rows)
    adjusted = sorted(r.adjusted_p_value for r in card.rows)
    assert adjusted[0] == pytest.approx(min(1.0, raw[0] * 4))  # Holm: smallest p times m
    assert all(a >= r for a, r in zip(adjusted, raw, strict=True))


def test_guardrail_lower_is_better_fails_when_clearly_worse():
    latency = Metric(
        "page_load_ms", MetricRole.GUARDRAIL, MetricKind.MEAN, higher_is_better=False, margin=0.05
    )
    primary = Metric("conversion", MetricRole.PRIMARY, MetricKind.BINOMIAL)
    n = 4000
    control = VariantSums(
        n,
        {"conversion": 400, "page_load_ms": 1200.0 * n},
        {"conversion": 400, "page_load_ms": (1200.0**2 + 90_000) * n},
    )
    slower = VariantSums(
        n,
        {"conversion": 400, "page_load_ms": 1450.0 * n},
        {"conversion": 400, "page_load_ms": (1450.0**2 + 90_000) * n},
    )
    card = build_scorecard(
        experiment(metrics=[primary, latency]), {"control": control, "treatment": slower}
    )
    assert [r.metric for r in card.failing_guardrails()] == ["page_load_ms"]
    guard = card.failing_guardrails()[0]
    assert guard.direction == "worse" and guard.lift == pytest.approx(1450 / 1200 - 1)


def test_ratio_metric_uses_the_delta_method_inputs():
    rps = Metric(
        "rps", MetricRole.PRIMARY, MetricKind.RATIO, numerator="revenue", denominator="sessions"
    )
    data = {
        variant: VariantSums(
            1000,
            {"revenue": rev, "sessions": 3000.0},
            {"revenue": rev * 12, "sessions": 9500.0},
            {("revenue", "sessions"): rev * 3.2},
        )
        for variant, rev in (("control", 10_000.0), ("treatment", 11_000.0))
    }
    (row,) = build_scorecard(experiment(metrics=[rps]), data).rows
    assert row.control_mean == pytest.approx(10_000 / 3000)
    assert row.variant_mean == pytest.approx(11_000 / 3000)
    assert row.lift == pytest.approx(0.1)


def test_missing_variant_data_is_an_error_row_not_an_exception():
    card = build_scorecard(experiment(), {"control": sums(100, 10)})
    assert all(row.error for row in card.rows if row.variant == "treatment")
    assert card.users["treatment"] == 0
