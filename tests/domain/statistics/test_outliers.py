"""Capping against scipy.stats.scoreatpercentile and scipy.stats.mstats.winsorize."""

from functools import partial

import numpy as np
import pytest

from domain.statistics import cap_thresholds, cap_values, capped_mean_statistic

pytestmark = pytest.mark.filterwarnings("error")
approx = partial(pytest.approx, abs=1e-6)
VALUES = [3.2, 1.0, 4.1, 1.5, 5.9, 9.2, 2.6, 5.3, 5.8, 97.0, 3.3, 2.2]


def test_linear_thresholds_match_scoreatpercentile():
    lower, upper = cap_thresholds(VALUES, 0.9, 0.1)
    assert float(upper) == approx(8.870000000000001)
    assert float(lower) == approx(1.57)
    assert cap_values(VALUES, 0.9).max() == approx(8.87)


def test_inverted_cdf_matches_mstats_winsorize():
    # mstats.winsorize(VALUES, limits=(0.1, 0.1))
    expected = [3.2, 1.5, 4.1, 1.5, 5.9, 9.2, 2.6, 5.3, 5.8, 9.2, 3.3, 2.2]
    assert cap_values(VALUES, 0.9, 0.1, method="inverted_cdf").tolist() == approx(expected)
    stat = capped_mean_statistic(VALUES, 0.9, 0.1, method="inverted_cdf")
    assert (stat.n, stat.sum, stat.sum_squares) == approx((12, 53.8, 319.86))


def test_columns_are_capped_independently():
    data = np.column_stack([VALUES, np.arange(12.0)])
    capped = cap_values(data, 0.9, method="inverted_cdf")
    assert capped[:, 0].max() == approx(9.2)
    assert capped[:, 1].max() == approx(10.0)
