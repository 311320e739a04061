"""Multi-armed bandit allocation by Thompson sampling with a minimum share per arm.

Each arm's mean has a Gaussian posterior (``N(mean, variance / n)`` under a flat prior,
or combined with a :class:`GaussianPrior` on the arm mean). Thompson sampling allocates
traffic in proportion to the posterior probability that an arm is best, estimated from
``n_draws`` joint posterior draws (or, deterministically, by Gauss-Legendre quadrature of
``P_i = integral phi_i(x) prod_{j != i} Phi_j(x) dx`` over ``mean_i +- 12 sd_i``). The floor is then applied by water-filling: arms below
``min_share`` get exactly ``min_share`` and the rest share the remaining traffic in
proportion to their probabilities, repeated until every arm is at or above the floor.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Literal

import numpy as np

from domain.statistics.bayesian import GaussianPrior, gaussian_posterior
from domain.statistics.moments import mean_like_moments, stack_moments
from domain.statistics.results import BanditResult, ErrorCode, error_fields
from domain.statistics.special import special
from domain.statistics.sufficient import MeanLike


def arm_posteriors(
    stats: Sequence[MeanLike], prior: GaussianPrior | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean and standard deviation of each arm's mean."""
    moments = stack_moments([mean_like_moments(s) for s in stats])
    with np.errstate(divide="ignore", invalid="ignore"):
        variance = moments.variance / moments.n
    return gaussian_posterior(moments.mean, variance, prior or GaussianPrior())


Method = Literal["monte_carlo", "quadrature"]


@lru_cache(maxsize=4)
def _legendre(nodes: int) -> tuple[np.ndarray, np.ndarray]:
    return np.polynomial.legendre.leggauss(nodes)


def _probability_best_quadrature(mu: np.ndarray, sd: np.ndarray, nodes: int = 2000) -> np.ndarray:
    z, w = _legendre(nodes)
    x = mu[:, None] + sd[:, None] * 12.0 * z[None, :]  # arm i's integration grid
    cdf = special.ndtr((x[:, None, :] - mu[None, :, None]) / sd[None, :, None])  # i, j, node
    cdf[np.arange(mu.size), np.arange(mu.size)] = 1.0
    density = np.exp(-0.5 * (12.0 * z) ** 2) / np.sqrt(2 * np.pi) * 12.0
    return np.einsum("n,n,in->i", w, density, np.prod(cdf, axis=1))


def probability_best(
    means: Sequence[float],
    stds: Sequence[float],
    rng: np.random.Generator | int | None = None,
    n_draws: int = 10_000,
    inverse: bool = False,
    method: Method = "monte_carlo",
) -> np.ndarray:
    """Probability that each arm has the highest (lowest if inverse) mean.

    ``monte_carlo`` samples ``n_draws`` joint draws with ``rng``; ``quadrature`` is exact
    to about 1e-9 and needs every ``std > 0``.
    """
    mu = np.asarray(means, float)
    sd = np.asarray(stds, float)
    if method == "quadrature":
        return _probability_best_quadrature(-mu if inverse else mu, sd)
    generator = np.random.default_rng(rng)
    draws = generator.standard_normal((n_draws, mu.size)) * sd + mu
    best = np.argmin(draws, axis=1) if inverse else np.argmax(draws, axis=1)
    return np.bincount(best, minlength=mu.size) / n_draws


def apply_min_share(weights: Sequence[float], min_share: float) -> np.ndarray:
    """Raise arms below ``min_share`` to it, rescaling the others (water-filling)."""
    w = np.asarray(weights, float) / np.sum(weights)
    floored = np.zeros(w.size, bool)
    while True:
        free_mass = 1.0 - min_share * floored.sum()
        free_total = w[~floored].sum()
        scaled = np.where(
            floored,
            min_share,
            w * free_mass / free_total if free_total > 0 else free_mass / (~floored).sum(),
        )
        newly = ~floored & (scaled < min_share)
        if not newly.any():
            return scaled
        floored |= newly


def thompson_allocation(
    means: Sequence[float],
    stds: Sequence[float],
    min_share: float = 0.0,
    rng: np.random.Generator | int | None = None,
    n_draws: int = 10_000,
    inverse: bool = False,
    method: Method = "monte_carlo",
) -> BanditResult:
    """Traffic weights for the next period from current arm posteriors."""
    k = len(means)
    stds_arr = np.asarray(stds, float)
    if k < 2 or len(stds) != k or not 0 <= min_share <= 1 / k or np.any(~(stds_arr >= 0)):
        return BanditResult(
            (),
            (),
            min_share,
            **error_fields(ErrorCode.INVALID_INPUT, "need >= 2 arms, stds >= 0, min_share <= 1/k"),
        )
    if method == "quadrature" and np.any(stds_arr <= 0):
        return BanditResult(
            (), (), min_share, **error_fields(ErrorCode.ZERO_VARIANCE, "quadrature needs std > 0")
        )
    p_best = probability_best(means, stds_arr, rng, n_draws, inverse, method)
    weights = apply_min_share(p_best, min_share)
    return BanditResult(tuple(map(float, p_best)), tuple(map(float, weights)), min_share)


def thompson_allocation_from_statistics(
    stats: Sequence[MeanLike],
    min_share: float = 0.0,
    rng: np.random.Generator | int | None = None,
    prior: GaussianPrior | None = None,
    n_draws: int = 10_000,
    inverse: bool = False,
) -> BanditResult:
    """Thompson weights from per-arm sufficient statistics."""
    if any(s.n < 2 for s in stats):
        return BanditResult((), (), min_share, **error_fields(ErrorCode.N_TOO_SMALL))
    means, stds = arm_posteriors(stats, prior)
    return thompson_allocation(means, stds, min_share, rng, n_draws, inverse)
