"""Guardrail metrics with non-inferiority margins.

For a metric where higher is better and margin ``M > 0`` (same scale as the effect:
absolute units or relative lift), non-inferiority tests ``H0: d <= -M`` against
``H1: d > -M`` with a one-sided Welch t-test; for an inverse metric (lower is better)
``H0: d >= M`` against ``H1: d < M``. The status is

- ``pass``: non-inferiority shown (``p < alpha``, the one-sided bound clears the margin),
- ``fail``: not shown, and the effect is significantly harmful (one-sided test against 0),
- ``inconclusive``: neither.
"""

from __future__ import annotations

import numpy as np

from domain.statistics.effects import compare
from domain.statistics.frequentist import ttest_arrays
from domain.statistics.results import DifferenceType, ErrorCode, GuardrailResult, error_fields
from domain.statistics.sufficient import Statistic


def non_inferiority_test(
    control: Statistic,
    treatment: Statistic,
    margin: float,
    difference_type: DifferenceType = "relative",
    inverse: bool = False,
    alpha: float = 0.05,
) -> GuardrailResult:
    """Non-inferiority test of ``treatment`` against ``control`` with ``margin``."""
    effect = compare(control, treatment, difference_type)
    if margin < 0:
        code = ErrorCode.INVALID_INPUT
        return GuardrailResult(
            np.nan,
            np.nan,
            margin,
            np.nan,
            np.nan,
            "inconclusive",
            **error_fields(code, "margin must be >= 0"),  # type: ignore[arg-type]
        )
    if inverse:
        test = ttest_arrays(effect, alpha, "less", test_value=margin)
        harm = ttest_arrays(effect, alpha, "greater", test_value=0.0)
        bound = float(test.ci_upper)
    else:
        test = ttest_arrays(effect, alpha, "greater", test_value=-margin)
        harm = ttest_arrays(effect, alpha, "less", test_value=0.0)
        bound = float(test.ci_lower)
    code = ErrorCode(int(effect.error_code))
    p_value = float(test.p_value)
    if code != ErrorCode.NONE:
        status = "inconclusive"
    elif p_value < alpha:
        status = "pass"
    elif float(harm.p_value) < alpha:
        status = "fail"
    else:
        status = "inconclusive"
    return GuardrailResult(
        estimate=float(test.estimate),
        std_error=float(test.std_error),
        margin=margin,
        p_value=p_value,
        bound=bound,
        status=status,  # type: ignore[arg-type]
        **error_fields(code),  # type: ignore[arg-type]
    )
