"""Asymptotic confidence sequences: values by hand from Waudby-Smith et al. (2023)."""

from functools import partial

import numpy as np
import pytest

from domain.statistics import (
    ArmMoments,
    ProportionStatistic,
    estimate_effect,
    sequential_arrays,
    sequential_rho,
    sequential_test,
    welch_ttest,
)

pytestmark = pytest.mark.filterwarnings("error")
approx = partial(pytest.approx, abs=1e-6)
CONTROL, TREATMENT = ProportionStatistic(2000, 210), ProportionStatistic(2100, 262)


def test_rho_formula():
    # rho^2 = (-2 log a + log(-2 log a + 1)) / N*, computed with the math module
    assert sequential_rho(0.05, 5000) == approx(0.03984006677137368)
    assert sequential_rho(0.1, 1000) == approx(0.07955413003292938)


@pytest.mark.parametrize(
    ("alpha", "tuning", "lower", "upper", "p_two", "lower_one", "p_one"),
    [
        (
            0.05,
            5000.0,
            -0.010477394056404847,
            0.05000120358021439,
            0.49561506135037864,
            -0.007883931528395293,
            0.3025292833202185,
        ),
        (
            0.1,
            1000.0,
            -0.008734244628986768,
            0.04825805415279631,
            0.7768490642367863,
            -0.006262913544008798,
            0.45678084839711647,
        ),
    ],
)
def test_confidence_sequence_and_always_valid_p_value(
    alpha, tuning, lower, upper, p_two, lower_one, p_one
):
    two = sequential_test(CONTROL, TREATMENT, "absolute", "two-sided", alpha, tuning)
    assert two.sequential
    assert two.ci_lower == approx(lower)
    assert two.ci_upper == approx(upper)
    assert two.p_value == approx(p_two)
    one = sequential_test(CONTROL, TREATMENT, "absolute", "greater", alpha, tuning)
    assert one.ci_lower == approx(lower_one)
    assert one.ci_upper == np.inf
    assert one.p_value == approx(p_one)
    less = sequential_test(CONTROL, TREATMENT, "absolute", "less", alpha, tuning)
    assert less.p_value == 1.0
    assert less.ci_upper == approx(2 * two.estimate - lower_one)


def test_strong_effect_array_form():
    effect = estimate_effect(
        ArmMoments.plain(10_000, 0.0, 0.5), ArmMoments.plain(10_000, 0.05, 0.5), "absolute"
    )  # se = 0.01, t = 20,000
    result = sequential_arrays(effect, 0.05, "two-sided", 5000)
    assert float(result.p_value) == approx(3.123758411839685e-05)
    assert float(result.ci_lower) == approx(0.018728858563120093)
    assert float(result.ci_upper) == approx(0.08127114143687991)
    greater = sequential_arrays(effect, 0.05, "greater", 5000)
    assert float(greater.p_value) == approx(1.561887732154588e-05)


def test_sequence_is_wider_than_fixed_interval_and_consistent_with_p_value():
    fixed = welch_ttest(CONTROL, TREATMENT, "relative")
    seq = sequential_test(CONTROL, TREATMENT, "relative")
    assert seq.ci_lower < fixed.ci_lower and seq.ci_upper > fixed.ci_upper
    for n_t in (2100, 8000, 20000):
        result = sequential_test(CONTROL, ProportionStatistic(n_t, n_t * 0.125), "relative")
        assert (result.p_value < 0.05) == (result.ci_lower > 0 or result.ci_upper < 0)
