"""analyze_experiment / analyze_arrays: the one-call entry point."""

from functools import partial

import numpy as np
import pytest

from domain.statistics import (
    AnalysisOptions,
    ErrorCode,
    GaussianPrior,
    ProportionStatistic,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
    analyze_arrays,
    analyze_experiment,
    mean_moments,
    proportion_moments,
)

pytestmark = pytest.mark.filterwarnings("error")
approx = partial(pytest.approx, abs=1e-6)
CONTROL = SampleMeanStatistic(n=40, sum=370.51, sum_squares=4200.0635)
TREATMENT = SampleMeanStatistic(n=50, sum=525.08, sum_squares=8264.5468)


def test_frequentist_results_per_variant():
    results = analyze_experiment(
        CONTROL,
        {"b": TREATMENT, "c": CONTROL, "tiny": SampleMeanStatistic(1, 2.0, 4.0)},
        AnalysisOptions(difference_type="absolute"),
    )
    assert [r.variant for r in results] == ["b", "c", "tiny"]
    b, c, tiny = results
    assert b.ok and b.p_value == approx(0.33251692715649755)  # statsmodels, as in frequentist
    assert b.ci_lower == approx(-1.2893694800733653)
    assert b.control_mean == approx(370.51 / 40) and b.n_treatment == 50
    assert c.estimate == approx(0.0) and c.p_value == approx(1.0)
    assert tiny.error == ErrorCode.N_TOO_SMALL and tiny.message


def test_bayesian_and_sequential_engines():
    bayes = analyze_experiment(
        CONTROL,
        [TREATMENT],
        AnalysisOptions(engine="bayesian", prior=GaussianPrior(0.0, 0.09, proper=True)),
    )[0]
    assert bayes.variant == "1" and bayes.p_value is None
    assert bayes.chance_to_beat_control == approx(0.8006615193239903)
    assert bayes.risk_treatment == approx(0.014353160703773165)
    control, treatment = ProportionStatistic(2000, 210), ProportionStatistic(2100, 262)
    sequential = analyze_experiment(
        control, [treatment], AnalysisOptions(engine="sequential", difference_type="absolute")
    )[0]
    assert sequential.p_value == approx(0.49561506135037864)
    assert sequential.chance_to_beat_control is None


def test_cuped_pairs_and_errors():
    s = SampleMeanStatistic
    control = RegressionAdjustedStatistic(
        80, s(80, 814.93, 9002.2797), s(80, 804.1, 8618.867), 8628.199799999999
    )
    treatment = RegressionAdjustedStatistic(
        90, s(90, 967.3, 11149.205600000001), s(90, 883.9399999999999, 9275.4212), 9963.8382
    )
    options = AnalysisOptions(difference_type="absolute")
    result, mismatched = analyze_experiment(control, [treatment, TREATMENT], options)
    assert result.p_value == approx(0.022173942438812377)  # see test_cuped
    assert mismatched.error == ErrorCode.MISMATCHED_STATISTICS
    assert np.isnan(mismatched.n_treatment)
    missing = analyze_experiment(None, {"b": TREATMENT})
    assert missing[0].error == ErrorCode.MISSING_CONTROL
    assert analyze_experiment(CONTROL, [])[0].error == ErrorCode.INVALID_INPUT


def test_array_form_broadcasts_over_experiments_variants_metrics():
    rng = np.random.default_rng(0)
    n = rng.integers(1000, 2000, size=(4, 3, 2)).astype(float)
    conversions = np.round(n * 0.1)
    arrays = proportion_moments(n, conversions)
    result = analyze_arrays(
        arrays.take((slice(None), slice(0, 1))),
        arrays.take((slice(None), slice(1, 3))),
        AnalysisOptions(difference_type="absolute"),
    )
    assert result.p_value.shape == (4, 2, 2)
    single = analyze_experiment(
        ProportionStatistic(int(n[2, 0, 1]), conversions[2, 0, 1]),
        [ProportionStatistic(int(n[2, 2, 1]), conversions[2, 2, 1])],
        AnalysisOptions(difference_type="absolute"),
    )[0]
    assert float(result.p_value[2, 1, 1]) == approx(single.p_value)
    means = mean_moments([10, 1], [20.0, 2.0], [50.0, 4.0])
    out = analyze_arrays(means, means)
    assert out.error_code.tolist() == [0, ErrorCode.N_TOO_SMALL]
