"""Sufficient statistics per variant and metric, exactly what a SQL GROUP BY returns.

All sums are over units (users) of one variant. Variances use the ``n - 1`` divisor,
except proportions, whose per-unit variance is ``p (1 - p)`` wherever they appear: alone,
as the numerator or denominator of a ratio, or as the post/pre statistic of CUPED (as in
GrowthBook's gbstats). Covariances always use ``n - 1``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import TypeVar

import numpy as np


def sample_covariance(n: object, sum_x: object, sum_y: object, sum_xy: object) -> np.ndarray:
    """Unbiased covariance from sums (``nan`` where ``n < 2``); works on arrays."""
    n = np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        cov = (np.asarray(sum_xy, float) - np.asarray(sum_x, float) * sum_y / n) / (n - 1)
    return np.where(n >= 2, cov, np.nan)


def sample_variance(n: object, total: object, sum_squares: object) -> np.ndarray:
    """Unbiased variance from sums, clipped at 0 against rounding (``nan`` if ``n < 2``)."""
    return np.maximum(sample_covariance(n, total, total, sum_squares), 0.0)


@dataclass(frozen=True)
class SampleMeanStatistic:
    """Mean/count metric: ``n`` units, ``sum`` of values and ``sum_squares``."""

    n: int
    sum: float
    sum_squares: float

    @property
    def mean(self) -> float:
        return self.sum / self.n if self.n else math.nan

    @property
    def variance(self) -> float:
        return float(sample_variance(self.n, self.sum, self.sum_squares))


@dataclass(frozen=True)
class ProportionStatistic:
    """Binomial metric: ``n`` units of which ``sum`` converted (values are 0/1)."""

    n: int
    sum: float

    @property
    def sum_squares(self) -> float:
        return self.sum

    @property
    def mean(self) -> float:
        return self.sum / self.n if self.n else math.nan

    @property
    def variance(self) -> float:
        p = self.mean
        return p * (1.0 - p)


MeanLike = SampleMeanStatistic | ProportionStatistic


@dataclass(frozen=True)
class RatioStatistic:
    """Ratio metric ``sum(m) / sum(d)`` over units (e.g. revenue per session)."""

    n: int
    m_statistic: MeanLike
    d_statistic: MeanLike
    m_d_sum_of_products: float

    @property
    def mean(self) -> float:
        d = self.d_statistic.sum
        return self.m_statistic.sum / d if d else math.nan


@dataclass(frozen=True)
class RegressionAdjustedStatistic:
    """CUPED: post-exposure metric with a pre-exposure covariate of the same units.

    ``theta`` is normally left ``None`` and estimated from pooled control+treatment data.
    """

    n: int
    post_statistic: MeanLike
    pre_statistic: MeanLike
    post_pre_sum_of_products: float
    theta: float | None = None

    @property
    def mean(self) -> float:
        return self.post_statistic.mean


@dataclass(frozen=True)
class RegressionAdjustedRatioStatistic:
    """CUPED for ratio metrics: post ratio ``m/d`` adjusted by the pre-period ratio."""

    n: int
    m_statistic_post: MeanLike
    d_statistic_post: MeanLike
    m_statistic_pre: MeanLike
    d_statistic_pre: MeanLike
    m_post_m_pre_sum_of_products: float
    d_post_d_pre_sum_of_products: float
    m_pre_d_pre_sum_of_products: float
    m_post_d_post_sum_of_products: float
    m_post_d_pre_sum_of_products: float
    m_pre_d_post_sum_of_products: float
    theta: float | None = None

    @property
    def mean(self) -> float:
        d = self.d_statistic_post.sum
        return self.m_statistic_post.sum / d if d else math.nan


@dataclass(frozen=True)
class QuantileStatistic:
    """Quantile metric (e.g. p90 of ``page_load_ms``) over ``n`` independent values.

    ``quantile`` is the sample ``level``-quantile, ``lower``/``upper`` the order statistics
    that bound its distribution-free 95 % interval (see ``quantiles``), which is what a
    database returns for three ranks; their spread gives the quantile's variance without
    a density estimate.
    """

    n: int
    level: float
    quantile: float
    lower: float
    upper: float

    @property
    def mean(self) -> float:
        return self.quantile


@dataclass(frozen=True)
class QuantileClusteredStatistic(QuantileStatistic):
    """Event-level quantile where events cluster in units (users), as in gbstats.

    ``n`` counts events; per unit ``i`` with ``d_i`` events of which ``s_i`` are at most
    the quantile, the sums of ``s``, ``s^2``, ``d``, ``d^2`` and ``s d`` over the
    ``n_clusters`` units give the clustered variance of the share below the quantile.
    """

    n_clusters: int = 0
    below_sum: float = 0.0
    below_sum_squares: float = 0.0
    events_sum: float = 0.0
    events_sum_squares: float = 0.0
    below_events_sum_of_products: float = 0.0


Statistic = (
    SampleMeanStatistic
    | ProportionStatistic
    | RatioStatistic
    | RegressionAdjustedStatistic
    | RegressionAdjustedRatioStatistic
    | QuantileStatistic
)

S = TypeVar("S")


def pool(first: S, *others: S) -> S:
    """Sum the sufficient statistics of several groups (pooled data); ``theta`` is reset."""
    values = {}
    for field in fields(first):  # type: ignore[arg-type]
        if field.name == "theta":
            values["theta"] = None
            continue
        own = getattr(first, field.name)
        rest = [getattr(other, field.name) for other in others]
        values[field.name] = (
            pool(own, *rest) if hasattr(own, "__dataclass_fields__") else (own + sum(rest))
        )
    return replace(first, **values)  # type: ignore[type-var]
