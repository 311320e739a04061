"""Quantile metrics: order-statistic intervals, their variance, and clustered events.

For ``n`` independent values the number below the ``p``-quantile is Binomial(n, p), so
the order statistics of ranks ``j = floor(n p - z sqrt(n p (1 - p)))`` and
``k = ceil(n p + z sqrt(n p (1 - p)))`` bound a distribution-free ~95 % interval for
the quantile (``z = 1.96``); the sample quantile is the value of rank ``ceil(n p)``
(the inverse of the empirical distribution function). A database returns the three
values in one pass, and the interval's half-width over ``z`` is the quantile's standard
error: ``Var(q) = ((x_(k) - x_(j)) / (2 z))^2`` (GrowthBook's estimator; it avoids a
density estimate). The engine compares quantiles like means with per-unit variance
``n Var(q)``.

Event-level quantiles (all page loads, several per user) are not independent across
events. As in gbstats, the i.i.d. variance is scaled by the ratio of the clustered to the
binomial variance of the share of events below the quantile: with ``s_i`` of user ``i``'s
``d_i`` events at most ``q``, the share ``sum s / sum d`` is a ratio of user means whose
delta-method variance replaces ``p (1 - p) / n``. Units are then users.
"""

from __future__ import annotations

import numpy as np

from domain.statistics.sufficient import (
    QuantileClusteredStatistic,
    QuantileStatistic,
    sample_covariance,
    sample_variance,
)

BOUND_Z = 1.959963984540054  # float(special.ndtri(0.975)), so importing needs no scipy
"""The interval the bounds are the order statistics of (95 %), independent of alpha."""


@np.errstate(all="ignore")
def order_statistic_ranks(n: object, level: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """1-based ranks of the quantile and of its interval's bounds, clipped to ``[1, n]``."""
    n = np.asarray(n, float)
    level = np.asarray(level, float)
    half = BOUND_Z * np.sqrt(n * level * (1 - level))
    rank = np.clip(np.ceil(n * level), 1, np.maximum(n, 1))
    lower = np.clip(np.floor(n * level - half), 1, np.maximum(n, 1))
    upper = np.clip(np.ceil(n * level + half), 1, np.maximum(n, 1))
    return rank.astype(np.int64), lower.astype(np.int64), upper.astype(np.int64)


@np.errstate(all="ignore")
def interval_fits(n: object, level: object) -> np.ndarray:
    """Whether the interval's ranks lie inside ``[1, n]`` (else too few values)."""
    n = np.asarray(n, float)
    level = np.asarray(level, float)
    half = BOUND_Z * np.sqrt(n * level * (1 - level))
    return (n * level - half >= 1) & (n * level + half <= n)


@np.errstate(all="ignore")
def quantile_variance(n: object, level: object, lower: object, upper: object) -> np.ndarray:
    """Per-unit variance ``n Var(q)`` from the bounds; ``nan`` when they do not fit."""
    n = np.asarray(n, float)
    spread = (np.asarray(upper, float) - np.asarray(lower, float)) / (2 * BOUND_Z)
    return np.where(interval_fits(n, level), n * spread**2, np.nan)


@np.errstate(all="ignore")
def clustered_share_variance(
    n_clusters: object,
    below_sum: object,
    below_sum_squares: object,
    events_sum: object,
    events_sum_squares: object,
    below_events_sum_of_products: object,
) -> np.ndarray:
    """Delta-method variance of ``sum s / sum d`` over clustered units (not per unit)."""
    m = np.asarray(n_clusters, float)
    mean_s = np.asarray(below_sum, float) / m
    mean_d = np.asarray(events_sum, float) / m
    var_s = sample_variance(m, below_sum, below_sum_squares)
    var_d = sample_variance(m, events_sum, events_sum_squares)
    cov = sample_covariance(m, below_sum, events_sum, below_events_sum_of_products)
    share = mean_s / mean_d
    return (var_s - 2 * share * cov + share**2 * var_d) / (m * mean_d**2)


def quantile_statistic(
    values: object, level: float, units: object = None
) -> QuantileStatistic | QuantileClusteredStatistic:
    """Sufficient statistics of a quantile from raw values (the SQL query's reference).

    ``units`` (one id per value) makes it the clustered, event-level statistic.
    """
    data = np.sort(np.asarray(values, float))
    n = len(data)
    if n == 0:
        return QuantileStatistic(0, level, np.nan, np.nan, np.nan)
    rank, lower, upper = order_statistic_ranks(n, level)
    quantile = float(data[rank - 1])
    base = (n, level, quantile, float(data[lower - 1]), float(data[upper - 1]))
    if units is None:
        return QuantileStatistic(*base)
    ids, index = np.unique(np.asarray(units), return_inverse=True)
    events = np.bincount(index, minlength=len(ids)).astype(float)
    below = np.bincount(index, weights=np.asarray(values, float) <= quantile, minlength=len(ids))
    return QuantileClusteredStatistic(
        *base,
        n_clusters=len(ids),
        below_sum=float(below.sum()),
        below_sum_squares=float((below**2).sum()),
        events_sum=float(events.sum()),
        events_sum_squares=float((events**2).sum()),
        below_events_sum_of_products=float((below * events).sum()),
    )
