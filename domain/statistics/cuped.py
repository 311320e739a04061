"""CUPED variance reduction with a pre-exposure covariate (Deng et al. 2013).

The adjusted estimator of an arm is ``Y - theta * X`` where ``Y`` is the post-exposure
mean (or ratio) and ``X`` the pre-exposure mean (or ratio) of the same units. ``theta =
Cov(Y, X) / Var(X)`` is estimated once from the pooled control+treatment data, so the
same ``theta`` is used for both arms and the difference stays unbiased. For ratio
metrics ``Y`` and ``X`` are ratios and all (co)variances come from the delta method.
The relative lift divides the adjusted difference by the *unadjusted* control mean;
its variance accounts for the covariance between the two (see ``effects``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from domain.statistics.moments import ArmMoments, _safe_divide, ratio_parts
from domain.statistics.sufficient import (
    ProportionStatistic,
    RegressionAdjustedRatioStatistic,
    RegressionAdjustedStatistic,
    pool,
    sample_covariance,
    sample_variance,
)

AdjustedStatistic = RegressionAdjustedStatistic | RegressionAdjustedRatioStatistic


@dataclass(frozen=True)
class CovariateParts:
    """Per-unit moments of the post estimator ``Y``, the covariate ``X`` and their cov."""

    n: np.ndarray
    post_mean: np.ndarray
    post_variance: np.ndarray
    pre_mean: np.ndarray
    pre_variance: np.ndarray
    covariance: np.ndarray
    zero_denominator: np.ndarray


@np.errstate(all="ignore")
def covariate_parts(stat: AdjustedStatistic) -> CovariateParts:
    """Post/pre moments of a CUPED statistic (delta method for ratios)."""
    n = np.asarray(stat.n, float)
    if isinstance(stat, RegressionAdjustedStatistic):
        post, pre = stat.post_statistic, stat.pre_statistic
        return CovariateParts(
            n=n,
            post_mean=_safe_divide(post.sum, n),
            post_variance=np.asarray(post.variance, float),
            pre_mean=_safe_divide(pre.sum, n),
            pre_variance=np.asarray(pre.variance, float),
            covariance=sample_covariance(n, post.sum, pre.sum, stat.post_pre_sum_of_products),
            zero_denominator=np.asarray(False),
        )
    m_post, d_post = stat.m_statistic_post, stat.d_statistic_post
    m_pre, d_pre = stat.m_statistic_pre, stat.d_statistic_pre
    post = ratio_parts(
        n,
        m_post.sum,
        m_post.sum_squares,
        d_post.sum,
        d_post.sum_squares,
        stat.m_post_d_post_sum_of_products,
        isinstance(m_post, ProportionStatistic),
        isinstance(d_post, ProportionStatistic),
    )
    pre = ratio_parts(
        n,
        m_pre.sum,
        m_pre.sum_squares,
        d_pre.sum,
        d_pre.sum_squares,
        stat.m_pre_d_pre_sum_of_products,
        isinstance(m_pre, ProportionStatistic),
        isinstance(d_pre, ProportionStatistic),
    )
    cov_m_mp = sample_covariance(n, m_post.sum, m_pre.sum, stat.m_post_m_pre_sum_of_products)
    cov_m_dp = sample_covariance(n, m_post.sum, d_pre.sum, stat.m_post_d_pre_sum_of_products)
    cov_d_mp = sample_covariance(n, d_post.sum, m_pre.sum, stat.m_pre_d_post_sum_of_products)
    cov_d_dp = sample_covariance(n, d_post.sum, d_pre.sum, stat.d_post_d_pre_sum_of_products)
    covariance = (
        post.grad_m * pre.grad_m * cov_m_mp
        + post.grad_m * pre.grad_d * cov_m_dp
        + post.grad_d * pre.grad_m * cov_d_mp
        + post.grad_d * pre.grad_d * cov_d_dp
    )
    return CovariateParts(
        n=n,
        post_mean=post.value,
        post_variance=post.variance,
        pre_mean=pre.value,
        pre_variance=pre.variance,
        covariance=covariance,
        zero_denominator=post.zero_denominator | pre.zero_denominator,
    )


@np.errstate(all="ignore")
def theta_from_parts(parts: CovariateParts) -> np.ndarray:
    """``Cov(Y, X) / Var(X)``, 0 where the covariate has no variance."""
    ok = np.isfinite(parts.pre_variance) & (parts.pre_variance > 0)
    theta = np.where(ok, _safe_divide(parts.covariance, np.where(ok, parts.pre_variance, 1)), 0)
    return np.where(np.isfinite(theta), theta, 0.0)


def estimate_theta(*stats: AdjustedStatistic) -> float:
    """CUPED ``theta`` from the pooled data of the given arms."""
    return float(theta_from_parts(covariate_parts(pool(*stats))))


@np.errstate(all="ignore")
def adjusted_moments(parts: CovariateParts, theta: object) -> ArmMoments:
    """Moments of ``Y - theta X`` with the unadjusted ``Y`` as base."""
    theta = np.asarray(theta, float)
    variance = parts.post_variance + theta**2 * parts.pre_variance - 2 * theta * parts.covariance
    return ArmMoments(
        n=parts.n,
        mean=parts.post_mean - theta * parts.pre_mean,
        variance=np.maximum(variance, 0.0),
        base_mean=parts.post_mean,
        base_variance=parts.post_variance,
        base_covariance=parts.post_variance - theta * parts.covariance,
        zero_denominator=np.asarray(parts.zero_denominator, bool),
    )


@np.errstate(all="ignore")
def cuped_mean_moments(
    n: object,
    post_sum: object,
    post_sum_squares: object,
    pre_sum: object,
    pre_sum_squares: object,
    post_pre_sum_of_products: object,
    theta: object,
) -> ArmMoments:
    """Vectorised CUPED moments of a mean metric from array sums and a given ``theta``."""
    n = np.asarray(n, float)
    parts = CovariateParts(
        n=n,
        post_mean=_safe_divide(post_sum, n),
        post_variance=sample_variance(n, post_sum, post_sum_squares),
        pre_mean=_safe_divide(pre_sum, n),
        pre_variance=sample_variance(n, pre_sum, pre_sum_squares),
        covariance=sample_covariance(n, post_sum, pre_sum, post_pre_sum_of_products),
        zero_denominator=np.zeros(n.shape, bool),
    )
    return adjusted_moments(parts, theta)


def cuped_pair_moments(
    control: AdjustedStatistic, treatment: AdjustedStatistic
) -> tuple[ArmMoments, ArmMoments, float]:
    """Adjusted moments of both arms and the ``theta`` used (given or pooled)."""
    theta = control.theta if control.theta is not None else estimate_theta(control, treatment)
    return (
        adjusted_moments(covariate_parts(control), theta),
        adjusted_moments(covariate_parts(treatment), theta),
        theta,
    )


def variance_reduction(stat: AdjustedStatistic, theta: float) -> float:
    """Share of the post-period variance removed by the adjustment, ``1 - Var_adj/Var``."""
    parts = covariate_parts(stat)
    adjusted = adjusted_moments(parts, theta)
    return float(1.0 - adjusted.variance / parts.post_variance)


@np.errstate(all="ignore")
def pooled_theta_from_sums(
    n: object,
    post_sum: object,
    pre_sum: object,
    pre_sum_squares: object,
    post_pre_sum_of_products: object,
) -> np.ndarray:
    """Vectorised ``theta`` from sums already pooled over control and treatment."""
    covariance = sample_covariance(n, post_sum, pre_sum, post_pre_sum_of_products)
    pre_variance = sample_variance(n, pre_sum, pre_sum_squares)
    theta = covariance / pre_variance
    return np.where(np.isfinite(theta), theta, 0.0)
