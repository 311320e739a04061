"""Sequential testing valid under continuous peeking (asymptotic confidence sequences).

Waudby-Smith, Arbour, Sinha, Kennedy, Ramdas (2023), "Time-uniform central limit theory
and asymptotic confidence sequences", arXiv:2103.06476; the method GrowthBook uses.
With ``t`` units in total, ``sigma^2 = t Var(estimate)`` and mixing parameter ``rho``, the
two-sided ``1 - alpha`` asymptotic confidence sequence is (eq. 9)::

    estimate +- se * sqrt(2 (t rho^2 + 1) / (t rho^2) * log(sqrt(t rho^2 + 1) / alpha))

and the one-sided bound replaces ``log(sqrt(t rho^2 + 1) / alpha)`` by
``log(1 + sqrt(t rho^2 + 1) / (2 alpha))``. ``rho`` minimises the width at ``t = N*``
(the tuning parameter, an expected sample size; eq. 161)::

    rho^2 = (-2 log alpha + log(-2 log alpha + 1)) / N*

The always-valid p-value is the smallest ``alpha`` whose sequence excludes the null,
i.e. the inverse of the mixture e-value: for ``z = (estimate - test_value) / se``,
``p = min(1, sqrt(t rho^2 + 1) exp(-z^2 t rho^2 / (2 (t rho^2 + 1))))``.
"""

from __future__ import annotations

import numpy as np

from domain.statistics.effects import EffectEstimate, compare
from domain.statistics.frequentist import TestArrays, masked
from domain.statistics.results import Alternative, DifferenceType, FrequentistResult
from domain.statistics.sufficient import Statistic

DEFAULT_TUNING_PARAMETER = 5000.0


def sequential_rho(alpha: float, tuning_parameter: float) -> float:
    """Mixing parameter ``rho`` that makes the sequence tightest at ``N*``."""
    log_term = -2 * np.log(alpha)
    return float(np.sqrt((log_term + np.log(log_term + 1)) / tuning_parameter))


@np.errstate(all="ignore")
def sequential_arrays(
    effect: EffectEstimate,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    tuning_parameter: float = DEFAULT_TUNING_PARAMETER,
    test_value: float = 0.0,
) -> TestArrays:
    """Confidence sequence and always-valid p-value for every element of ``effect``."""
    se = effect.std_error
    rho2 = sequential_rho(alpha, tuning_parameter) ** 2
    t_rho2 = effect.n_total * rho2
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        z = (effect.estimate - test_value) / se
        exponent = z**2 * t_rho2 / (2 * (t_rho2 + 1))
        root = np.sqrt(t_rho2 + 1)
        factor = 2 * (t_rho2 + 1) / t_rho2
        if alternative == "two-sided":
            width = se * np.sqrt(factor * np.log(root / alpha))
            p_value = root * np.exp(-exponent)
            lower, upper = effect.estimate - width, effect.estimate + width
        else:
            width = se * np.sqrt(factor * np.log(1 + root / (2 * alpha)))
            one_sided = root / (2 * np.expm1(exponent))
            if alternative == "greater":
                p_value = np.where(z > 0, one_sided, 1.0)
                lower, upper = effect.estimate - width, np.full_like(width, np.inf)
            else:
                p_value = np.where(z < 0, one_sided, 1.0)
                lower, upper = np.full_like(width, -np.inf), effect.estimate + width
    p_value = np.minimum(p_value, 1.0)
    values = masked(effect, effect.estimate, se, lower, upper, p_value, effect.dof)
    return TestArrays(
        *values,
        error_code=effect.error_code,
        alternative=alternative,
        difference_type=effect.difference_type,
        sequential=True,
    )


def sequential_test(
    control: Statistic,
    treatment: Statistic,
    difference_type: DifferenceType = "relative",
    alternative: Alternative = "two-sided",
    alpha: float = 0.05,
    tuning_parameter: float = DEFAULT_TUNING_PARAMETER,
    test_value: float = 0.0,
) -> FrequentistResult:
    """Asymptotic confidence sequence of ``treatment`` against ``control``."""
    effect = compare(control, treatment, difference_type)
    return sequential_arrays(effect, alpha, alternative, tuning_parameter, test_value).result()
