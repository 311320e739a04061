"""Treatment-minus-control effect estimates with their variance, vectorised.

Absolute: ``D = mean_t - mean_c``, ``Var(D) = v_t / n_t + v_c / n_c``.
Relative: ``L = D / base_c`` (``mean_t / mean_c - 1`` without CUPED); by the delta method
``Var(L) = Var(D) / b^2 + D^2 Var(b) / b^4 + 2 D Cov(m_c, b) / (n_c b^3)`` with
``b = base_c``, ``Var(b) = base_variance_c / n_c``.
Degrees of freedom are Welch-Satterthwaite on the per-arm variances of the means.

The relative variance is a sum of terms that cancel exactly in some cases (a treatment
mean of 0 with no treatment variance: the lift is -1 with no uncertainty under the delta
method). Rounding then leaves a residue of either sign around 1e-16 of the terms' scale,
so "zero variance" is tested against that scale (``VARIANCE_RTOL``), not against 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from domain.statistics.cuped import cuped_pair_moments
from domain.statistics.moments import ArmMoments, statistic_moments
from domain.statistics.results import DifferenceType, ErrorCode
from domain.statistics.sufficient import (
    RegressionAdjustedRatioStatistic,
    RegressionAdjustedStatistic,
    Statistic,
)

VARIANCE_RTOL = 1e-12
"""A variance at most this share of the sum of its terms' magnitudes counts as zero."""


@dataclass(frozen=True)
class EffectEstimate:
    """Array-valued effect estimates, one element per comparison."""

    estimate: np.ndarray
    variance: np.ndarray
    dof: np.ndarray
    n_total: np.ndarray
    error_code: np.ndarray
    difference_type: DifferenceType
    baseline: np.ndarray | None = None  # the unadjusted control mean (rescales priors)

    @property
    def std_error(self) -> np.ndarray:
        return np.sqrt(self.variance)

    @property
    def ok(self) -> np.ndarray:
        return self.error_code == ErrorCode.NONE


@np.errstate(all="ignore")
def welch_dof(var_t: object, n_t: object, var_c: object, n_c: object) -> np.ndarray:
    """Welch-Satterthwaite degrees of freedom from per-unit variances and sizes."""
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.asarray(var_t, float) / n_t
        b = np.asarray(var_c, float) / n_c
        return (a + b) ** 2 / (a**2 / (np.asarray(n_t) - 1) + b**2 / (np.asarray(n_c) - 1))


@np.errstate(all="ignore")
def estimate_effect(
    control: ArmMoments, treatment: ArmMoments, difference_type: DifferenceType = "relative"
) -> EffectEstimate:
    """Effect of ``treatment`` over ``control``; bad elements get an error code, not nan."""
    n_c, n_t = control.n, treatment.n
    with np.errstate(divide="ignore", invalid="ignore"):
        diff = treatment.mean - control.mean
        var_diff = treatment.variance / n_t + control.variance / n_c
        if difference_type == "relative":
            b = control.base_mean
            estimate = diff / b
            terms = (
                var_diff / b**2,
                diff**2 * control.base_variance / (n_c * b**4),
                2 * diff * control.base_covariance / (n_c * b**3),
            )
            variance = terms[0] + terms[1] + terms[2]
            scale = np.abs(terms[0]) + np.abs(terms[1]) + np.abs(terms[2])
        else:
            estimate, variance = diff, var_diff
            scale = np.abs(treatment.variance / n_t) + np.abs(control.variance / n_c)
        dof = welch_dof(treatment.variance, n_t, control.variance, n_c)
    code = np.zeros(np.broadcast(estimate, n_c, n_t).shape, dtype=np.int8)
    relative_zero = control.base_mean == 0 if difference_type == "relative" else False
    conditions = [
        (variance <= VARIANCE_RTOL * scale) | ~np.isfinite(variance),
        np.asarray(relative_zero),
        control.zero_denominator | treatment.zero_denominator,
        (n_c < 2) | (n_t < 2),
    ]
    codes = [
        ErrorCode.ZERO_VARIANCE,
        ErrorCode.ZERO_CONTROL_MEAN,
        ErrorCode.ZERO_DENOMINATOR,
        ErrorCode.N_TOO_SMALL,
    ]
    for condition, value in zip(conditions, codes, strict=True):  # later ones take priority
        code = np.where(condition, np.int8(value), code)
    return EffectEstimate(
        estimate=np.asarray(estimate, float),
        variance=np.asarray(variance, float),
        dof=np.asarray(dof, float),
        n_total=np.asarray(n_c + n_t, float),
        error_code=code,
        difference_type=difference_type,
        baseline=np.asarray(control.base_mean, float),
    )


def compare(
    control: Statistic, treatment: Statistic, difference_type: DifferenceType = "relative"
) -> EffectEstimate:
    """Effect estimate of two arms given as sufficient statistics of the same kind.

    CUPED statistics use their ``theta`` when set, else ``theta`` from the pooled pair.
    """
    if type(control) is not type(treatment):
        return invalid_effect(ErrorCode.MISMATCHED_STATISTICS, difference_type)
    if isinstance(control, RegressionAdjustedStatistic | RegressionAdjustedRatioStatistic):
        control_moments, treatment_moments, _ = cuped_pair_moments(control, treatment)
    else:
        control_moments = statistic_moments(control)
        treatment_moments = statistic_moments(treatment)  # type: ignore[arg-type]
    return estimate_effect(control_moments, treatment_moments, difference_type)


def invalid_effect(code: ErrorCode, difference_type: DifferenceType) -> EffectEstimate:
    """A scalar effect estimate that only carries an error code."""
    nan = np.asarray(np.nan)
    return EffectEstimate(nan, nan, nan, nan, np.asarray(code, np.int8), difference_type)
