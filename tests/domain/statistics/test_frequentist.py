"""Welch t-test against scipy/statsmodels reference values (computed once, pasted)."""

from functools import partial

import pytest

from domain.statistics import (
    ErrorCode,
    ProportionStatistic,
    RatioStatistic,
    SampleMeanStatistic,
    welch_ttest,
)

pytestmark = pytest.mark.filterwarnings("error")

approx = partial(pytest.approx, abs=1e-6)

# Gamma-distributed samples rounded to cents; sums computed from the raw data.
CONTROL = SampleMeanStatistic(n=40, sum=370.51, sum_squares=4200.0635)
TREATMENT = SampleMeanStatistic(n=50, sum=525.08, sum_squares=8264.5468)


@pytest.mark.parametrize(
    ("alternative", "p_value", "ci_lower", "ci_upper"),
    [
        # statsmodels CompareMeans(...).ttest_ind / tconfint_diff(usevar="unequal")
        ("two-sided", 0.33251692715649755, -1.2893694800733653, 3.767069480073371),
        ("greater", 0.16625846357824878, -0.8754469052604623, float("inf")),
        ("less", 0.8337415364217512, float("-inf"), 3.353146905260468),
    ],
)
def test_absolute_mean_matches_statsmodels(alternative, p_value, ci_lower, ci_upper):
    result = welch_ttest(CONTROL, TREATMENT, "absolute", alternative)
    assert result.ok
    assert result.estimate == approx(1.2388500000000011)
    assert result.dof == approx(81.67023418486676)
    assert result.p_value == approx(p_value)
    assert result.ci_lower == approx(ci_lower)
    assert result.ci_upper == approx(ci_upper)


def test_relative_mean_uses_delta_method():
    # by hand: lift = m_t/m_c - 1, Var = v_t/(n_t m_c^2) + v_c m_t^2/(n_c m_c^4)
    result = welch_ttest(CONTROL, TREATMENT, "relative")
    assert result.estimate == approx(0.13374537799249686)
    assert result.std_error == approx(0.14304101685773268)
    assert result.ci_lower == approx(-0.15082597437883943)
    assert result.ci_upper == approx(0.41831673036383316)
    assert result.p_value == approx(0.35253743726662)


def test_proportions_absolute_matches_scipy_and_statsmodels_wald_variance():
    control, treatment = ProportionStatistic(2000, 210), ProportionStatistic(2100, 262)
    result = welch_ttest(control, treatment, "absolute")
    assert result.estimate == approx(0.019761904761904772)
    # scipy.stats.ttest_ind_from_stats with std = sqrt(p (1 - p)), equal_var=False
    assert result.p_value == approx(0.047067808955238565)
    # statsmodels test_proportions_2indep(method="wald").variance
    assert result.std_error**2 == pytest.approx(9.898577232480295e-05, rel=1e-9)


def test_proportions_relative():
    control, treatment = ProportionStatistic(2000, 210), ProportionStatistic(2100, 262)
    result = welch_ttest(control, treatment, "relative")
    assert result.estimate == approx(0.1882086167800454)
    assert result.std_error == approx(0.10360271712477433)
    assert result.ci_lower == approx(-0.014909010249731625)
    assert result.ci_upper == approx(0.39132624380982245)
    assert result.p_value == approx(0.06934565644446518)


RATIO_CONTROL = RatioStatistic(
    n=60,
    m_statistic=SampleMeanStatistic(60, 878.65, 20566.9635),
    d_statistic=SampleMeanStatistic(60, 241.0, 1181.0),
    m_d_sum_of_products=4101.830000000001,
)
RATIO_TREATMENT = RatioStatistic(
    n=70,
    m_statistic=SampleMeanStatistic(70, 1406.2000000000003, 52192.8636),
    d_statistic=SampleMeanStatistic(70, 293.0, 1443.0),
    m_d_sum_of_products=6969.650000000001,
)


def test_ratio_absolute_matches_linearised_raw_data():
    # reference: per-unit linearisation (m - R d) / mean(d) on the raw data, then scipy
    result = welch_ttest(RATIO_CONTROL, RATIO_TREATMENT, "absolute")
    assert result.estimate == approx(1.153466783736707)
    assert result.std_error == approx(0.5746896425267213)
    assert result.p_value == approx(0.04697481126826039)


def test_ratio_relative():
    result = welch_ttest(RATIO_CONTROL, RATIO_TREATMENT, "relative")
    assert result.estimate == approx(0.3163779603716457)
    assert result.std_error == approx(0.17601769419843386)


@pytest.mark.parametrize(
    ("control", "treatment", "code"),
    [
        (SampleMeanStatistic(1, 2.0, 4.0), TREATMENT, ErrorCode.N_TOO_SMALL),
        (
            SampleMeanStatistic(10, 20.0, 40.0),
            SampleMeanStatistic(10, 30.0, 90.0),
            ErrorCode.ZERO_VARIANCE,
        ),
        (SampleMeanStatistic(3, 0.0, 2.0), TREATMENT, ErrorCode.ZERO_CONTROL_MEAN),
        (CONTROL, ProportionStatistic(10, 3), ErrorCode.MISMATCHED_STATISTICS),
        (
            RatioStatistic(5, SampleMeanStatistic(5, 3.0, 5.0), SampleMeanStatistic(5, 0, 0), 0),
            RATIO_TREATMENT,
            ErrorCode.ZERO_DENOMINATOR,
        ),
        (ProportionStatistic(0, 0), ProportionStatistic(10, 3), ErrorCode.N_TOO_SMALL),
    ],
)
def test_bad_data_gives_error_code_not_exception(control, treatment, code):
    result = welch_ttest(control, treatment, "relative")
    assert result.error == code
    assert result.message
    assert result.p_value != result.p_value  # nan
