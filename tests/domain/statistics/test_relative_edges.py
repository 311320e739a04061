"""A treatment mean of exactly 0 on the relative scale: an error code, never a result.

Under the delta method the relative lift ``0 / m_c - 1 = -1`` then has variance exactly 0
(its three terms cancel); before the fix rounding left a positive residue for about a
quarter of control counts, which came out as a CI ~1e-8 wide and p = 0.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.statistics import (
    AnalysisOptions,
    ErrorCode,
    ProportionStatistic,
    SampleMeanStatistic,
    analyze_experiment,
    estimate_effect,
    proportion_moments,
)

ENGINES = ("frequentist", "sequential", "bayesian")


@pytest.mark.parametrize("n", [100, 1000])
@pytest.mark.parametrize("engine", ENGINES)
def test_every_control_count_with_zero_treatment_is_zero_variance(n, engine):
    options = AnalysisOptions(engine=engine, difference_type="relative")
    for conversions in range(1, n + 1):
        (result,) = analyze_experiment(
            ProportionStatistic(n, conversions), [ProportionStatistic(n, 0)], options
        )
        assert result.error == ErrorCode.ZERO_VARIANCE, conversions
        assert np.isnan(result.ci_lower) and np.isnan(result.estimate)


def test_vectorised_grid_at_n_10000():
    counts = np.arange(1, 10_001)
    effect = estimate_effect(
        proportion_moments(10_000, counts), proportion_moments(10_000, 0 * counts), "relative"
    )
    assert (effect.error_code == ErrorCode.ZERO_VARIANCE).all()


def test_one_treatment_conversion_still_gives_a_result():
    """The tolerance is relative to the terms, so tiny real variances are kept."""
    n = 10_000
    counts = np.arange(1, n)
    effect = estimate_effect(
        proportion_moments(n, counts), proportion_moments(n, 1 + 0 * counts), "relative"
    )
    assert (effect.error_code == ErrorCode.NONE).all()
    p_c, p_t = counts / n, 1 / n
    # delta method, computed without cancellation: Var(p_t)/p_c^2 + p_t^2 Var(p_c)/p_c^4
    expected = p_t * (1 - p_t) / n / p_c**2 + p_t**2 * p_c * (1 - p_c) / n / p_c**4
    np.testing.assert_allclose(effect.variance, expected, rtol=1e-6)


@settings(max_examples=300, deadline=None)
@given(
    n_control=st.integers(2, 50_000),
    share=st.floats(0.0, 1.0),
    n_treatment=st.integers(2, 50_000),
    engine=st.sampled_from(ENGINES),
)
def test_zero_treatment_mean_never_gives_a_result(n_control, share, n_treatment, engine):
    conversions = max(1, round(share * n_control))
    options = AnalysisOptions(engine=engine, difference_type="relative")
    (proportion,) = analyze_experiment(
        ProportionStatistic(n_control, conversions), [ProportionStatistic(n_treatment, 0)], options
    )
    assert proportion.error == ErrorCode.ZERO_VARIANCE
    control_mean = SampleMeanStatistic(n_control, 3.0 * conversions, 11.0 * conversions)
    (mean,) = analyze_experiment(
        control_mean, [SampleMeanStatistic(n_treatment, 0.0, 0.0)], options
    )
    assert mean.error == ErrorCode.ZERO_VARIANCE
