"""Seeded simulations: error rates, coverage, peeking, CUPED and power (marked slow)."""

import numpy as np
import pytest

from domain.statistics import (
    AnalysisOptions,
    analyze_arrays,
    cuped_mean_moments,
    mean_moments,
    pooled_theta_from_sums,
    proportion_moments,
    ratio_moments,
    sample_size_per_arm,
)

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("error")]
RUNS = 2000


def _sums(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n, sum, sum of squares over the last axis."""
    return (
        np.full(values.shape[:-1], values.shape[-1], float),
        values.sum(-1),
        np.einsum("...i,...i->...", values, values),
    )


def _arms(values: np.ndarray):
    """Mean-metric moments of control (index 0) and treatment (index 1) on axis 1."""
    moments = mean_moments(*_sums(values))
    return moments.take((slice(None), 0)), moments.take((slice(None), 1))


@pytest.mark.parametrize("difference_type", ["absolute", "relative"])
def test_aa_false_positive_rate_mean_metric(difference_type):
    rng = np.random.default_rng(2024)
    values = rng.exponential(2.0, size=(RUNS, 2, 400))  # skewed, like revenue
    control, treatment = _arms(values)
    p = analyze_arrays(control, treatment, AnalysisOptions(difference_type=difference_type))
    assert 0.04 <= np.mean(p.p_value < 0.05) <= 0.06


def test_aa_false_positive_rate_proportion_and_ratio():
    rng = np.random.default_rng(7)
    n = np.full((RUNS, 2), 3000.0)
    conversions = rng.binomial(3000, 0.08, size=(RUNS, 2)).astype(float)
    moments = proportion_moments(n, conversions)
    p = analyze_arrays(moments.take((slice(None), 0)), moments.take((slice(None), 1)))
    assert 0.04 <= np.mean(p.p_value < 0.05) <= 0.06

    sessions = rng.poisson(3.0, size=(RUNS, 2, 300)) + 1.0
    revenue = sessions * rng.gamma(2.0, 1.5, size=(RUNS, 2, 300))
    ratio = ratio_moments(
        300.0,
        revenue.sum(-1),
        (revenue**2).sum(-1),
        sessions.sum(-1),
        (sessions**2).sum(-1),
        (revenue * sessions).sum(-1),
    )
    p = analyze_arrays(ratio.take((slice(None), 0)), ratio.take((slice(None), 1)))
    assert 0.04 <= np.mean(p.p_value < 0.05) <= 0.06


@pytest.mark.parametrize("engine", ["frequentist", "bayesian"])
def test_interval_coverage_of_a_planted_effect(engine):
    rng = np.random.default_rng(99)
    values = rng.normal(10.0, 3.0, size=(RUNS, 2, 300))
    values[:, 1] *= 1.05  # true relative lift 5%
    control, treatment = _arms(values)
    out = analyze_arrays(control, treatment, AnalysisOptions(engine=engine))
    covered = (out.ci_lower <= 0.05) & (out.ci_upper >= 0.05)
    assert 0.935 <= np.mean(covered) <= 0.965


def _peeking_rejections(engine: str, alternative: str = "two-sided") -> float:
    rng = np.random.default_rng(31)
    runs, days, daily = 1000, 30, 100
    values = rng.normal(1.0, 1.0, size=(runs, 2, days, daily))
    n, total, squares = _sums(values)
    cumulative = [np.cumsum(a, axis=-1) for a in (n, total, squares)]
    moments = mean_moments(*cumulative)
    control, treatment = moments.take((slice(None), 0)), moments.take((slice(None), 1))
    out = analyze_arrays(
        control, treatment, AnalysisOptions(engine=engine, alternative=alternative)
    )
    return float(np.mean(np.any(out.p_value < 0.05, axis=1)))


def test_sequential_testing_survives_daily_peeking():
    naive = _peeking_rejections("frequentist")
    sequential = _peeking_rejections("sequential")
    assert sequential <= 0.05
    assert naive > 0.10
    assert _peeking_rejections("sequential", "greater") <= 0.05
    assert _peeking_rejections("frequentist", "greater") > 0.10


def test_cuped_reduces_variance_on_correlated_pre_data():
    rng = np.random.default_rng(5)
    rho = 0.7
    pre = rng.normal(0.0, 1.0, size=(RUNS, 2, 500))
    post = 5 + rho * pre + np.sqrt(1 - rho**2) * rng.normal(size=pre.shape)
    n, post_sum, post_squares = _sums(post)
    _, pre_sum, pre_squares = _sums(pre)
    products = np.einsum("...i,...i->...", post, pre)
    theta = pooled_theta_from_sums(
        n.sum(1), post_sum.sum(1), pre_sum.sum(1), pre_squares.sum(1), products.sum(1)
    )[:, None]
    adjusted = cuped_mean_moments(n, post_sum, post_squares, pre_sum, pre_squares, products, theta)
    plain = mean_moments(n, post_sum, post_squares)
    options = AnalysisOptions(difference_type="absolute")
    cuped = analyze_arrays(
        adjusted.take((slice(None), 0)), adjusted.take((slice(None), 1)), options
    )
    naive = analyze_arrays(plain.take((slice(None), 0)), plain.take((slice(None), 1)), options)
    ratio = np.var(cuped.estimate) / np.var(naive.estimate)
    assert 0.42 <= ratio <= 0.60  # theory: 1 - rho^2 = 0.51
    assert np.mean(cuped.std_error**2) / np.mean(naive.std_error**2) == pytest.approx(0.51, 0.05)
    assert 0.04 <= np.mean(cuped.p_value < 0.05) <= 0.06


def test_planted_effect_is_detected_at_designed_power():
    n = int(np.ceil(sample_size_per_arm(0.1, 1.0, power=0.8)))  # 1570 per arm
    rng = np.random.default_rng(11)
    values = rng.normal(0.0, 1.0, size=(RUNS, 2, n))
    values[:, 1] += 0.1
    control, treatment = _arms(values)
    out = analyze_arrays(control, treatment, AnalysisOptions(difference_type="absolute"))
    assert 0.77 <= np.mean(out.p_value < 0.05) <= 0.83
