"""One-call analysis of an experiment: every treatment against control, one metric.

``analyze_experiment`` takes plain per-variant sufficient statistics (one GROUP BY row
per variant) and returns one :class:`VariantResult` per treatment. ``analyze_arrays``
is the vectorised form over arrays of moments (many experiments x variants x metrics).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from domain.statistics.bayesian import BayesianArrays, GaussianPrior, bayesian_arrays
from domain.statistics.cuped import cuped_pair_moments
from domain.statistics.effects import EffectEstimate, estimate_effect
from domain.statistics.frequentist import TestArrays, ttest_arrays
from domain.statistics.moments import ArmMoments, stack_moments, statistic_moments
from domain.statistics.results import (
    Alternative,
    DifferenceType,
    Engine,
    ErrorCode,
    VariantResult,
    error_fields,
)
from domain.statistics.sequential import DEFAULT_TUNING_PARAMETER, sequential_arrays
from domain.statistics.sufficient import (
    RegressionAdjustedRatioStatistic,
    RegressionAdjustedStatistic,
    Statistic,
)


@dataclass(frozen=True)
class AnalysisOptions:
    """How to analyse: engine, effect scale, sidedness and engine parameters.

    - ``engine``: fixed-horizon Welch t-test, sequential (peeking-safe) or Bayesian.
    - ``difference_type``: ``absolute`` (treatment - control) or ``relative`` (lift).
    - ``alternative``: two-sided or one-sided (frequentist and sequential engines).
    - ``alpha``: significance level; also sets the Bayesian credible level ``1 - alpha``.
    - ``sequential_tuning_parameter``: ``N*``, the total sample size where the
      confidence sequence is tightest.
    - ``prior``: Gaussian prior on the effect (Bayesian engine), on the relative or the
      absolute scale (``prior.scale``); it is rescaled by the control mean when the
      analysis is on the other scale.
    - ``inverse``: lower is better (Bayesian chance to win and risk flip).
    """

    engine: Engine = "frequentist"
    difference_type: DifferenceType = "relative"
    alternative: Alternative = "two-sided"
    alpha: float = 0.05
    sequential_tuning_parameter: float = DEFAULT_TUNING_PARAMETER
    prior: GaussianPrior = field(default_factory=GaussianPrior)
    inverse: bool = False
    test_value: float = 0.0


def analyze_arrays(
    control: ArmMoments, treatment: ArmMoments, options: AnalysisOptions | None = None
) -> TestArrays | BayesianArrays:
    """Vectorised analysis of array-valued moments (broadcast element by element)."""
    return _run(
        estimate_effect(control, treatment, (options or AnalysisOptions()).difference_type),
        options or AnalysisOptions(),
    )


def _run(effect: EffectEstimate, options: AnalysisOptions) -> TestArrays | BayesianArrays:
    if options.engine == "bayesian":
        return bayesian_arrays(effect, options.prior, options.alpha, options.inverse)
    if options.engine == "sequential":
        return sequential_arrays(
            effect,
            options.alpha,
            options.alternative,
            options.sequential_tuning_parameter,
            options.test_value,
        )
    return ttest_arrays(effect, options.alpha, options.alternative, options.test_value)


def _pair(control: Statistic, treatment: Statistic) -> tuple[ArmMoments, ArmMoments]:
    if isinstance(control, RegressionAdjustedStatistic | RegressionAdjustedRatioStatistic):
        control_moments, treatment_moments, _ = cuped_pair_moments(control, treatment)  # type: ignore[arg-type]
        return control_moments, treatment_moments
    return statistic_moments(control), statistic_moments(treatment)  # type: ignore[arg-type]


def analyze_experiment(
    control: Statistic | None,
    treatments: Mapping[str, Statistic] | Sequence[Statistic],
    options: AnalysisOptions | None = None,
) -> list[VariantResult]:
    """Compare each treatment with control for one metric.

    ``treatments`` maps variant names to statistics (a sequence is named ``"1"``,
    ``"2"``...). All statistics must be of one kind: ``ProportionStatistic``,
    ``SampleMeanStatistic``, ``RatioStatistic`` or their CUPED forms. Problems are
    reported per variant through ``error``/``message``; nothing raises.
    """
    options = options or AnalysisOptions()
    named = (
        dict(treatments)
        if isinstance(treatments, Mapping)
        else {str(i + 1): stat for i, stat in enumerate(treatments)}
    )
    if control is None or not named:
        code = ErrorCode.MISSING_CONTROL if control is None else ErrorCode.INVALID_INPUT
        message = None if control is None else "no treatment variants were given"
        return [_failed(name, options, code, message) for name in named] or [
            _failed("", options, code, message)
        ]
    names = list(named)
    mismatched = [type(named[name]) is not type(control) for name in names]
    pairs = [
        _pair(control, control if bad else named[name])
        for name, bad in zip(names, mismatched, strict=True)
    ]
    control_moments = stack_moments([c for c, _ in pairs])
    treatment_moments = stack_moments([t for _, t in pairs])
    effect = estimate_effect(control_moments, treatment_moments, options.difference_type)
    code = np.where(mismatched, np.int8(ErrorCode.MISMATCHED_STATISTICS), effect.error_code)
    effect = replace(effect, error_code=code)
    output = _run(effect, options)
    nan = float("nan")
    results = []
    for i, name in enumerate(names):
        error = error_fields(ErrorCode(int(code[i])))
        common = {
            "variant": name,
            "engine": options.engine,
            "difference_type": options.difference_type,
            "n_control": float(control_moments.n[i]),
            "n_treatment": nan if mismatched[i] else float(treatment_moments.n[i]),
            "control_mean": float(control_moments.base_mean[i]),
            "treatment_mean": nan if mismatched[i] else float(treatment_moments.base_mean[i]),
            "estimate": float(output.estimate[i]),
            "ci_lower": float(output.ci_lower[i]),
            "ci_upper": float(output.ci_upper[i]),
        }
        if isinstance(output, BayesianArrays):
            result = VariantResult(
                **common,  # type: ignore[arg-type]
                std_error=float(output.posterior_std[i]),
                chance_to_beat_control=float(output.chance_to_beat_control[i]),
                risk_control=float(output.risk_control[i]),
                risk_treatment=float(output.risk_treatment[i]),
                **error,  # type: ignore[arg-type]
            )
        else:
            result = VariantResult(
                **common,  # type: ignore[arg-type]
                std_error=float(output.std_error[i]),
                p_value=float(output.p_value[i]),
                **error,  # type: ignore[arg-type]
            )
        results.append(result)
    return results


def _failed(
    name: str, options: AnalysisOptions, code: ErrorCode, message: str | None
) -> VariantResult:
    nan = float("nan")
    return VariantResult(
        variant=name,
        engine=options.engine,
        difference_type=options.difference_type,
        n_control=nan,
        n_treatment=nan,
        control_mean=nan,
        treatment_mean=nan,
        estimate=nan,
        std_error=nan,
        ci_lower=nan,
        ci_upper=nan,
        **error_fields(code, message),  # type: ignore[arg-type]
    )
