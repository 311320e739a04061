"""Result dataclasses and error codes shared by the statistics engine.

Bad data never raises: every test returns its result with ``error`` set to an
:class:`ErrorCode` and a human-readable ``message``; numeric fields are then ``nan``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum
from typing import Literal

Alternative = Literal["two-sided", "greater", "less"]
DifferenceType = Literal["absolute", "relative"]
Engine = Literal["frequentist", "sequential", "bayesian"]

NAN = math.nan


class ErrorCode(IntEnum):
    """Why a comparison could not be computed (0 means no error)."""

    NONE = 0
    N_TOO_SMALL = 1
    ZERO_VARIANCE = 2
    ZERO_CONTROL_MEAN = 3
    ZERO_DENOMINATOR = 4
    MISSING_CONTROL = 5
    MISMATCHED_STATISTICS = 6
    INVALID_INPUT = 7


ERROR_MESSAGES: dict[ErrorCode, str] = {
    ErrorCode.NONE: "",
    ErrorCode.N_TOO_SMALL: "each variant needs at least 2 units",
    ErrorCode.ZERO_VARIANCE: "the variance of the difference is zero or undefined",
    ErrorCode.ZERO_CONTROL_MEAN: "the control mean is zero, so a relative lift is undefined",
    ErrorCode.ZERO_DENOMINATOR: "a ratio metric has a zero denominator sum",
    ErrorCode.MISSING_CONTROL: "no control variant statistics were given",
    ErrorCode.MISMATCHED_STATISTICS: "control and treatment statistics are of different kinds",
    ErrorCode.INVALID_INPUT: "invalid input",
}


def error_fields(code: ErrorCode, message: str | None = None) -> dict[str, object]:
    """The ``error``/``message`` keyword pair for a result dataclass."""
    if code == ErrorCode.NONE:
        return {"error": None, "message": ""}
    return {"error": code, "message": message or ERROR_MESSAGES[code]}


@dataclass(frozen=True)
class FrequentistResult:
    """Welch t-test (fixed horizon) or confidence-sequence result for one comparison."""

    estimate: float
    std_error: float
    ci_lower: float
    ci_upper: float
    p_value: float
    dof: float
    alternative: Alternative
    difference_type: DifferenceType
    sequential: bool = False
    error: ErrorCode | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class BayesianResult:
    """Gaussian posterior of the effect and the decision quantities derived from it."""

    estimate: float
    posterior_mean: float
    posterior_std: float
    ci_lower: float
    ci_upper: float
    chance_to_beat_control: float
    risk_control: float
    risk_treatment: float
    difference_type: DifferenceType
    error: ErrorCode | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class VariantResult:
    """One treatment compared with control, as returned by ``analyze_experiment``.

    ``p_value`` is ``None`` for the Bayesian engine; ``chance_to_beat_control`` and the
    risks are ``None`` for the frequentist and sequential engines.
    """

    variant: str
    engine: Engine
    difference_type: DifferenceType
    n_control: float
    n_treatment: float
    control_mean: float
    treatment_mean: float
    estimate: float
    std_error: float
    ci_lower: float
    ci_upper: float
    p_value: float | None = None
    chance_to_beat_control: float | None = None
    risk_control: float | None = None
    risk_treatment: float | None = None
    error: ErrorCode | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class SrmResult:
    """Pearson chi-square sample-ratio-mismatch check."""

    chi_square: float
    dof: int
    p_value: float
    expected: tuple[float, ...]
    mismatch: bool
    error: ErrorCode | None = None
    message: str = ""


@dataclass(frozen=True)
class RateCheckResult:
    """Share of units with a data-quality problem (multiple exposures, variant mismatch)."""

    rate: float
    count: int
    total: int
    threshold: float
    exceeded: bool
    error: ErrorCode | None = None
    message: str = ""


@dataclass(frozen=True)
class ImbalanceResult:
    """Pre-period covariate balance: per-treatment Welch p-values against control."""

    p_values: tuple[float, ...]
    standardized_differences: tuple[float, ...]
    imbalanced: bool
    threshold: float
    error: ErrorCode | None = None
    message: str = ""


@dataclass(frozen=True)
class GuardrailResult:
    """Non-inferiority test for a guardrail metric."""

    estimate: float
    std_error: float
    margin: float
    p_value: float
    bound: float
    status: Literal["pass", "fail", "inconclusive"]
    error: ErrorCode | None = None
    message: str = ""


@dataclass(frozen=True)
class ConditionalPowerResult:
    """Probability that the final analysis is significant given the data so far."""

    conditional_power: float
    information_fraction: float
    z_current: float
    assumed_effect: float
    error: ErrorCode | None = None
    message: str = ""


@dataclass(frozen=True)
class CumulativeLiftForecast:
    """A treatment's cumulative relative lift over control now and for each coming day.

    ``daily_lift`` forecasts each coming day's own lift, fitted to ``days`` days; on the
    log scale ``sigma2`` is a full day's noise variance and ``drift`` the day-to-day
    variance of the underlying level (``drift`` near 0: a stable effect).
    """

    lift: float
    forecast: tuple[float, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    daily_lift: float
    days: int
    drift: float
    sigma2: float
    error: ErrorCode | None = None
    message: str = ""


@dataclass(frozen=True)
class BanditResult:
    """Thompson-sampling allocation: raw chance each arm is best and floored weights."""

    probability_best: tuple[float, ...]
    weights: tuple[float, ...]
    min_share: float
    error: ErrorCode | None = None
    message: str = ""
