"""The forecast of an experiment's cumulative lift in the coming days.

A cumulative lift is a running average, smooth by construction: a trend model fitted to
it (Holt's, as this module once did) gives the trend almost the level's weight, and its
intervals explode ("+4.2% [-59.1%, +165.5%]" for a lift steady at 10-11% for a week).
``forecast_cumulative_lift`` models each day's own log-lift instead and rebuilds the
cumulative lift from what is observed plus what is forecast.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from domain.statistics.results import CumulativeLiftForecast, ErrorCode, error_fields
from domain.statistics.special import special

MAX_LOG_RATIO = 709.0
"""exp() of more overflows a float; a wildly swinging series can reach it."""
RECENT_DAYS = 7
"""Full days whose mean metric total stands for a coming day's."""
THIN_DAY = 0.25
"""Days with less than this share of the median day's total (a partial first or last
day) are left out of the fit; they still count in the cumulative lift."""


@dataclass(frozen=True)
class LevelState:
    """Local-level filter output, variances in units of a full day's noise variance: the
    level forecast for the next day, its variance, and the innovations' likelihood sums."""

    level: float
    variance: float
    scaled_sse: float
    log_det: float


def local_level_filter(values: np.ndarray, weights: np.ndarray, ratio: float) -> LevelState:
    """Kalman filter of ``y_t = mu_t + eps_t``, ``mu_{t+1} = mu_t + eta_t`` with
    ``Var(eps_t) = 1 / weights_t``, ``Var(eta) = ratio`` and a diffuse initial level (the
    first observation sets the level, with its own variance, and is no innovation)."""
    level, variance = float(values[0]), 1.0 / weights[0] + ratio
    scaled_sse = log_det = 0.0
    for observation, weight in zip(values[1:], weights[1:], strict=True):
        spread = variance + 1.0 / weight
        innovation = observation - level
        gain = variance / spread
        scaled_sse += innovation * innovation / spread
        log_det += math.log(spread)
        level += gain * innovation
        variance = variance * (1.0 - gain) + ratio
    return LevelState(level, variance, scaled_sse, log_det)


def fit_drift_ratio(values: np.ndarray, weights: np.ndarray) -> float:
    """The drift-to-noise variance ratio maximising the concentrated likelihood (a grid
    over log-ratios, then a bounded search around the best point: it is often ~0)."""
    from scipy import optimize  # ~0.5 s to import: only forecasts pay it

    innovations = values.size - 1

    def deviance(log_ratio: float) -> float:
        state = local_level_filter(values, weights, math.exp(log_ratio))
        sigma2 = max(state.scaled_sse / innovations, 1e-300)
        return innovations * math.log(sigma2) + state.log_det

    grid = np.linspace(-12.0, 3.0, 31)
    best = int(np.argmin([deviance(x) for x in grid]))
    low, high = grid[max(best - 1, 0)], grid[min(best + 1, grid.size - 1)]
    found = optimize.minimize_scalar(deviance, bounds=(low, high), method="bounded")
    return math.exp(min((float(found.x), float(grid[best])), key=deviance))


