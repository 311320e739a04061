"""Experiment health checks: sample ratio mismatch, data-quality rates, covariate balance.

- SRM: Pearson chi-square of observed units per variant against ``total * weight``,
  ``k - 1`` degrees of freedom; a mismatch is flagged when ``p < threshold`` (default
  0.001, a strict level because the check runs continuously).
- Multiple exposures / variant mismatch: share of units seen in more than one variant
  (or whose logged variant disagrees with the assignment), flagged above a threshold.
- Pre-period covariate imbalance: Welch test of each treatment's pre-exposure mean
  against control, plus the standardized mean difference ``(m_t - m_c) / sqrt((v_t +
  v_c) / 2)``; flagged when any ``p < threshold``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from domain.statistics.effects import estimate_effect
from domain.statistics.frequentist import ttest_arrays
from domain.statistics.moments import mean_like_moments, stack_moments
from domain.statistics.results import (
    ErrorCode,
    ImbalanceResult,
    RateCheckResult,
    SrmResult,
    error_fields,
)
from domain.statistics.special import special
from domain.statistics.sufficient import MeanLike


def sample_ratio_mismatch(
    counts: Sequence[float], weights: Sequence[float], threshold: float = 0.001
) -> SrmResult:
    """Pearson chi-square SRM test of unit counts per variant against expected weights."""
    observed = np.asarray(counts, float)
    w = np.asarray(weights, float)
    if observed.shape != w.shape or observed.size < 2 or np.any(w <= 0) or np.any(observed < 0):
        return SrmResult(
            np.nan,
            0,
            np.nan,
            (),
            False,
            **error_fields(ErrorCode.INVALID_INPUT, "need >= 2 counts with positive weights"),
        )
    total = observed.sum()
    if total == 0:
        return SrmResult(np.nan, 0, np.nan, (), False, **error_fields(ErrorCode.N_TOO_SMALL))
    expected = total * w / w.sum()
    chi_square = float(np.sum((observed - expected) ** 2 / expected))
    dof = observed.size - 1
    p_value = float(special.chdtrc(dof, chi_square))
    return SrmResult(
        chi_square, dof, p_value, tuple(float(e) for e in expected), p_value < threshold
    )


def sample_ratio_mismatch_over_periods(
    counts: Sequence[Sequence[float]],
    weights: Sequence[Sequence[float]],
    threshold: float = 0.001,
) -> SrmResult:
    """SRM when the split changed while the experiment ran: ``counts[p]`` are the units per
    variant first exposed in period ``p``, when the weights were ``weights[p]``.

    Each period is its own multinomial draw, so the statistic is the sum of each period's
    Pearson chi-square (variants weighted 0 in a period left out of it) with the sum of
    their degrees of freedom; ``expected`` is each variant's expected units summed over
    the periods. Comparing all units with the latest weights instead flags every
    reallocation as a mismatch.
    """
    tests = []
    expected = np.zeros(len(weights[0]) if weights else 0)
    for observed, w in zip(counts, weights, strict=True):
        observed, w = np.asarray(observed, float), np.asarray(w, float)
        if observed.shape != w.shape or np.any(w < 0) or np.any(observed < 0):
            return sample_ratio_mismatch([], [])  # the invalid-input result
        total = observed.sum()
        if total == 0:
            continue
        expected += total * w / w.sum()
        live = w > 0
        if live.sum() >= 2:
            tests.append(sample_ratio_mismatch(observed[live], w[live], threshold))
    if not tests:
        return SrmResult(np.nan, 0, np.nan, (), False, **error_fields(ErrorCode.N_TOO_SMALL))
    chi_square = float(sum(t.chi_square for t in tests))
    dof = sum(t.dof for t in tests)
    p_value = float(special.chdtrc(dof, chi_square))
    return SrmResult(
        chi_square, dof, p_value, tuple(float(e) for e in expected), p_value < threshold
    )


def rate_check(count: int, total: int, threshold: float) -> RateCheckResult:
    """Share ``count / total`` of affected units and whether it exceeds ``threshold``."""
    if total <= 0 or count < 0 or count > total:
        return RateCheckResult(
            np.nan,
            count,
            total,
            threshold,
            False,
            **error_fields(ErrorCode.INVALID_INPUT, "need 0 <= count <= total and total > 0"),
        )
    rate = count / total
    return RateCheckResult(rate, count, total, threshold, rate > threshold)


def multiple_exposures_check(
    multiple_exposures: int, total_units: int, threshold: float = 0.01
) -> RateCheckResult:
    """Units exposed to more than one variant, as a share of all exposed units."""
    return rate_check(multiple_exposures, total_units, threshold)


def variant_mismatch_check(
    mismatched_units: int, total_units: int, threshold: float = 0.01
) -> RateCheckResult:
    """Units whose logged variant disagrees with their assignment, as a share."""
    return rate_check(mismatched_units, total_units, threshold)


@np.errstate(all="ignore")
def covariate_imbalance(
    control: MeanLike | None, treatments: Sequence[MeanLike], threshold: float = 0.001
) -> ImbalanceResult:
    """Welch tests of pre-period means of each treatment against control."""
    if control is None or not treatments:
        return ImbalanceResult((), (), False, threshold, **error_fields(ErrorCode.MISSING_CONTROL))
    control_moments = mean_like_moments(control)
    treatment_moments = stack_moments([mean_like_moments(t) for t in treatments])
    effect = estimate_effect(control_moments, treatment_moments, "absolute")
    tests = ttest_arrays(effect)
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled_sd = np.sqrt((treatment_moments.variance + control_moments.variance) / 2)
        smd = np.where(effect.ok, effect.estimate / pooled_sd, np.nan)
    code = ErrorCode(int(np.max(effect.error_code)))
    return ImbalanceResult(
        p_values=tuple(float(p) for p in tests.p_value),
        standardized_differences=tuple(float(d) for d in smd),
        imbalanced=bool(np.any(tests.p_value < threshold)),
        threshold=threshold,
        **error_fields(code),  # type: ignore[arg-type]
    )
