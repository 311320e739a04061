"""NeonBlue statistics engine: pure functions over sufficient statistics.

Inputs are per-variant sufficient statistics, exactly what a SQL ``GROUP BY variant``
returns (``n``, ``sum``, ``sum_squares``, and for ratio metrics and CUPED the
denominator sums and cross products), as frozen dataclasses:
:class:`ProportionStatistic`, :class:`SampleMeanStatistic`, :class:`RatioStatistic`,
:class:`RegressionAdjustedStatistic` (CUPED) and :class:`RegressionAdjustedRatioStatistic`.

Main entry point::

    from domain.statistics import AnalysisOptions, ProportionStatistic, analyze_experiment

    results = analyze_experiment(
        control=ProportionStatistic(n=10_000, sum=1_020),
        treatments={"new-checkout": ProportionStatistic(n=10_050, sum=1_130)},
        options=AnalysisOptions(engine="frequentist", difference_type="relative"),
    )
    results[0].estimate, results[0].ci_lower, results[0].p_value, results[0].error

``engine`` is ``"frequentist"`` (Welch t-test), ``"sequential"`` (asymptotic confidence
sequences, valid under peeking) or ``"bayesian"`` (Gaussian prior; chance to beat
control and risk). Bad data never raises: each result carries ``error`` (an
:class:`ErrorCode`) and ``message``. ``analyze_arrays`` is the vectorised form over
:class:`ArmMoments` arrays built with ``proportion_moments``, ``mean_moments``,
``ratio_moments``, ``quantile_moments`` or ``cuped_mean_moments``. Quantile metrics
(:class:`QuantileStatistic`, event-level :class:`QuantileClusteredStatistic`) compare a
sample quantile with its order-statistic interval; see ``quantiles``.

Other tools: ``adjust_p_values`` (Holm, Benjamini-Hochberg), ``non_inferiority_test``
(guardrails), ``sample_ratio_mismatch`` and the other health checks,
``sample_size_per_arm`` / ``minimum_detectable_effect`` / ``conditional_power`` /
``predict_significance`` (power), ``thompson_allocation`` (bandits),
``forecast_cumulative_lift`` (an experiment's lift in the
coming days) and ``cap_values`` (outliers).
"""

from domain.statistics.analysis import AnalysisOptions, analyze_arrays, analyze_experiment
from domain.statistics.bandits import (
    apply_min_share,
    arm_posteriors,
    probability_best,
    thompson_allocation,
    thompson_allocation_from_statistics,
)
from domain.statistics.bayesian import (
    BayesianArrays,
    GaussianPrior,
    bayesian_arrays,
    bayesian_test,
    expected_losses,
    gaussian_posterior,
)
from domain.statistics.corrections import (
    CorrectionMethod,
    adjust_p_values,
    benjamini_hochberg,
    holm_bonferroni,
)
from domain.statistics.cuped import (
    cuped_mean_moments,
    cuped_pair_moments,
    estimate_theta,
    pooled_theta_from_sums,
    variance_reduction,
)
from domain.statistics.effects import EffectEstimate, compare, estimate_effect, welch_dof
from domain.statistics.forecast import forecast_cumulative_lift
from domain.statistics.frequentist import TestArrays, ttest_arrays, welch_ttest
from domain.statistics.guardrails import non_inferiority_test
from domain.statistics.health import (
    covariate_imbalance,
    multiple_exposures_check,
    rate_check,
    sample_ratio_mismatch,
    sample_ratio_mismatch_over_periods,
    variant_mismatch_check,
)
from domain.statistics.impact import ProjectedImpact, projected_impact
from domain.statistics.moments import (
    ArmMoments,
    clustered_quantile_moments,
    mean_moments,
    proportion_moments,
    quantile_moments,
    quantile_statistic_moments,
    ratio_moments,
    stack_moments,
    statistic_moments,
)
from domain.statistics.outliers import cap_thresholds, cap_values, capped_mean_statistic
from domain.statistics.power import (
    conditional_power,
    minimum_detectable_effect,
    power_of_test,
    predict_significance,
    predictive_power,
    proportion_sample_size,
    sample_size_per_arm,
)
from domain.statistics.quantiles import (
    BOUND_Z,
    order_statistic_ranks,
    quantile_statistic,
    quantile_variance,
)
from domain.statistics.results import (
    Alternative,
    BanditResult,
    BayesianResult,
    ConditionalPowerResult,
    CumulativeLiftForecast,
    DifferenceType,
    Engine,
    ErrorCode,
    FrequentistResult,
    GuardrailResult,
    ImbalanceResult,
    RateCheckResult,
    SrmResult,
    VariantResult,
)
from domain.statistics.sequential import (
    DEFAULT_TUNING_PARAMETER,
    sequential_arrays,
    sequential_rho,
    sequential_test,
)
from domain.statistics.sufficient import (
    ProportionStatistic,
    QuantileClusteredStatistic,
    QuantileStatistic,
    RatioStatistic,
    RegressionAdjustedRatioStatistic,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
    Statistic,
    pool,
)

__all__ = [
    "BOUND_Z",
    "DEFAULT_TUNING_PARAMETER",
    "Alternative",
    "AnalysisOptions",
    "ArmMoments",
    "BanditResult",
    "BayesianArrays",
    "BayesianResult",
    "ConditionalPowerResult",
    "CorrectionMethod",
    "CumulativeLiftForecast",
    "DifferenceType",
    "EffectEstimate",
    "Engine",
    "ErrorCode",
    "FrequentistResult",
    "GaussianPrior",
    "GuardrailResult",
    "ImbalanceResult",
    "ProjectedImpact",
    "ProportionStatistic",
    "QuantileClusteredStatistic",
    "QuantileStatistic",
    "RateCheckResult",
    "RatioStatistic",
    "RegressionAdjustedRatioStatistic",
    "RegressionAdjustedStatistic",
    "SampleMeanStatistic",
    "SrmResult",
    "Statistic",
    "TestArrays",
    "VariantResult",
    "adjust_p_values",
    "analyze_arrays",
    "analyze_experiment",
    "apply_min_share",
    "arm_posteriors",
    "bayesian_arrays",
    "bayesian_test",
    "benjamini_hochberg",
    "cap_thresholds",
    "cap_values",
    "capped_mean_statistic",
    "clustered_quantile_moments",
    "compare",
    "conditional_power",
    "covariate_imbalance",
    "cuped_mean_moments",
    "cuped_pair_moments",
    "estimate_effect",
    "estimate_theta",
    "expected_losses",
    "forecast_cumulative_lift",
    "gaussian_posterior",
    "holm_bonferroni",
    "mean_moments",
    "minimum_detectable_effect",
    "multiple_exposures_check",
    "non_inferiority_test",
    "order_statistic_ranks",
    "pool",
    "pooled_theta_from_sums",
    "power_of_test",
    "predict_significance",
    "predictive_power",
    "probability_best",
    "projected_impact",
    "proportion_moments",
    "proportion_sample_size",
    "quantile_moments",
    "quantile_statistic",
    "quantile_statistic_moments",
    "quantile_variance",
    "rate_check",
    "ratio_moments",
    "sample_ratio_mismatch",
    "sample_ratio_mismatch_over_periods",
    "sample_size_per_arm",
    "sequential_arrays",
    "sequential_rho",
    "sequential_test",
    "stack_moments",
    "statistic_moments",
    "thompson_allocation",
    "thompson_allocation_from_statistics",
    "ttest_arrays",
    "variance_reduction",
    "variant_mismatch_check",
    "welch_dof",
    "welch_ttest",
]
