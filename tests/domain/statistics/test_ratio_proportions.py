"""One definition of a proportion's per-unit variance, ``p (1 - p)``, on every path.

The references are computed from unit-level data with numpy, independently of the engine.
"""

import numpy as np
import pytest

from domain.statistics import (
    ProportionStatistic,
    RatioStatistic,
    SampleMeanStatistic,
    compare,
    welch_ttest,
)


def _units(seed: int, n: int, rate: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    sessions = rng.poisson(3.0, n) + 1
    converted = (rng.random(n) < rate * sessions / 4).astype(float)
    return converted, sessions.astype(float)


def _ratio(converted: np.ndarray, sessions: np.ndarray, binomial: bool) -> RatioStatistic:
    n = len(converted)
    numerator = (
        ProportionStatistic(n, converted.sum())
        if binomial
        else SampleMeanStatistic(n, converted.sum(), (converted**2).sum())
    )
    return RatioStatistic(
        n,
        numerator,
        SampleMeanStatistic(n, sessions.sum(), (sessions**2).sum()),
        float((converted * sessions).sum()),
    )


def _delta_variance(m: np.ndarray, d: np.ndarray, ddof_m: int) -> float:
    """Per-unit delta-method variance of mean(m)/mean(d) from raw units."""
    ratio = m.mean() / d.mean()
    var_m = np.var(m, ddof=ddof_m)
    var_d = np.var(d, ddof=1)
    cov = np.cov(m, d, ddof=1)[0, 1]
    return (var_m - 2 * ratio * cov + ratio**2 * var_d) / d.mean() ** 2


@pytest.mark.parametrize("binomial, ddof_m", [(True, 0), (False, 1)])
def test_ratio_with_proportion_numerator_matches_raw_data(binomial, ddof_m):
    m_c, d_c = _units(1, 800, 0.3)
    m_t, d_t = _units(2, 900, 0.35)
    effect = compare(_ratio(m_c, d_c, binomial), _ratio(m_t, d_t, binomial), "absolute")
    expected = _delta_variance(m_t, d_t, ddof_m) / 900 + _delta_variance(m_c, d_c, ddof_m) / 800
    assert float(effect.variance) == pytest.approx(expected, rel=1e-12)
    assert float(effect.estimate) == pytest.approx(
        m_t.sum() / d_t.sum() - m_c.sum() / d_c.sum(), rel=1e-12
    )


def test_ratio_over_a_constant_denominator_is_the_proportion_test():
    """Conversions per user written as a ratio over d = 1 gives the binomial test exactly."""
    n_c, n_t, c, t = 1000, 1100, 137, 171
    ones_c = SampleMeanStatistic(n_c, n_c, n_c)
    ones_t = SampleMeanStatistic(n_t, n_t, n_t)
    for difference_type in ("absolute", "relative"):
        as_ratio = welch_ttest(
            RatioStatistic(n_c, ProportionStatistic(n_c, c), ones_c, c),
            RatioStatistic(n_t, ProportionStatistic(n_t, t), ones_t, t),
            difference_type,
        )
        plain = welch_ttest(
            ProportionStatistic(n_c, c), ProportionStatistic(n_t, t), difference_type
        )
        assert as_ratio.std_error == pytest.approx(plain.std_error, rel=1e-12)
        assert as_ratio.p_value == pytest.approx(plain.p_value, rel=1e-9)
    absolute = welch_ttest(ProportionStatistic(n_c, c), ProportionStatistic(n_t, t), "absolute")
    p_c, p_t = c / n_c, t / n_t
    hand = np.sqrt(p_t * (1 - p_t) / n_t + p_c * (1 - p_c) / n_c)
    assert absolute.std_error == pytest.approx(hand, rel=1e-12)
