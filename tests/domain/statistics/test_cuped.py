"""CUPED against raw-data computations (numpy cov, scipy/statsmodels Welch tests)."""

from functools import partial

import pytest

from domain.statistics import (
    RegressionAdjustedRatioStatistic,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
    estimate_theta,
    variance_reduction,
    welch_ttest,
)

pytestmark = pytest.mark.filterwarnings("error")
approx = partial(pytest.approx, abs=1e-6)
S = SampleMeanStatistic

# y = 2 + 0.8 x + noise, x ~ N(10, 3); sums of the raw (rounded) data.
CONTROL = RegressionAdjustedStatistic(
    n=80,
    post_statistic=S(80, 814.93, 9002.2797),
    pre_statistic=S(80, 804.1, 8618.867),
    post_pre_sum_of_products=8628.199799999999,
)
TREATMENT = RegressionAdjustedStatistic(
    n=90,
    post_statistic=S(90, 967.3, 11149.205600000001),
    pre_statistic=S(90, 883.9399999999999, 9275.4212),
    post_pre_sum_of_products=9963.8382,
)


def test_theta_is_pooled_regression_slope():
    # numpy.cov of the pooled raw (y, x)
    assert estimate_theta(CONTROL, TREATMENT) == approx(0.7902932662579036)


def test_absolute_matches_welch_on_adjusted_raw_data():
    # reference: y - theta (x - mean x), then statsmodels CompareMeans(usevar="unequal")
    result = welch_ttest(CONTROL, TREATMENT, "absolute")
    assert result.estimate == approx(0.7426787505190706)
    assert result.std_error == approx(0.32163596155557894)
    assert result.p_value == approx(0.022173942438812377)
    assert result.dof == approx(165.7874406078843)
    assert result.ci_lower == approx(0.10764831434543054)
    assert result.ci_upper == approx(1.3777091866927142)


def test_relative_divides_by_unadjusted_control_mean():
    # by hand on raw data: delta method on (adjusted difference, control post mean)
    result = welch_ttest(CONTROL, TREATMENT, "relative")
    assert result.estimate == approx(0.07290724361788822)
    assert result.std_error == approx(0.03288839991726482)


def test_adjustment_reduces_variance():
    plain = welch_ttest(CONTROL.post_statistic, TREATMENT.post_statistic, "absolute")
    adjusted = welch_ttest(CONTROL, TREATMENT, "absolute")
    assert adjusted.std_error < 0.75 * plain.std_error
    assert variance_reduction(CONTROL, estimate_theta(CONTROL, TREATMENT)) > 0.4


def test_given_theta_is_used():
    fixed = RegressionAdjustedStatistic(**{**CONTROL.__dict__, "theta": 0.0})
    result = welch_ttest(fixed, TREATMENT, "absolute")
    plain = welch_ttest(CONTROL.post_statistic, TREATMENT.post_statistic, "absolute")
    assert result.estimate == approx(plain.estimate)
    assert result.std_error == approx(plain.std_error)


def _ratio(n, m_post, d_post, m_pre, d_pre, products):
    return RegressionAdjustedRatioStatistic(
        n, S(n, *m_post), S(n, *d_post), S(n, *m_pre), S(n, *d_pre), *products
    )


RATIO_CONTROL = _ratio(
    70,
    (1153.4899999999996, 32642.57509999999),
    (276.0, 1242.0),
    (1110.31, 37690.7179),
    (270.0, 1218.0),
    (27908.755999999998, 1061.0, 4969.9400000000005, 5384.099999999999, 4357.43, 4402.849999999999),
)
RATIO_TREATMENT = _ratio(
    75,
    (1281.95, 39782.356100000005),
    (307.0, 1459.0),
    (1196.8400000000001, 34218.255000000005),
    (302.0, 1436.0),
    (30968.0918, 1209.0, 5564.2, 6117.65, 4910.92, 4894.989999999999),
)


def test_ratio_cuped_matches_linearised_raw_data():
    # reference: influence functions (m - R d)/mean(d) of post and pre ratios on raw data,
    # theta = cov/var on pooled influences, Welch on psi_post - theta psi_pre
    assert estimate_theta(RATIO_CONTROL, RATIO_TREATMENT) == approx(0.6810832252343387)
    result = welch_ttest(RATIO_CONTROL, RATIO_TREATMENT, "absolute")
    assert result.estimate == approx(0.09804770911774119)
    assert result.std_error == approx(0.3269620510169748)
    assert result.p_value == approx(0.7647093576528547)