def forecast_cumulative_lift(
    control_users: Sequence[float],
    control_sums: Sequence[float],
    treatment_users: Sequence[float],
    treatment_sums: Sequence[float],
    horizon: int = 7,
    interval: float = 0.95,
) -> CumulativeLiftForecast:
    """Forecast the cumulative lift ``(S_T/N_T) / (S_C/N_C) - 1`` for ``horizon`` days.

    Inputs are per day: users first exposed and the metric's total. Day ``t``'s log-lift
    ``d_t = log(s_T,t / s_C,t) - log(N_T,t / N_C,t)`` sets the day's totals against the
    users exposed so far (a day's events come from all of them). A local-level model is
    fitted to ``d_t`` by maximum likelihood, a day's noise variance falling with its
    total up to the median day's (no single large day dominates), leaving out days where
    ``d_t`` is undefined and thin days. It has no trend: on days this noisy a fitted trend
    extrapolates noise, and intervals that ignore its estimation then cover too rarely.

    The cumulative log-lift is the total-weighted mean of the days', so with ``c`` now,
    ``W`` the metric's total so far and ``m`` a coming day's (the mean of recent days)::

        C_j = (W c + m (f_1 + ... + f_j)) / (W + j m)

    The level ``a`` forecasts every ``f_k``, and ``f_1 + ... + f_j`` errs with variance
    ``sigma2 (j^2 P + q (j-1) j (2j-1) / 6 + j / w)``: the level's own error ``P`` (the
    diffuse start keeps it, unlike a fixed initial state), the level's drift ``q`` and
    ``j`` days of noise (``w``: a coming day's weight). Relative to the data observed,
    the horizon's share ``j m / (W + j m)`` shrinks as data accrue, and the interval with
    it; it comes back through ``exp(x) - 1``, so it never falls below -100%.
    """
    arrays = [np.asarray(x, float) for x in (control_users, control_sums)]
    arrays += [np.asarray(x, float) for x in (treatment_users, treatment_sums)]
    n_c, s_c, n_t, s_t = arrays
    if (
        horizon < 1
        or n_c.ndim != 1
        or any(x.shape != n_c.shape or not np.all(np.isfinite(x)) for x in arrays)
        or np.any(n_c < 0)
        or np.any(n_t < 0)
    ):
        return _failed(ErrorCode.INVALID_INPUT, 0, "daily inputs of one length, horizon >= 1")
    exposed_c, exposed_t = np.cumsum(n_c), np.cumsum(n_t)
    total = s_c + s_t
    usable = (exposed_c > 0) & (exposed_t > 0) & (s_c > 0) & (s_t > 0)
    median = float(np.median(total[usable])) if usable.any() else 0.0
    usable &= total >= THIN_DAY * median
    days = int(usable.sum())
    if days < 3:
        return _failed(ErrorCode.N_TOO_SMALL, days, "need >= 3 days with both arms' totals")
    weight, now = float(total.sum()), _log_lift(s_c.sum(), s_t.sum(), n_c.sum(), n_t.sum())
    if not (weight > 0 and math.isfinite(now)):
        return _failed(ErrorCode.INVALID_INPUT, days, "cumulative totals must be positive")
    daily = np.log(s_t[usable] / s_c[usable]) - np.log(exposed_t[usable] / exposed_c[usable])
    weights = np.minimum(total[usable] / median, 1.0)
    ratio = fit_drift_ratio(daily, weights)
    state = local_level_filter(daily, weights, ratio)
    sigma2 = state.scaled_sse / (days - 1)
    coming = float(total[usable][-RECENT_DAYS:].mean())
    j = np.arange(1, horizon + 1, dtype=float)
    drift = ratio * (j - 1) * j * (2 * j - 1) / 6
    variance = sigma2 * (j * j * state.variance + drift + j / min(coming / median, 1.0))
    share = coming / (weight + j * coming)
    centre = (weight * now + coming * j * state.level) / (weight + j * coming)
    width = special.ndtri(0.5 + interval / 2) * share * np.sqrt(variance)
    return CumulativeLiftForecast(
        lift=_lift(now),
        forecast=_lifts(centre),
        lower=_lifts(centre - width),
        upper=_lifts(centre + width),
        daily_lift=_lift(state.level),
        days=days,
        drift=float(ratio * sigma2),
        sigma2=float(sigma2),
    )


def _log_lift(s_c: float, s_t: float, n_c: float, n_t: float) -> float:
    if min(s_c, s_t, n_c, n_t) <= 0:
        return math.nan
    return math.log(s_t / n_t) - math.log(s_c / n_c)


def _lift(log_ratio: float) -> float:
    """The relative lift of a log-ratio, finite however far it reaches."""
    return math.expm1(min(float(log_ratio), MAX_LOG_RATIO))


def _lifts(log_ratios: np.ndarray) -> tuple[float, ...]:
    return tuple(map(_lift, log_ratios))


def _failed(code: ErrorCode, days: int, message: str | None = None) -> CumulativeLiftForecast:
    nan = math.nan
    return CumulativeLiftForecast(
        nan, (), (), (), nan, days, nan, nan, **error_fields(code, message)
    )
