"""Thompson sampling: probabilities of being best against numerical integration."""

from functools import partial

import numpy as np
import pytest

from domain.statistics import (
    ErrorCode,
    SampleMeanStatistic,
    apply_min_share,
    arm_posteriors,
    probability_best,
    thompson_allocation,
    thompson_allocation_from_statistics,
)

pytestmark = pytest.mark.filterwarnings("error")
approx = partial(pytest.approx, abs=1e-6)
MEANS, STDS = [0.10, 0.12, 0.11], [0.01, 0.012, 0.008]
# scipy.integrate.quad of pdf_i(x) * prod_j cdf_j(x)
EXACT = [0.05429814641938857, 0.7258207894992472, 0.21988106408136693]


def test_probability_best_converges_to_quadrature():
    estimate = probability_best(MEANS, STDS, np.random.default_rng(1), n_draws=400_000)
    assert estimate.tolist() == pytest.approx(EXACT, abs=3e-3)
    assert estimate.sum() == approx(1.0)


def test_min_share_water_filling_by_hand():
    assert apply_min_share([0.9, 0.08, 0.02], 0.1).tolist() == approx([0.8, 0.1, 0.1])
    # 0.02 -> 0.05; others share 0.95 in proportion 0.7 : 0.28
    assert apply_min_share([0.7, 0.28, 0.02], 0.05).tolist() == approx(
        [0.95 * 0.7 / 0.98, 0.95 * 0.28 / 0.98, 0.05]
    )
    assert apply_min_share([1.0, 0.0, 0.0], 1 / 3).tolist() == approx([1 / 3] * 3)


def test_allocation_is_seeded_and_floored():
    first = thompson_allocation(MEANS, STDS, min_share=0.1, rng=7)
    second = thompson_allocation(MEANS, STDS, min_share=0.1, rng=np.random.default_rng(7))
    assert first == second
    assert min(first.weights) >= 0.1 - 1e-12
    assert sum(first.weights) == approx(1.0)
    assert thompson_allocation(MEANS, STDS, min_share=0.5).error == ErrorCode.INVALID_INPUT


def test_allocation_from_statistics():
    stats = [SampleMeanStatistic(100, 100 * m, 100 * m * m + 99 * 0.01) for m in MEANS]
    means, stds = arm_posteriors(stats)
    assert means.tolist() == approx(MEANS)
    assert stds.tolist() == approx([0.01] * 3)
    result = thompson_allocation_from_statistics(stats, 0.05, rng=3)
    assert result.weights[1] == max(result.weights)
    lower = thompson_allocation_from_statistics(stats, 0.05, rng=3, inverse=True)
    assert lower.weights[0] == max(lower.weights)
    tiny = thompson_allocation_from_statistics([SampleMeanStatistic(1, 1, 1)] * 2)
    assert tiny.error == ErrorCode.N_TOO_SMALL


def test_quadrature_matches_scipy_integrate_to_six_decimals():
    exact = probability_best(MEANS, STDS, method="quadrature")
    assert exact.tolist() == approx(EXACT)
    lowest = probability_best(MEANS, STDS, inverse=True, method="quadrature")
    assert lowest.sum() == approx(1.0)
    assert lowest.argmax() == 0
    result = thompson_allocation(MEANS, STDS, min_share=0.1, method="quadrature")
    # water-filling by hand on EXACT: arm 0 -> 0.1, others share 0.9 pro rata
    rest = EXACT[1] + EXACT[2]
    assert result.weights == approx((0.1, 0.9 * EXACT[1] / rest, 0.9 * EXACT[2] / rest))
    zero = thompson_allocation(MEANS, [0.01, 0.0, 0.01], method="quadrature")
    assert zero.error == ErrorCode.ZERO_VARIANCE
