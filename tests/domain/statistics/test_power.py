"""Power, sample size and MDE against statsmodels NormalIndPower; conditional power by hand."""

import math
from functools import partial

import pytest

from domain.statistics import (
    ErrorCode,
    ProportionStatistic,
    conditional_power,
    minimum_detectable_effect,
    power_of_test,
    predict_significance,
    proportion_sample_size,
    sample_size_per_arm,
)

pytestmark = pytest.mark.filterwarnings("error")
approx = partial(pytest.approx, abs=1e-6)


def test_sample_size_matches_statsmodels():
    # brentq(lambda n: NormalIndPower().power(0.2, n, 0.05) - 0.8, ...)
    assert sample_size_per_arm(0.2, 1.0) == approx(392.44302546630996)
    # ... power(0.2, n, 0.05, ratio=2, alternative="larger")
    assert sample_size_per_arm(0.2, 1.0, alternative="greater", allocation_ratio=2) == approx(
        231.84589620074146
    )


def test_mde_matches_statsmodels():
    assert minimum_detectable_effect(500, 500, 1.0) == approx(0.177187589964153)
    assert power_of_test(0.177187589964153, (2 / 500) ** 0.5) == approx(0.8)


def test_proportion_sample_size_by_hand():
    # one-sided closed form: (z_0.95 + z_0.8)^2 (p0 q0 + p1 q1) / (p1 - p0)^2
    n = proportion_sample_size(0.10, 0.10, alternative="greater")
    assert n == approx(11617.025038965154)


def test_conditional_power_b_value():
    # Lan-Wittes B-value with scipy.stats.norm (two tails summed)
    current = conditional_power(0.1, 0.06, 1000, 2000)
    assert current.conditional_power == approx(0.7127803870517886 + 5.135498989255326e-10)
    assert current.information_fraction == approx(0.5)
    null = conditional_power(0.1, 0.06, 1000, 2000, assumed_effect=0.0)
    assert null.conditional_power == approx(0.13454925254176725 + 4.529939662122239e-06)
    one_sided = conditional_power(0.05, 0.04, 3000, 4000, alternative="greater")
    assert one_sided.conditional_power == approx(0.3434903306267835)


def test_conditional_power_edges():
    assert conditional_power(0.1, 0.02, 500, 500).conditional_power == 1.0
    assert conditional_power(0.1, 0.0, 500, 600).error == ErrorCode.INVALID_INPUT


def test_predict_significance_uses_current_traffic():
    control, treatment = ProportionStatistic(2000, 210), ProportionStatistic(2100, 262)
    now = predict_significance(control, treatment, daily_units=0, days_remaining=10)
    later = predict_significance(control, treatment, daily_units=400, days_remaining=10)
    assert now.information_fraction == 1.0
    assert later.information_fraction == approx(4100 / 8100)
    assert later.conditional_power > 0.5
    bad = predict_significance(ProportionStatistic(1, 0), treatment, 100, 10)
    assert bad.error == ErrorCode.N_TOO_SMALL


@pytest.mark.parametrize(
    ("z_now", "fraction", "expected"),
    [
        # reference: scipy.integrate.quad of conditional power over the flat-prior
        # posterior of the drift, N(B(t)/t, 1/t), computed independently
        (1.3, 3 / 28, 0.777000),
        (1.87, 3 / 28, 0.907142),
        (0.5, 0.5, 0.108955),
        (2.5, 0.8, 0.952564),
    ],
)
def test_predictive_power_matches_numerical_integration(z_now, fraction, expected):
    from domain.statistics import predictive_power

    assert predictive_power(z_now, fraction) == pytest.approx(expected, abs=1e-6)


def test_predictive_power_edges():
    from domain.statistics import predictive_power

    assert predictive_power(2.5, 1.0) == 1.0 and predictive_power(1.0, 1.0) == 0.0
    assert math.isnan(predictive_power(float("nan"), 0.5))
    # one-sided tests have a lower critical value, so a positive trend is likelier to pass
    assert predictive_power(1.0, 0.5, two_sided=False) > predictive_power(1.0, 0.5)
