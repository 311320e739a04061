"""The forecast of an experiment's cumulative lift, on seeded simulations.

It was once Holt's trend fitted to the running lift itself, whose intervals were ~1.2
(120 points) wide on the stable effect of the first test, as wide as they were useless.
"""

from functools import partial

import numpy as np
import pytest

from domain.statistics import ErrorCode, forecast_cumulative_lift

pytestmark = pytest.mark.filterwarnings("error")
approx = partial(pytest.approx, abs=1e-6)


def simulate_days(seed: int, days: int, lift=lambda day: 0.10, users: int = 500):
    """Per day: control users, their conversions, treatment users, theirs; ~``users`` new
    users per arm converting at 10% (treatment x ``1 + lift(day)``)."""
    rng = np.random.default_rng(seed)
    n_c, n_t = rng.poisson(users, days), rng.poisson(users, days)
    rate = 0.10 * (1 + np.array([lift(day) for day in range(days)]))
    return [n_c, rng.binomial(n_c, 0.10), n_t, rng.binomial(n_t, rate)]


def first(days, seen: int):
    return [x[:seen] for x in days]


def cumulative_lift(n_c, s_c, n_t, s_t) -> float:
    return float((s_t.sum() / n_t.sum()) / (s_c.sum() / n_c.sum()) - 1)


@pytest.mark.slow
def test_a_stable_effect_is_forecast_narrowly_and_covered():
    # +10% on 10%, ~500 users per arm a day: 21 days seen, the lift at day 35 forecast
    covered, widths = [], []
    for seed in range(200):
        days = simulate_days(seed, 35)
        truth = cumulative_lift(*days)
        result = forecast_cumulative_lift(*first(days, 21), horizon=14)
        covered.append(result.lower[-1] <= truth <= result.upper[-1])
        widths.append(result.upper[-1] - result.lower[-1])
    assert 0.90 <= np.mean(covered) <= 0.99  # 0.955
    # knowing the effect constant, ~11 points: the error of its mean over 21 days
    assert np.median(widths) < 0.15  # 0.129


def test_the_interval_narrows_as_days_accrue():
    widths = {seen: [] for seen in (7, 14, 21, 28)}
    for seed in range(30):
        days = simulate_days(seed, 28)
        for seen, found in widths.items():
            result = forecast_cumulative_lift(*first(days, seen), horizon=14)
            found.append(result.upper[-1] - result.lower[-1])
            assert np.all(np.diff(np.subtract(result.upper, result.lower)) > 0)  # and with j
    medians = [float(np.median(found)) for found in widths.values()]
    assert medians == sorted(medians, reverse=True)  # 0.25, 0.18, 0.12, 0.10
    assert medians[-1] < 0.12


@pytest.mark.parametrize("start, end", [(0.30, 0.0), (0.0, 0.30)])
def test_a_changing_effect_is_followed(start, end):
    # a novelty effect fading (or a learning effect growing) over the first weeks
    def lift(day: int) -> float:
        return end + (start - end) * np.exp(-day / 5)

    followed, covered, errors, standing = [], [], [], []
    for seed in range(20):
        days = simulate_days(seed, 35, lift, users=20_000)
        truth = cumulative_lift(*days)
        result = forecast_cumulative_lift(*first(days, 21), horizon=14)
        followed.append(np.sign(result.forecast[-1] - result.lift) == np.sign(end - start))
        covered.append(result.lower[-1] <= truth <= result.upper[-1])
        errors.append(abs(result.forecast[-1] - truth))
        standing.append(abs(result.lift - truth))
    assert np.mean(followed) >= 0.95 and np.mean(covered) >= 0.9
    assert np.median(errors) < 0.5 * np.median(standing)  # better than "as now"


def test_a_partial_last_day_does_not_swing_the_forecast():
    days = simulate_days(11, 21)
    full = forecast_cumulative_lift(*days, horizon=14)
    # a last day cut short after 5% of its users, the treated ones converting 5x less
    partial = [np.append(x, extra) for x, extra in zip(days, (25, 5, 25, 1), strict=True)]
    cut = forecast_cumulative_lift(*partial, horizon=14)
    assert cut.days == full.days == 21
    assert cut.daily_lift == pytest.approx(full.daily_lift, abs=0.001)
    assert abs(cut.forecast[-1] - full.forecast[-1]) < 0.005


def test_a_day_without_control_total_is_left_out():
    days = simulate_days(5, 21)
    days[1] = days[1].copy()
    days[1][10] = 0
    result = forecast_cumulative_lift(*days, horizon=14)
    assert result.error is None and result.days == 20
    assert all(np.isfinite(result.lower + result.upper))
    assert result.lower[-1] <= 0.10 <= result.upper[-1]


def test_a_constant_daily_lift_is_forecast_exactly():
    users = [1000] * 6
    result = forecast_cumulative_lift(users, [100] * 6, users, [110] * 6, horizon=3)
    assert result.lift == approx(0.1)
    assert result.forecast == approx((0.1, 0.1, 0.1))
    assert result.lower == approx(result.upper)
    assert result.days == 6 and result.sigma2 == approx(0)


def test_fewer_than_three_usable_days_is_an_error():
    # the first day is too thin to fit, the fourth has no conversions
    users = [10, 1000, 1000, 1000]
    result = forecast_cumulative_lift(users, [1, 100, 100, 0], users, [1, 110, 110, 0], 7)
    assert result.error == ErrorCode.N_TOO_SMALL and result.days == 2
    assert result.forecast == ()
    mismatched = forecast_cumulative_lift([1, 2, 3], [1, 1, 1], [1, 2], [1, 1], horizon=7)
    assert mismatched.error == ErrorCode.INVALID_INPUT


def test_a_wildly_swinging_lift_stays_finite():
    # the cumulative log-lift goes -30, -15, 0, 15, 30: daily totals over 26 orders apart
    control = np.ones(5)
    treated = np.diff(np.arange(1, 6) * np.exp([-30.0, -15, 0, 15, 30]), prepend=0.0)
    result = forecast_cumulative_lift(control * 20, control, control * 20, treated, 60)
    assert result.error is None
    assert all(np.isfinite(result.forecast + result.lower + result.upper))
    assert all(lo >= -1 for lo in result.lower)  # exp(x) - 1 rounds to -1 down there
