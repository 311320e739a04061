"""Power analysis: sample size, minimum detectable effect and conditional power.

Fixed-horizon power uses the normal approximation of the Welch test: with
``se = sqrt(v_c / n_c + v_t / n_t)`` and critical value ``z = z_{1-alpha/2}`` (two-sided,
both tails counted) or ``z_{1-alpha}`` (one-sided)::

    power(d) = Phi(d / se - z) + Phi(-d / se - z)        (two-sided)

Sample size and MDE solve ``power = target`` for ``n`` or ``d`` (Brent's method).
Conditional power follows Lan & Wittes' B-value (1988): with information fraction
``t = n_now / n_final``, ``B = z_now sqrt(t)`` and drift ``theta = d / se_final``, the final
statistic is ``N(B + theta (1 - t), 1 - t)`` given the data so far. The default ``d`` is
the current estimate ("current trend").
"""

from __future__ import annotations

import math

import numpy as np

from domain.statistics.effects import compare
from domain.statistics.results import (
    Alternative,
    ConditionalPowerResult,
    DifferenceType,
    ErrorCode,
    error_fields,
)
from domain.statistics.special import special
from domain.statistics.sufficient import Statistic


def _critical(alpha: float, alternative: Alternative) -> float:
    return float(special.ndtri(1 - alpha / 2 if alternative == "two-sided" else 1 - alpha))


def power_of_test(
    effect: float, std_error: float, alpha: float = 0.05, alternative: Alternative = "two-sided"
) -> float:
    """Probability of a significant result when the true effect is ``effect``."""
    z = _critical(alpha, alternative)
    shift = effect / std_error
    if alternative == "greater":
        return float(special.ndtr(shift - z))
    if alternative == "less":
        return float(special.ndtr(-shift - z))
    return float(special.ndtr(shift - z) + special.ndtr(-shift - z))


def _std_error(
    n_control: float, variance_control: float, variance_treatment: float, allocation_ratio: float
) -> float:
    return math.sqrt(
        variance_control / n_control + variance_treatment / (allocation_ratio * n_control)
    )


def sample_size_per_arm(
    effect: float,
    variance_control: float,
    variance_treatment: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    alternative: Alternative = "two-sided",
    allocation_ratio: float = 1.0,
) -> float:
    """Control units needed to detect ``effect`` (treatment gets ``allocation_ratio`` x).

    ``effect`` is an absolute difference; for a relative MDE pass ``mde * baseline_mean``.
    """
    variance_treatment = variance_control if variance_treatment is None else variance_treatment
    signed = -abs(effect) if alternative == "less" else abs(effect)

    def gap(n: float) -> float:
        se = _std_error(n, variance_control, variance_treatment, allocation_ratio)
        return power_of_test(signed, se, alpha, alternative) - power

    from scipy import optimize  # ~0.5 s to import: only sample-size questions pay it

    return float(optimize.brentq(gap, 1e-6, 1e15, xtol=1e-10, rtol=1e-14))


def proportion_sample_size(
    baseline_rate: float,
    relative_mde: float,
    alpha: float = 0.05,
    power: float = 0.8,
    alternative: Alternative = "two-sided",
) -> float:
    """Units per arm to detect a relative change of a conversion rate (unpooled variances)."""
    treated = baseline_rate * (1 + relative_mde)
    return sample_size_per_arm(
        treated - baseline_rate,
        baseline_rate * (1 - baseline_rate),
        treated * (1 - treated),
        alpha,
        power,
        alternative,
    )


def minimum_detectable_effect(
    n_control: float,
    n_treatment: float,
    variance_control: float,
    variance_treatment: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    alternative: Alternative = "two-sided",
) -> float:
    """Smallest absolute effect detected with probability ``power`` (positive number)."""
    variance_treatment = variance_control if variance_treatment is None else variance_treatment
    se = math.sqrt(variance_control / n_control + variance_treatment / n_treatment)
    direction = -1.0 if alternative == "less" else 1.0

    def gap(d: float) -> float:
        return power_of_test(direction * d, se, alpha, alternative) - power

    from scipy import optimize

    return float(optimize.brentq(gap, 0.0, 100 * se, xtol=1e-14, rtol=1e-14))


def conditional_power(
    estimate: float,
    std_error: float,
    n_current: float,
    n_final: float,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    assumed_effect: float | None = None,
) -> ConditionalPowerResult:
    """Probability that the analysis at ``n_final`` units is significant, given now."""
    effect = estimate if assumed_effect is None else assumed_effect
    if not (std_error > 0 and n_current > 0 and n_final > 0 and math.isfinite(estimate)):
        return ConditionalPowerResult(
            np.nan,
            np.nan,
            np.nan,
            effect,
            **error_fields(ErrorCode.INVALID_INPUT),  # type: ignore[arg-type]
        )
    fraction = min(n_current / n_final, 1.0)
    z_now = estimate / std_error
    z = _critical(alpha, alternative)
    if fraction >= 1.0:
        upper, lower = float(z_now > z), float(z_now < -z)
    else:
        drift = effect / (std_error * math.sqrt(fraction))  # effect / se at the end
        centre = z_now * math.sqrt(fraction) + drift * (1 - fraction)
        spread = math.sqrt(1 - fraction)
        upper = float(special.ndtr((centre - z) / spread))
        lower = float(special.ndtr((-z - centre) / spread))
    value = {"two-sided": upper + lower, "greater": upper, "less": lower}[alternative]
    return ConditionalPowerResult(value, fraction, z_now, effect)


def predict_significance(
    control: Statistic,
    treatment: Statistic,
    daily_units: float,
    days_remaining: float,
    difference_type: DifferenceType = "relative",
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    assumed_effect: float | None = None,
) -> ConditionalPowerResult:
    """Chance to reach significance by the planned end at current traffic and effect."""
    effect = compare(control, treatment, difference_type)
    code = ErrorCode(int(effect.error_code))
    if code != ErrorCode.NONE:
        return ConditionalPowerResult(np.nan, np.nan, np.nan, np.nan, **error_fields(code))  # type: ignore[arg-type]
    n_now = float(effect.n_total)
    return conditional_power(
        float(effect.estimate),
        float(effect.std_error),
        n_now,
        n_now + daily_units * days_remaining,
        alpha,
        alternative,
        assumed_effect,
    )


def predictive_power(
    z_current: float, information_fraction: float, alpha: float = 0.05, two_sided: bool = True
) -> float:
    """Chance of significance at the planned end, averaging over what the effect may be.

    Unlike :func:`conditional_power`, which assumes the current point estimate is the
    true effect (optimistic after a lucky start), this averages conditional power over the
    flat-prior posterior of the drift given the current z. In Brownian-motion terms,
    ``B(1) | B(t) ~ N(B(t)/t, (1-t)/t)`` with ``B(t) = z_t * sqrt(t)``, so
    ``P(Z_1 > c) = Phi((z_t - c * sqrt(t)) / sqrt(1 - t))`` (Spiegelhalter et al., 1986).
    """
    if not (math.isfinite(z_current) and information_fraction > 0):
        return math.nan
    critical = float(special.ndtri(1 - (alpha / 2 if two_sided else alpha)))
    if information_fraction >= 1:
        return float(abs(z_current) > critical if two_sided else z_current > critical)
    scale = math.sqrt(1 - information_fraction)
    shift = critical * math.sqrt(information_fraction)
    upper = float(special.ndtr((z_current - shift) / scale))
    lower = float(special.ndtr((-z_current - shift) / scale)) if two_sided else 0.0
    return upper + lower
