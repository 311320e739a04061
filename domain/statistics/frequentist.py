"""Fixed-horizon Welch t-test on absolute or relative effects, vectorised.

``t = (estimate - test_value) / se`` with Welch-Satterthwaite degrees of freedom; the
relative lift's ``se`` comes from the delta method (see ``effects``). Confidence
intervals are ``estimate +- t_{1-alpha/2, dof} se`` (two-sided) or one-sided bounds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from domain.statistics.effects import EffectEstimate, compare
from domain.statistics.results import (
    Alternative,
    DifferenceType,
    ErrorCode,
    FrequentistResult,
    error_fields,
)
from domain.statistics.special import special
from domain.statistics.sufficient import Statistic


@dataclass(frozen=True)
class TestArrays:
    """Array-valued test output; elements with ``error_code != 0`` hold ``nan``."""

    estimate: np.ndarray
    std_error: np.ndarray
    ci_lower: np.ndarray
    ci_upper: np.ndarray
    p_value: np.ndarray
    dof: np.ndarray
    error_code: np.ndarray
    alternative: Alternative
    difference_type: DifferenceType
    sequential: bool = False

    def result(self, index: object = ()) -> FrequentistResult:
        """The :class:`FrequentistResult` of one element."""
        code = ErrorCode(int(self.error_code[index]))
        values = {
            name: float(getattr(self, name)[index])
            for name in ("estimate", "std_error", "ci_lower", "ci_upper", "p_value", "dof")
        }
        return FrequentistResult(
            **values,
            alternative=self.alternative,
            difference_type=self.difference_type,
            sequential=self.sequential,
            **error_fields(code),  # type: ignore[arg-type]
        )


def masked(effect: EffectEstimate, *arrays: np.ndarray) -> list[np.ndarray]:
    """Replace elements of failed comparisons by ``nan``."""
    ok = effect.ok
    return [np.where(ok, a, np.nan) for a in np.broadcast_arrays(*arrays)]


@np.errstate(all="ignore")
def ttest_arrays(
    effect: EffectEstimate,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    test_value: float = 0.0,
) -> TestArrays:
    """Welch t-test for every element of ``effect``."""
    se = effect.std_error
    dof = effect.dof
    with np.errstate(divide="ignore", invalid="ignore"):
        t_stat = (effect.estimate - test_value) / se
    if alternative == "two-sided":
        p_value = 2 * special.stdtr(dof, -np.abs(t_stat))
        width = special.stdtrit(dof, 1 - alpha / 2) * se
        lower, upper = effect.estimate - width, effect.estimate + width
    else:
        width = special.stdtrit(dof, 1 - alpha) * se
        if alternative == "greater":
            p_value = special.stdtr(dof, -t_stat)
            lower, upper = effect.estimate - width, np.full_like(width, np.inf)
        else:
            p_value = special.stdtr(dof, t_stat)
            lower, upper = np.full_like(width, -np.inf), effect.estimate + width
    values = masked(effect, effect.estimate, se, lower, upper, p_value, dof)
    return TestArrays(
        *values,
        error_code=effect.error_code,
        alternative=alternative,
        difference_type=effect.difference_type,
    )


def welch_ttest(
    control: Statistic,
    treatment: Statistic,
    difference_type: DifferenceType = "relative",
    alternative: Alternative = "two-sided",
    alpha: float = 0.05,
    test_value: float = 0.0,
) -> FrequentistResult:
    """Welch t-test of ``treatment`` against ``control`` sufficient statistics."""
    effect = compare(control, treatment, difference_type)
    return ttest_arrays(effect, alpha, alternative, test_value).result()
