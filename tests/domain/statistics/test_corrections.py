"""Holm and Benjamini-Hochberg against statsmodels.stats.multitest.multipletests."""

from functools import partial

import numpy as np
import pytest

from domain.statistics import adjust_p_values, benjamini_hochberg, holm_bonferroni

pytestmark = pytest.mark.filterwarnings("error")
approx = partial(pytest.approx, abs=1e-6)

# 5 metrics x 3 treatments
P_VALUES = np.array(
    [
        [0.001, 0.040, 0.300],
        [0.012, 0.049, 0.810],
        [0.0004, 0.020, 0.015],
        [0.650, 0.032, 0.027],
        [0.090, 0.002, 0.500],
    ]
)
# multipletests(P_VALUES.ravel(), method="holm")[1]
HOLM = [
    0.014,
    0.28,
    1.0,
    0.144,
    0.294,
    1.0,
    0.006,
    0.2,
    0.165,
    1.0,
    0.256,
    0.243,
    0.45,
    0.026,
    1.0,
]
# multipletests(P_VALUES.ravel(), method="fdr_bh")[1]
BH = [
    0.0075,
    0.06666666666666667,
    0.37499999999999994,
    0.045,
    0.0735,
    0.81,
    0.006,
    0.05,
    0.045,
    0.6964285714285714,
    0.06,
    0.05785714285714286,
    0.12272727272727273,
    0.01,
    0.5769230769230769,
]


def test_holm_matches_statsmodels():
    adjusted = holm_bonferroni(P_VALUES)
    assert adjusted.shape == (5, 3)
    assert adjusted.ravel().tolist() == approx(HOLM)


def test_benjamini_hochberg_matches_statsmodels():
    assert benjamini_hochberg(P_VALUES).ravel().tolist() == approx(BH)


def test_nan_entries_are_skipped():
    adjusted = adjust_p_values([0.01, np.nan, 0.04], "holm")
    assert np.isnan(adjusted[1])
    assert adjusted[[0, 2]].tolist() == approx([0.02, 0.04])
    with pytest.raises(ValueError, match="unknown correction"):
        adjust_p_values([0.1, 0.2], "bonferroni")  # type: ignore[arg-type]
