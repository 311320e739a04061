"""A/A simulations of quantile intervals at n = 2,000 (seeded, marked slow).

Both arms draw from one distribution, so a 95 % interval for the difference should hold
0 in 95 % of runs: for independent values (order statistics, vectorised) and for
event-level values clustered in users (the cluster-robust variance; the i.i.d. one
under-covers there, which the test also shows).
"""

import numpy as np
import pytest

from domain.statistics import (
    AnalysisOptions,
    analyze_arrays,
    order_statistic_ranks,
    quantile_moments,
    quantile_statistic,
    quantile_statistic_moments,
)
from domain.statistics.moments import stack_moments

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("error")]
N = 2000


def coverage(control, treatment, difference_type: str = "absolute") -> float:
    result = analyze_arrays(control, treatment, AnalysisOptions(difference_type=difference_type))
    assert np.isfinite(result.ci_lower).all()
    return float(np.mean((result.ci_lower <= 0) & (result.ci_upper >= 0)))


@pytest.mark.parametrize("level", [0.5, 0.9])
@pytest.mark.parametrize("distribution", ["lognormal", "exponential"])
def test_independent_values(level, distribution):
    rng = np.random.default_rng(2026)
    runs = 4000
    if distribution == "lognormal":
        values = rng.lognormal(5, 0.8, (runs, 2, N))
    else:
        values = rng.exponential(100.0, (runs, 2, N))
    values.sort(axis=-1)
    rank, lower, upper = order_statistic_ranks(N, level)
    moments = quantile_moments(
        N, level, values[..., rank - 1], values[..., lower - 1], values[..., upper - 1]
    )
    control, treatment = moments.take((slice(None), 0)), moments.take((slice(None), 1))
    for difference_type in ("absolute", "relative"):
        assert 0.94 <= coverage(control, treatment, difference_type) <= 0.96


@pytest.mark.parametrize("level", [0.5, 0.9])
def test_event_level_values_clustered_in_users(level):
    rng = np.random.default_rng(16)
    clustered, iid = [[], []], [[], []]
    for _ in range(1500):
        for arm in (0, 1):
            counts = rng.poisson(3, N) + 1  # page loads of each of 2,000 users
            unit = np.repeat(np.arange(N), counts)
            values = np.exp(5 + rng.normal(0, 0.6, N)[unit] + rng.normal(0, 0.5, len(unit)))
            stat = quantile_statistic(values, level, unit)
            clustered[arm].append(quantile_statistic_moments(stat))
            iid[arm].append(quantile_moments(stat.n, level, stat.quantile, stat.lower, stat.upper))
    assert 0.94 <= coverage(stack_moments(clustered[0]), stack_moments(clustered[1])) <= 0.96
    assert coverage(stack_moments(iid[0]), stack_moments(iid[1])) < 0.9
