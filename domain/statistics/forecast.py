"""Trend forecasting of daily metric series: Holt's linear trend, ETS(A,A,N) form.

For observations ``y_1..y_n`` with one-step error ``e_t = y_t - (l_{t-1} + b_{t-1})``::

    l_t = l_{t-1} + b_{t-1} + alpha e_t
    b_t = b_{t-1} + beta e_t            (0 < beta <= alpha < 1)

initialised with ``l_0 = y_1`` and ``b_0 = y_2 - y_1``. The ``h``-step forecast is
``l_n + h b_n`` with variance ``sigma^2 (1 + sum_{j=1}^{h-1} (alpha + j beta)^2)`` and
``sigma^2 = SSE / n`` (Hyndman et al., "Forecasting with Exponential Smoothing", 2008,
class 1 models), giving Gaussian prediction intervals. Unset ``alpha``/``beta`` are
chosen by minimising the one-step SSE.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from domain.statistics.results import ErrorCode, ForecastResult, error_fields
from domain.statistics.special import special


@dataclass(frozen=True)
class HoltState:
    """Final level and trend after filtering, and the one-step sum of squared errors."""

    level: float
    trend: float
    sse: float


def holt_filter(values: Sequence[float], alpha: float, beta: float) -> HoltState:
    """Run Holt's recursions over ``values`` (at least 2 observations)."""
    y = np.asarray(values, float)
    level, trend, sse = y[0], y[1] - y[0], 0.0
    for observation in y:
        error = observation - (level + trend)
        sse += error * error
        level = level + trend + alpha * error
        trend = trend + beta * error
    return HoltState(float(level), float(trend), float(sse))


def fit_holt(values: Sequence[float]) -> tuple[float, float]:
    """``(alpha, beta)`` minimising the one-step SSE, with ``beta = alpha * share``."""
    from scipy import optimize  # ~0.5 s to import: only forecasts pay it

    def sse(params: np.ndarray) -> float:
        alpha, share = params
        return holt_filter(values, alpha, alpha * share).sse

    best = optimize.minimize(
        sse, x0=np.array([0.5, 0.2]), bounds=[(1e-4, 0.9999), (1e-4, 1.0)], method="L-BFGS-B"
    )
    alpha, share = best.x
    return float(alpha), float(alpha * share)


def predict_experiment_trends(
    values: Sequence[float],
    horizon: int = 7,
    alpha: float | None = None,
    beta: float | None = None,
    interval: float = 0.95,
) -> ForecastResult:
    """Forecast the next ``horizon`` days of a daily series with prediction intervals."""
    y = np.asarray(values, float)
    if y.ndim != 1 or y.size < 3 or not np.all(np.isfinite(y)) or horizon < 1:
        return ForecastResult(
            (),
            (),
            (),
            np.nan,
            np.nan,
            np.nan,
            np.nan,
            np.nan,
            **error_fields(ErrorCode.N_TOO_SMALL, "need >= 3 finite daily values, horizon >= 1"),
        )
    if alpha is None or beta is None:
        fitted_alpha, fitted_beta = fit_holt(y)
        alpha = fitted_alpha if alpha is None else alpha
        beta = fitted_beta if beta is None else beta
    state = holt_filter(y, alpha, beta)
    sigma2 = state.sse / y.size
    steps = np.arange(1, horizon + 1)
    forecast = state.level + steps * state.trend
    increments = (alpha + np.arange(1, horizon) * beta) ** 2
    variance = sigma2 * (1 + np.concatenate([[0.0], np.cumsum(increments)]))
    width = special.ndtri(0.5 + interval / 2) * np.sqrt(variance)
    return ForecastResult(
        forecast=tuple(map(float, forecast)),
        lower=tuple(map(float, forecast - width)),
        upper=tuple(map(float, forecast + width)),
        level=state.level,
        trend=state.trend,
        alpha=float(alpha),
        beta=float(beta),
        sigma2=float(sigma2),
    )
