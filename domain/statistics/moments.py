"""Per-arm moments: the mean each test compares and its per-unit variance, vectorised.

Every metric kind reduces to an :class:`ArmMoments` (arrays broadcast over variants and
metrics), so the tests downstream never look at the statistic type again:

- ``mean``/``variance``: the estimator being differenced and its per-unit variance
  (``Var(mean) = variance / n``); for CUPED this is the adjusted estimator.
- ``base_mean``/``base_variance``: the unadjusted mean, used as the relative-lift
  denominator, and ``base_covariance``: per-unit ``Cov(mean, base_mean)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from domain.statistics.quantiles import clustered_share_variance, quantile_variance
from domain.statistics.sufficient import (
    MeanLike,
    ProportionStatistic,
    QuantileClusteredStatistic,
    QuantileStatistic,
    RatioStatistic,
    SampleMeanStatistic,
    sample_covariance,
    sample_variance,
)


@dataclass(frozen=True)
class ArmMoments:
    """Moments of one arm (or of many arms at once when the fields are arrays)."""

    n: np.ndarray
    mean: np.ndarray
    variance: np.ndarray
    base_mean: np.ndarray
    base_variance: np.ndarray
    base_covariance: np.ndarray
    zero_denominator: np.ndarray

    @classmethod
    def plain(
        cls, n: object, mean: object, variance: object, zero_denominator: object = False
    ) -> ArmMoments:
        """Moments of an unadjusted estimator (base = mean)."""
        n_arr = np.asarray(n, dtype=float)
        mean_arr = np.asarray(mean, dtype=float)
        var_arr = np.asarray(variance, dtype=float)
        return cls(
            n=n_arr,
            mean=mean_arr,
            variance=var_arr,
            base_mean=mean_arr,
            base_variance=var_arr,
            base_covariance=var_arr,
            zero_denominator=np.asarray(zero_denominator, dtype=bool),
        )

    def take(self, index: object) -> ArmMoments:
        """Select elements (e.g. one variant) from array-valued moments."""
        values = np.broadcast_arrays(*self.__dict__.values())
        return ArmMoments(**{k: v[index] for k, v in zip(self.__dict__, values, strict=True)})


def _safe_divide(numerator: object, denominator: object) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(numerator, float) / np.asarray(denominator, float)


@np.errstate(all="ignore")
def mean_moments(n: object, total: object, sum_squares: object) -> ArmMoments:
    """Mean/count metric from ``n``, ``sum`` and ``sum_squares`` arrays."""
    return ArmMoments.plain(n, _safe_divide(total, n), sample_variance(n, total, sum_squares))


@np.errstate(all="ignore")
def proportion_moments(n: object, total: object) -> ArmMoments:
    """Binomial metric from ``n`` and the number of conversions."""
    p = _safe_divide(total, n)
    return ArmMoments.plain(n, p, p * (1.0 - p))


@np.errstate(all="ignore")
def unit_variance(n: object, total: object, sum_squares: object, binomial: object) -> np.ndarray:
    """Per-unit variance: ``p (1 - p)`` where ``binomial``, else the ``n - 1`` sample variance."""
    p = _safe_divide(total, n)
    return np.where(binomial, p * (1.0 - p), sample_variance(n, total, sum_squares))


@dataclass(frozen=True)
class RatioParts:
    """Delta-method pieces of ``R = mean(m) / mean(d)``: value, gradient, per-unit var."""

    value: np.ndarray
    grad_m: np.ndarray
    grad_d: np.ndarray
    variance: np.ndarray
    zero_denominator: np.ndarray


@np.errstate(all="ignore")
def ratio_parts(
    n: object,
    m_sum: object,
    m_sum_squares: object,
    d_sum: object,
    d_sum_squares: object,
    m_d_sum_of_products: object,
    m_binomial: object = False,
    d_binomial: object = False,
) -> RatioParts:
    """Delta-method variance ``g' Sigma g`` with ``g = (1/mean_d, -mean_m/mean_d^2)``.

    ``Sigma`` holds the per-unit variances of ``m`` and ``d`` (``p (1 - p)`` where
    ``m_binomial``/``d_binomial`` mark 0/1 values, else the ``n - 1`` sample variance, as
    ``sufficient`` defines them) and their ``n - 1`` sample covariance.
    """
    n = np.asarray(n, float)
    mean_m = _safe_divide(m_sum, n)
    mean_d = _safe_divide(d_sum, n)
    var_m = unit_variance(n, m_sum, m_sum_squares, m_binomial)
    var_d = unit_variance(n, d_sum, d_sum_squares, d_binomial)
    cov_md = sample_covariance(n, m_sum, d_sum, m_d_sum_of_products)
    grad_m = _safe_divide(1.0, mean_d)
    grad_d = -mean_m * grad_m**2
    variance = grad_m**2 * var_m + 2 * grad_m * grad_d * cov_md + grad_d**2 * var_d
    return RatioParts(
        value=mean_m * grad_m,
        grad_m=grad_m,
        grad_d=grad_d,
        variance=np.maximum(variance, 0.0),
        zero_denominator=np.asarray(d_sum, float) == 0,
    )


def ratio_moments(
    n: object,
    m_sum: object,
    m_sum_squares: object,
    d_sum: object,
    d_sum_squares: object,
    m_d_sum_of_products: object,
    m_binomial: object = False,
    d_binomial: object = False,
) -> ArmMoments:
    """Ratio metric moments (delta method) from array sums (see :func:`ratio_parts`)."""
    parts = ratio_parts(
        n, m_sum, m_sum_squares, d_sum, d_sum_squares, m_d_sum_of_products, m_binomial, d_binomial
    )
    return ArmMoments.plain(n, parts.value, parts.variance, parts.zero_denominator)


def mean_like_moments(stat: MeanLike) -> ArmMoments:
    """Moments of a :class:`SampleMeanStatistic` or :class:`ProportionStatistic`."""
    if isinstance(stat, ProportionStatistic):
        return proportion_moments(stat.n, stat.sum)
    return mean_moments(stat.n, stat.sum, stat.sum_squares)


def ratio_statistic_moments(stat: RatioStatistic) -> ArmMoments:
    """Moments of a :class:`RatioStatistic`."""
    return ratio_moments(
        stat.n,
        stat.m_statistic.sum,
        stat.m_statistic.sum_squares,
        stat.d_statistic.sum,
        stat.d_statistic.sum_squares,
        stat.m_d_sum_of_products,
        isinstance(stat.m_statistic, ProportionStatistic),
        isinstance(stat.d_statistic, ProportionStatistic),
    )


@np.errstate(all="ignore")
def quantile_moments(
    n: object, level: object, quantile: object, lower: object, upper: object
) -> ArmMoments:
    """Quantile metric over independent values: ``n Var(q)`` from the interval bounds."""
    return ArmMoments.plain(n, quantile, quantile_variance(n, level, lower, upper))


@np.errstate(all="ignore")
def clustered_quantile_moments(
    n: object,
    level: object,
    quantile: object,
    lower: object,
    upper: object,
    n_clusters: object,
    below_sum: object,
    below_sum_squares: object,
    events_sum: object,
    events_sum_squares: object,
    below_events_sum_of_products: object,
) -> ArmMoments:
    """Event-level quantile, units = clusters: the i.i.d. ``Var(q)`` times the ratio of
    the clustered to the binomial variance of the share below ``q`` (see ``quantiles``)."""
    n = np.asarray(n, float)
    level = np.asarray(level, float)
    iid = quantile_variance(n, level, lower, upper) / n
    clustered = clustered_share_variance(
        n_clusters,
        below_sum,
        below_sum_squares,
        events_sum,
        events_sum_squares,
        below_events_sum_of_products,
    )
    variance = iid * clustered / (level * (1 - level) / n)
    return ArmMoments.plain(n_clusters, quantile, np.asarray(n_clusters, float) * variance)


def quantile_statistic_moments(stat: QuantileStatistic) -> ArmMoments:
    """Moments of a :class:`QuantileStatistic` or :class:`QuantileClusteredStatistic`."""
    base = (stat.n, stat.level, stat.quantile, stat.lower, stat.upper)
    if isinstance(stat, QuantileClusteredStatistic):
        return clustered_quantile_moments(
            *base,
            stat.n_clusters,
            stat.below_sum,
            stat.below_sum_squares,
            stat.events_sum,
            stat.events_sum_squares,
            stat.below_events_sum_of_products,
        )
    return quantile_moments(*base)


def statistic_moments(
    stat: SampleMeanStatistic | ProportionStatistic | RatioStatistic | QuantileStatistic,
) -> ArmMoments:
    """Moments of an unadjusted statistic (CUPED statistics live in ``cuped``)."""
    if isinstance(stat, RatioStatistic):
        return ratio_statistic_moments(stat)
    if isinstance(stat, QuantileStatistic):
        return quantile_statistic_moments(stat)
    return mean_like_moments(stat)


def stack_moments(arms: list[ArmMoments]) -> ArmMoments:
    """Stack scalar moments of several arms into one array-valued :class:`ArmMoments`."""
    keys = list(arms[0].__dict__)
    columns = [np.broadcast_arrays(*a.__dict__.values()) for a in arms]
    return ArmMoments(**{k: np.stack([c[i] for c in columns]) for i, k in enumerate(keys)})
