"""Bayesian analysis with a Gaussian prior on the (absolute or relative) effect.

The prior is stated on one scale (``GaussianPrior.scale``, relative by default as in
GrowthBook) and used on the analysis' scale: a relative prior ``N(m, v)`` becomes
``N(m b, v b^2)`` on the absolute scale, and an absolute one ``N(m / b, v / b^2)`` on the
relative scale, with ``b`` the unadjusted control mean (an absolute effect ``d`` is a
relative lift ``d / b``). gbstats rescales a relative prior the same way (with ``|b|``,
which differs only for a negative control mean) and, by a slip in its condition, never
rescales an absolute prior. A proper relative prior on an absolute analysis with a
control mean of 0 says nothing about the effect, so that comparison gets
``ZERO_CONTROL_MEAN``.

The likelihood of the effect ``d`` is ``estimate ~ N(d, se^2)`` (CLT; ``se`` from
``effects``). With prior ``d ~ N(m0, v0)`` the posterior is Gaussian with precision
``1/v0 + 1/se^2`` and mean ``(m0/v0 + estimate/se^2) / precision``; an improper (flat)
prior leaves ``N(estimate, se^2)``. For posterior ``N(mu, s^2)``:

- chance to beat control ``P(d > 0) = Phi(mu / s)`` (``P(d < 0)`` for inverse metrics),
- risk (expected loss) of shipping treatment ``E[max(0, -d)] = s phi(mu/s) - mu Phi(-mu/s)``
  and of keeping control ``E[max(0, d)] = s phi(mu/s) + mu Phi(mu/s)`` (signs swap for
  inverse metrics),
- equal-tailed credible interval ``mu +- z_{1-alpha/2} s``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from domain.statistics.effects import EffectEstimate, compare
from domain.statistics.results import BayesianResult, DifferenceType, ErrorCode, error_fields
from domain.statistics.special import special
from domain.statistics.sufficient import Statistic

PriorScale = Literal["relative", "absolute"]


@dataclass(frozen=True)
class GaussianPrior:
    """Prior ``N(mean, variance)`` on the effect; ``proper=False`` means a flat prior.

    ``scale`` is the scale ``mean`` and ``variance`` are stated on: ``relative`` (a lift,
    e.g. mean 0 and variance 0.09 put 95 % of the prior within +-59 %) or ``absolute``.
    """

    mean: float = 0.0
    variance: float = 1.0
    proper: bool = False
    scale: PriorScale = "relative"


@np.errstate(all="ignore")
def prior_on_scale(
    prior: GaussianPrior, difference_type: DifferenceType, baseline: object
) -> tuple[np.ndarray, np.ndarray]:
    """The prior's mean and variance on the analysis' scale (see the module docstring)."""
    mean, variance = np.asarray(prior.mean, float), np.asarray(prior.variance, float)
    if prior.scale == difference_type:
        return mean, variance
    b = np.asarray(baseline, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        if difference_type == "absolute":
            return mean * b, variance * b**2
        return mean / b, variance / b**2


@dataclass(frozen=True)
class BayesianArrays:
    """Array-valued Bayesian output; failed elements hold ``nan``."""

    estimate: np.ndarray
    posterior_mean: np.ndarray
    posterior_std: np.ndarray
    ci_lower: np.ndarray
    ci_upper: np.ndarray
    chance_to_beat_control: np.ndarray
    risk_control: np.ndarray
    risk_treatment: np.ndarray
    error_code: np.ndarray
    difference_type: DifferenceType

    def result(self, index: object = ()) -> BayesianResult:
        """The :class:`BayesianResult` of one element."""
        names = (
            "estimate",
            "posterior_mean",
            "posterior_std",
            "ci_lower",
            "ci_upper",
            "chance_to_beat_control",
            "risk_control",
            "risk_treatment",
        )
        values = {name: float(getattr(self, name)[index]) for name in names}
        code = ErrorCode(int(self.error_code[index]))
        return BayesianResult(
            **values,
            difference_type=self.difference_type,
            **error_fields(code),  # type: ignore[arg-type]
        )


@np.errstate(all="ignore")
def gaussian_posterior(
    estimate: object, variance: object, prior: GaussianPrior
) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean and standard deviation of the effect."""
    if not prior.proper:
        return np.asarray(estimate, float), np.sqrt(np.asarray(variance, float))
    return conjugate_posterior(estimate, variance, prior.mean, prior.variance)


@np.errstate(all="ignore")
def conjugate_posterior(
    estimate: object, variance: object, prior_mean: object, prior_variance: object
) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean and standard deviation of a normal likelihood and a normal prior."""
    estimate = np.asarray(estimate, float)
    variance = np.asarray(variance, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = 1 / prior_variance + 1 / variance
        mean = (prior_mean / prior_variance + estimate / variance) / precision
    return mean, np.sqrt(1 / precision)


@np.errstate(all="ignore")
def expected_losses(mean: object, std: object) -> tuple[np.ndarray, np.ndarray]:
    """``(E[max(0, d)], E[max(0, -d)])`` for ``d ~ N(mean, std^2)``."""
    mean = np.asarray(mean, float)
    std = np.asarray(std, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = mean / std
    density = std * np.exp(-0.5 * z**2) / np.sqrt(2 * np.pi)
    return density + mean * special.ndtr(z), density - mean * special.ndtr(-z)


@np.errstate(all="ignore")
def bayesian_arrays(
    effect: EffectEstimate,
    prior: GaussianPrior | None = None,
    alpha: float = 0.05,
    inverse: bool = False,
) -> BayesianArrays:
    """Posterior summaries for every element of ``effect``."""
    prior = prior or GaussianPrior()
    code = effect.error_code
    if prior.proper:
        baseline = effect.baseline if effect.baseline is not None else np.nan
        prior_mean, prior_variance = prior_on_scale(prior, effect.difference_type, baseline)
        mean, std = conjugate_posterior(
            effect.estimate, effect.variance, prior_mean, prior_variance
        )
        unusable = ~(np.isfinite(prior_variance) & (prior_variance > 0))
        code = np.where(unusable & (code == 0), np.int8(ErrorCode.ZERO_CONTROL_MEAN), code)
    else:
        mean, std = gaussian_posterior(effect.estimate, effect.variance, prior)
    with np.errstate(divide="ignore", invalid="ignore"):
        chance = special.ndtr(mean / std)
    gain_if_treatment, loss_if_treatment = expected_losses(mean, std)
    if inverse:
        chance = 1 - chance
        gain_if_treatment, loss_if_treatment = loss_if_treatment, gain_if_treatment
    width = special.ndtri(1 - alpha / 2) * std
    ok = code == ErrorCode.NONE
    arrays = [
        effect.estimate,
        mean,
        std,
        mean - width,
        mean + width,
        chance,
        gain_if_treatment,
        loss_if_treatment,
    ]
    return BayesianArrays(
        *[np.where(ok, a, np.nan) for a in np.broadcast_arrays(*arrays)],
        error_code=np.asarray(code),
        difference_type=effect.difference_type,
    )


def bayesian_test(
    control: Statistic,
    treatment: Statistic,
    difference_type: DifferenceType = "relative",
    prior: GaussianPrior | None = None,
    alpha: float = 0.05,
    inverse: bool = False,
) -> BayesianResult:
    """Gaussian-prior Bayesian comparison of ``treatment`` with ``control``."""
    effect = compare(control, treatment, difference_type)
    return bayesian_arrays(effect, prior, alpha, inverse).result()
