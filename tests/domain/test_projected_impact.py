"""Projected impact of shipping, checked by hand against the experiment's numbers."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from domain.analysis import VariantSums, build_scorecard
from domain.experiments.aggregate import Experiment
from domain.experiments.values import Metric, MetricKind, MetricRole, Namespace
from domain.statistics import AnalysisOptions, projected_impact
from tests.factories import two_variants

START = datetime(2026, 1, 1, tzinfo=UTC)


def running(coverage=0.5, namespace=None) -> Experiment:
    experiment = Experiment.design(
        "impact",
        "Impact",
        variants=two_variants(),
        metrics=[
            Metric("conversion", MetricRole.PRIMARY, MetricKind.BINOMIAL),
            Metric("revenue", MetricRole.SECONDARY, MetricKind.MEAN),
            Metric("rps", MetricRole.SECONDARY, MetricKind.RATIO, "revenue", "conversion"),
        ],
        coverage=coverage,
        namespace=namespace,
    )
    experiment.start(START)
    return experiment


DATA = {
    "control": VariantSums(
        users=5000,
        sums={"conversion": 600, "revenue": 9000.0},
        sums_of_squares={"conversion": 600, "revenue": 9000.0 * 40},
        products={("revenue", "conversion"): 9000.0},
    ),
    "treatment": VariantSums(
        users=5000,
        sums={"conversion": 700, "revenue": 9600.0},
        sums_of_squares={"conversion": 700, "revenue": 9600.0 * 40},
        products={("revenue", "conversion"): 9600.0},
    ),
}


def test_binomial_impact_by_hand():
    as_of = datetime(2026, 1, 11, tzinfo=UTC)  # 10 days at 50 % coverage
    card = build_scorecard(running(), DATA, AnalysisOptions(), as_of=as_of, planned_days=28)
    row = next(r for r in card.rows if r.metric == "conversion")
    # 10,000 users over 10 days at 50 % traffic: 2,000 users a day at 100 %.
    p_c, p_t = 600 / 5000, 700 / 5000
    # the relative interval by the delta method, in conversions per user (x control mean)
    var_c, var_t = p_c * (1 - p_c) / 5000, p_t * (1 - p_t) / 5000
    lift = p_t / p_c - 1
    variance = var_t / p_c**2 + p_t**2 * var_c / p_c**4
    dof = (var_c + var_t) ** 2 / (var_c**2 / 4999 + var_t**2 / 4999)
    half = stats.t.ppf(0.975, dof) * math.sqrt(variance)
    assert card.days_observed == pytest.approx(10.0)
    assert row.impact.units_per_day == pytest.approx(2000.0)
    assert row.impact.per_day == pytest.approx(0.02 * 2000)  # 40 more conversions a day
    assert (row.ci_lower, row.ci_upper) == pytest.approx((lift - half, lift + half), rel=1e-9)
    assert row.impact.per_day_lower == pytest.approx((lift - half) * p_c * 2000, rel=1e-9)
    assert row.impact.per_day_upper == pytest.approx((lift + half) * p_c * 2000, rel=1e-9)
    assert row.impact.over_planned_days == pytest.approx(40 * 28)
    assert row.impact.over_planned_days_upper == pytest.approx((lift + half) * p_c * 2000 * 28)
    assert row.lift == pytest.approx(700 / 600 - 1)  # the row itself stays relative


@settings(max_examples=60, deadline=None)
@given(
    users=st.integers(20, 5000),
    control=st.floats(0.01, 0.6),
    change=st.floats(-0.5, 0.5),
    engine=st.sampled_from(["frequentist", "sequential", "bayesian"]),
)
def test_impact_and_lift_never_disagree_in_sign(users, control, change, engine):
    """The impact interval is the lift's, in amounts: where the lift's interval holds zero,
    so does the impact's (an absolute-difference interval could exclude it)."""
    converted = round(users * control)
    treated = min(users, max(0, round(users * control * (1 + change))))
    data = {
        "control": VariantSums(users=users, sums={"conversion": converted},
                               sums_of_squares={"conversion": converted}),
        "treatment": VariantSums(users=users, sums={"conversion": treated},
                                 sums_of_squares={"conversion": treated}),
    }  # fmt: skip
    card = build_scorecard(
        running(), data, AnalysisOptions(engine=engine), as_of=datetime(2026, 1, 8, tzinfo=UTC)
    )
    row = next(r for r in card.rows if r.metric == "conversion")
    if row.error:
        assert not row.impact.ok
        return
    for lift, amount in ((row.ci_lower, row.impact.per_day_lower),
                         (row.ci_upper, row.impact.per_day_upper),
                         (row.lift, row.impact.per_day)):  # fmt: skip
        assert math.copysign(1, lift) == math.copysign(1, amount) or lift == amount == 0


def test_mean_impact_with_a_namespace_slice_and_a_stop():
    experiment = running(coverage=0.8, namespace=Namespace("checkout", 0.0, 0.25))
    experiment.stop(datetime(2026, 1, 5, 12, tzinfo=UTC))  # 4.5 days
    card = build_scorecard(experiment, DATA, AnalysisOptions(engine="sequential"))
    row = next(r for r in card.rows if r.metric == "revenue")
    users_per_day = 10_000 / (0.8 * 0.25 * 4.5)
    assert row.impact.per_day == pytest.approx((9600 - 9000) / 5000 * users_per_day)
    assert row.impact.per_day_lower < row.impact.per_day < row.impact.per_day_upper


def test_no_projection_for_ratio_metrics_or_before_a_start():
    card = build_scorecard(running(), DATA, as_of=datetime(2026, 1, 2, tzinfo=UTC))
    assert next(r for r in card.rows if r.metric == "rps").impact is None
    draft = Experiment.design("d", "D", variants=two_variants(), metrics=running().metrics)
    assert all(r.impact is None for r in build_scorecard(draft, DATA).rows)


def test_bad_inputs_give_an_error_not_a_number():
    impact = projected_impact(0.1, 0.0, 0.2, 1000, 0.0, 3.0, 28)
    assert impact.error is not None and math.isnan(impact.per_day)
