"""Quantile statistics: direct order statistics, bootstrap, asymptotics and gbstats.

References are computed here from generated data with numpy/scipy, independently of the
engine's ``quantiles`` module.
"""

import math

import numpy as np
import pytest
from scipy import stats

from domain.statistics import (
    AnalysisOptions,
    ErrorCode,
    QuantileClusteredStatistic,
    QuantileStatistic,
    analyze_experiment,
    quantile_statistic,
    quantile_statistic_moments,
)

Z = stats.norm.ppf(0.975)


@pytest.mark.parametrize("n", [50, 999, 2000])
@pytest.mark.parametrize("level", [0.1, 0.5, 0.9, 0.99])
def test_order_statistics_by_hand(n, level):
    values = np.random.default_rng(n).lognormal(3, 1, n)
    stat = quantile_statistic(values, level)
    ordered = np.sort(values)
    half = Z * math.sqrt(n * level * (1 - level))

    def at(rank: float) -> float:
        return float(ordered[min(max(int(rank), 1), n) - 1])

    assert stat.n == n and stat.level == level
    assert stat.quantile == at(math.ceil(n * level))  # inverse of the empirical CDF
    assert stat.quantile == np.quantile(values, level, method="inverted_cdf")
    assert stat.lower == at(math.floor(n * level - half))
    assert stat.upper == at(math.ceil(n * level + half))


def test_interval_coverage_of_the_bounds_is_the_binomial_one():
    """P(x_(j) <= q < x_(k)) = P(j <= B < k), B ~ Binomial(n, p): the bounds' own level."""
    n, level = 2000, 0.9
    stat = quantile_statistic(np.arange(n, dtype=float), level)  # values = rank - 1
    j, k = stat.lower + 1, stat.upper + 1
    exact = stats.binom(n, level).cdf(k - 1) - stats.binom(n, level).cdf(j - 1)
    assert 0.95 <= exact <= 0.96


def test_variance_matches_a_bootstrap_and_the_asymptotic_formula():
    rng = np.random.default_rng(11)
    n, level = 2000, 0.9
    values = rng.lognormal(5, 0.8, n)
    moments = quantile_statistic_moments(quantile_statistic(values, level))
    variance = float(moments.variance / moments.n)  # Var of the sample quantile
    resampled = rng.choice(values, (4000, n), replace=True)
    bootstrap = np.quantile(resampled, level, axis=1, method="inverted_cdf").var(ddof=1)
    assert variance == pytest.approx(bootstrap, rel=0.15)
    truth = stats.lognorm(0.8, scale=math.exp(5))
    asymptotic = level * (1 - level) / (n * truth.pdf(truth.ppf(level)) ** 2)
    assert variance == pytest.approx(asymptotic, rel=0.15)


def test_difference_interval_matches_a_bootstrap():
    rng = np.random.default_rng(5)
    control, treatment = rng.exponential(100, 2000), rng.exponential(110, 2000)
    (result,) = analyze_experiment(
        quantile_statistic(control, 0.5),
        [quantile_statistic(treatment, 0.5)],
        AnalysisOptions(difference_type="absolute"),
    )
    draws = [
        np.quantile(rng.choice(treatment, 2000), 0.5, method="inverted_cdf")
        - np.quantile(rng.choice(control, 2000), 0.5, method="inverted_cdf")
        for _ in range(3000)
    ]
    low, high = np.percentile(draws, [2.5, 97.5])
    assert result.estimate == pytest.approx(np.median(treatment) - np.median(control), abs=2)
    assert result.ci_upper - result.ci_lower == pytest.approx(high - low, rel=0.15)


def test_clustered_variance_matches_a_user_bootstrap():
    rng = np.random.default_rng(3)
    users = 1500
    counts = rng.poisson(3, users) + 1
    unit = np.repeat(np.arange(users), counts)
    values = np.exp(5 + rng.normal(0, 0.6, users)[unit] + rng.normal(0, 0.5, len(unit)))
    stat = quantile_statistic(values, 0.9, unit)
    assert isinstance(stat, QuantileClusteredStatistic) and stat.n_clusters == users
    moments = quantile_statistic_moments(stat)
    variance = float(moments.variance / moments.n)
    starts = np.concatenate([[0], np.cumsum(counts)])
    draws = []
    for _ in range(1500):  # resample users with all their events
        picked = rng.integers(0, users, users)
        sample = np.concatenate([values[starts[u] : starts[u + 1]] for u in picked])
        draws.append(np.quantile(sample, 0.9, method="inverted_cdf"))
    assert variance == pytest.approx(np.var(draws, ddof=1), rel=0.2)
    iid = quantile_statistic_moments(QuantileStatistic(*[getattr(stat, f) for f in (
        "n", "level", "quantile", "lower", "upper")]))  # fmt: skip
    assert variance > 1.5 * float(iid.variance / iid.n)  # correlated events: wider


def test_clustered_variance_agrees_with_gbstats():
    """gbstats' QuantileClusteredStatistic (n_star = n) on the same numbers; it scales the
    i.i.d. variance by (n - 1) / n where we use the interval's variance as it is."""
    stat = QuantileClusteredStatistic(5000, 0.9, 612.5, 598.25, 629.0, 1800, 4480, 14250,
                                      5000, 17300, 15650)  # fmt: skip
    moments = quantile_statistic_moments(stat)
    gbstats_variance = 64237.60168411214  # per event; Var(q) = variance / n
    assert float(moments.variance / 1800) == pytest.approx(
        gbstats_variance / 5000 * 5000 / 4999, rel=1e-12
    )
    plain = quantile_statistic_moments(QuantileStatistic(5000, 0.9, 612.5, 598.25, 629.0))
    assert float(plain.variance) == pytest.approx(307621.86698684224 * 5000 / 4999, rel=1e-12)


def test_relative_lift_of_a_quantile_by_hand():
    c = QuantileStatistic(2000, 0.9, 500.0, 480.0, 522.0)
    t = QuantileStatistic(2100, 0.9, 540.0, 515.0, 561.0)
    (result,) = analyze_experiment(c, [t])
    var_c, var_t = ((522 - 480) / (2 * Z)) ** 2, ((561 - 515) / (2 * Z)) ** 2
    lift = 540 / 500 - 1
    se = math.sqrt(var_t / 500**2 + 540**2 * var_c / 500**4)  # delta method
    assert result.estimate == pytest.approx(lift)
    assert result.std_error == pytest.approx(se, rel=1e-12)


def test_too_few_values_for_an_interval_is_an_error():
    small = quantile_statistic(np.arange(20.0), 0.99)  # the upper bound falls beyond n
    (result,) = analyze_experiment(small, [small])
    assert result.error == ErrorCode.ZERO_VARIANCE
    empty = quantile_statistic([], 0.5)
    (result,) = analyze_experiment(empty, [empty])
    assert result.error == ErrorCode.N_TOO_SMALL
