"""Non-inferiority against statsmodels.stats.weightstats.ttest_ind(value=margin)."""

from functools import partial

import pytest

from domain.statistics import ErrorCode, SampleMeanStatistic, non_inferiority_test

pytestmark = pytest.mark.filterwarnings("error")
approx = partial(pytest.approx, abs=1e-6)
CONTROL = SampleMeanStatistic(n=40, sum=370.51, sum_squares=4200.0635)
TREATMENT = SampleMeanStatistic(n=50, sum=525.08, sum_squares=8264.5468)


def test_higher_is_better_margin():
    # ttest_ind(t, c, alternative="larger", usevar="unequal", value=-1.0)
    result = non_inferiority_test(CONTROL, TREATMENT, 1.0, "absolute")
    assert result.p_value == approx(0.0409280662718254)
    assert result.bound == approx(-0.8754469052604623)
    assert result.status == "pass"


def test_inverse_metric_margin():
    # ttest_ind(t, c, alternative="smaller", usevar="unequal", value=5.0)
    result = non_inferiority_test(CONTROL, TREATMENT, 5.0, "absolute", inverse=True)
    assert result.p_value == approx(0.0020148496511509955)
    assert result.status == "pass"


def test_statuses():
    assert non_inferiority_test(CONTROL, TREATMENT, 0.1, "absolute").status == "inconclusive"
    harmful = non_inferiority_test(TREATMENT, CONTROL, 0.01, "relative")  # swap: -12%
    assert harmful.status == "inconclusive"
    big_c = SampleMeanStatistic(4000, 37051.0, 420006.35)
    big_t = SampleMeanStatistic(4000, 33000.0, 340000.0)
    assert non_inferiority_test(big_c, big_t, 0.02, "relative").status == "fail"
    assert non_inferiority_test(big_c, big_t, 1.0, "absolute", inverse=True).status == "pass"
    bad = non_inferiority_test(CONTROL, TREATMENT, -1.0)
    assert bad.error == ErrorCode.INVALID_INPUT
