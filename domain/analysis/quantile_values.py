"""Quantile statistics of a metric from its values per user (replays of the event log).

The read model computes the same statistics in SQL; replays build them here from each
exposed user's non-excluded values, so both paths give one answer.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np

from domain.experiments.values import Metric
from domain.statistics import QuantileStatistic, quantile_statistic


def metric_quantile(
    metric: Metric, values: Mapping[Hashable, Sequence[float]]
) -> QuantileStatistic:
    """Event-level (clustered by user) or per-user (users' totals) quantile statistic.

    ``values`` maps each exposed user of one variant to their values of ``metric``; users
    without any value take no part, as in the read model.
    """
    level = float(metric.quantile or np.nan)
    users = [u for u, user_values in values.items() if len(user_values)]
    if metric.quantile_per_user:
        return quantile_statistic([float(np.sum(values[u])) for u in users], level)
    flat = [float(v) for u in users for v in values[u]]
    units = [i for i, u in enumerate(users) for _ in values[u]]
    return quantile_statistic(flat, level, units)
