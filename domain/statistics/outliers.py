"""Outlier handling: capping (winsorisation) of unit-level values at a quantile.

Capping must happen per unit *before* aggregation into sufficient statistics (in SQL,
``least(value, cap)`` with the cap from a quantile query). Thresholds come from
``numpy.quantile``: ``method="linear"`` interpolates between order statistics,
``"inverted_cdf"`` caps at an observed value (the empirical quantile, i.e. classic
rank-based winsorisation). Columns of a 2-D array (units x metrics) are capped
independently.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from domain.statistics.sufficient import SampleMeanStatistic

QuantileMethod = Literal["linear", "inverted_cdf", "lower", "higher", "nearest", "midpoint"]


def cap_thresholds(
    values: object,
    upper_quantile: float | None = 0.99,
    lower_quantile: float | None = None,
    method: QuantileMethod = "linear",
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """``(lower, upper)`` caps per column (``None`` where no cap is requested)."""
    data = np.asarray(values, float)
    lower = None if lower_quantile is None else np.quantile(data, lower_quantile, 0, method=method)
    upper = None if upper_quantile is None else np.quantile(data, upper_quantile, 0, method=method)
    return lower, upper


def cap_values(
    values: object,
    upper_quantile: float | None = 0.99,
    lower_quantile: float | None = None,
    method: QuantileMethod = "linear",
) -> np.ndarray:
    """Values clipped to their ``[lower_quantile, upper_quantile]`` quantiles."""
    data = np.asarray(values, float)
    lower, upper = cap_thresholds(data, upper_quantile, lower_quantile, method)
    return np.clip(data, lower, upper)


def capped_mean_statistic(
    values: object,
    upper_quantile: float | None = 0.99,
    lower_quantile: float | None = None,
    method: QuantileMethod = "linear",
) -> SampleMeanStatistic:
    """Sufficient statistics of a 1-D sample after capping."""
    capped = cap_values(values, upper_quantile, lower_quantile, method).ravel()
    return SampleMeanStatistic(
        n=int(capped.size), sum=float(capped.sum()), sum_squares=float(np.dot(capped, capped))
    )
