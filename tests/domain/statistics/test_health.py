"""Health checks against scipy.stats.chisquare and ttest_ind_from_stats."""

from functools import partial

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.statistics import (
    ErrorCode,
    SampleMeanStatistic,
    covariate_imbalance,
    multiple_exposures_check,
    sample_ratio_mismatch,
    sample_ratio_mismatch_over_periods,
    variant_mismatch_check,
)

pytestmark = pytest.mark.filterwarnings("error")
approx = partial(pytest.approx, abs=1e-6)


def test_srm_equal_weights_matches_scipy_chisquare():
    result = sample_ratio_mismatch([5021, 4870, 5109], [1, 1, 1])
    assert result.chi_square == approx(5.8444)
    assert result.p_value == approx(0.05381516361215681)
    assert result.dof == 2
    assert not result.mismatch


def test_srm_unequal_weights():
    result = sample_ratio_mismatch([2040, 980, 1010], [0.5, 0.25, 0.25])
    assert result.chi_square == approx(1.0669975186104217)
    assert result.p_value == approx(0.5865491810155858)
    assert result.expected == approx((2015.0, 1007.5, 1007.5))


def test_srm_flags_a_clear_mismatch_and_rejects_bad_input():
    assert sample_ratio_mismatch([5000, 5400], [0.5, 0.5]).mismatch
    assert sample_ratio_mismatch([10, 10], [0.5]).error == ErrorCode.INVALID_INPUT
    assert sample_ratio_mismatch([0, 0], [0.5, 0.5]).error == ErrorCode.N_TOO_SMALL


@given(
    st.lists(st.integers(0, 10_000), min_size=2, max_size=4).flatmap(
        lambda counts: st.tuples(
            st.just(counts),
            st.lists(st.floats(0.05, 1), min_size=len(counts), max_size=len(counts)),
        )
    )
)
def test_srm_over_one_period_is_the_plain_check(counts_and_weights):
    counts, weights = counts_and_weights
    over = sample_ratio_mismatch_over_periods([counts], [weights])
    plain = sample_ratio_mismatch(counts, weights)
    assert repr(over) == repr(plain)  # (repr: NaN equals NaN)


def test_srm_over_periods_sums_each_periods_chi_square_and_expectation():
    periods = [[5021, 4870, 5109], [2040, 980, 1010]]
    weights = [[1, 1, 1], [0.5, 0.25, 0.25]]
    result = sample_ratio_mismatch_over_periods(periods, weights)
    assert result.chi_square == approx(5.8444 + 1.0669975186104217)
    assert result.dof == 4 and not result.mismatch
    assert result.expected == approx((5000 + 2015.0, 5000 + 1007.5, 5000 + 1007.5))
    # a variant switched off (weight 0) in a period is left out of that period's test
    off = sample_ratio_mismatch_over_periods([[500, 500], [900, 0]], [[0.5, 0.5], [1.0, 0.0]])
    assert off.dof == 1 and off.chi_square == approx(0.0) and off.expected == approx((1400, 500))
    # a period without users adds nothing; none at all is "too small"
    assert sample_ratio_mismatch_over_periods([[0, 0], [10, 10]], weights=[[1, 1], [1, 1]]).dof == 1
    empty = sample_ratio_mismatch_over_periods([[0, 0]], [[1, 1]])
    assert empty.error == ErrorCode.N_TOO_SMALL


def test_rate_checks():
    multiple = multiple_exposures_check(150, 10_000)
    assert multiple.rate == approx(0.015)
    assert multiple.exceeded
    mismatch = variant_mismatch_check(20, 10_000, threshold=0.005)
    assert mismatch.rate == approx(0.002)
    assert not mismatch.exceeded
    assert variant_mismatch_check(5, 0).error == ErrorCode.INVALID_INPUT


def _stat(n, mean, sd):
    return SampleMeanStatistic(n, n * mean, (n - 1) * sd**2 + n * mean**2)


def test_covariate_imbalance_matches_scipy_welch():
    control = _stat(1000, 10.1, 3.0)
    result = covariate_imbalance(control, [_stat(1000, 10.4, 3.1), _stat(1000, 10.9, 3.2)])
    assert result.p_values == approx((0.02798404212534762, 9.307515206733377e-09))
    assert result.standardized_differences[0] == approx(0.3 / ((3.1**2 + 3.0**2) / 2) ** 0.5)
    assert result.imbalanced
    assert covariate_imbalance(None, [control]).error == ErrorCode.MISSING_CONTROL
