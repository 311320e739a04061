"""Property checks over random sufficient statistics (hypothesis)."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.statistics import SampleMeanStatistic, sequential_test, welch_ttest

pytestmark = pytest.mark.filterwarnings("error")


@st.composite
def mean_statistics(draw):
    n = draw(st.integers(2, 100_000))
    mean = draw(st.floats(0.1, 1_000.0))
    sd = draw(st.floats(0.01, 1_000.0))
    return SampleMeanStatistic(n, n * mean, (n - 1) * sd**2 + n * mean**2)


@settings(max_examples=200, deadline=None)
@given(mean_statistics(), mean_statistics(), st.sampled_from(["absolute", "relative"]))
def test_p_value_agrees_with_interval(control, treatment, difference_type):
    for test in (welch_ttest, sequential_test):
        result = test(control, treatment, difference_type)
        assert result.ok
        assert 0.0 <= result.p_value <= 1.0
        excludes_zero = result.ci_lower > 0 or result.ci_upper < 0
        margin = 1e-9 * max(1.0, abs(result.estimate))
        if abs(result.ci_lower) > margin and abs(result.ci_upper) > margin:
            assert (result.p_value < 0.05) == excludes_zero


@settings(max_examples=100, deadline=None)
@given(mean_statistics(), mean_statistics())
def test_swapping_arms_negates_absolute_effect(control, treatment):
    forward = welch_ttest(control, treatment, "absolute")
    backward = welch_ttest(treatment, control, "absolute")
    assert forward.estimate == pytest.approx(-backward.estimate, rel=1e-9, abs=1e-9)
    assert math.isclose(forward.p_value, backward.p_value, rel_tol=1e-6, abs_tol=1e-12)
