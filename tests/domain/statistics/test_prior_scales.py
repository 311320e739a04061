"""Priors stated on one scale and used on the other (relative <-> absolute).

Literal references come from GrowthBook's gbstats (``EffectBayesianABTest`` with
``prior_type``), run on the same sufficient statistics; gbstats does not rescale an
absolute prior for a relative analysis, so that direction is checked by hand.
"""

from functools import partial

import numpy as np
import pytest
from scipy import stats

from domain.statistics import (
    AnalysisOptions,
    ErrorCode,
    GaussianPrior,
    ProportionStatistic,
    SampleMeanStatistic,
    analyze_experiment,
    bayesian_test,
)

approx = partial(pytest.approx, rel=1e-9, abs=1e-12)
CONTROL = SampleMeanStatistic(n=40, sum=370.51, sum_squares=4200.0635)
TREATMENT = SampleMeanStatistic(n=50, sum=525.08, sum_squares=8264.5468)
BASELINE = 370.51 / 40


def prior(scale: str) -> GaussianPrior:
    return GaussianPrior(mean=0.1, variance=0.09, proper=True, scale=scale)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "difference_type, scale, mean, std, chance, ci, risks",
    [  # gbstats: expected, uplift.stddev, chanceToWin, ci, risk
        ("absolute", "relative", 1.184784267549581, 1.1557000257063568, 0.8473575445730951,
         (-1.0803461597668933, 3.449914694866055), (1.2765454014666207, 0.09176113391703948)),
        ("relative", "relative", 0.12749469382002473, 0.1291153521543754, 0.8382884638462559,
         (-0.12556674625375716, 0.3805561338938066), (0.13851159755057466, 0.011016903730549922)),
        ("absolute", "absolute", 0.16011579445308893, 0.2919746971531776, 0.7082876827651098,
         (-0.4121440963641287, 0.7323756852703065), (0.2136275880289344, 0.053511793575845436)),
    ],
)  # fmt: skip
def test_matches_gbstats(difference_type, scale, mean, std, chance, ci, risks):
    result = bayesian_test(CONTROL, TREATMENT, difference_type, prior(scale))
    assert result.ok
    assert result.posterior_mean == approx(mean)
    assert result.posterior_std == approx(std)
    assert result.chance_to_beat_control == approx(chance)
    assert (result.ci_lower, result.ci_upper) == (approx(ci[0]), approx(ci[1]))
    assert (result.risk_control, result.risk_treatment) == (approx(risks[0]), approx(risks[1]))


def test_relative_prior_on_absolute_proportions_matches_gbstats():
    relative = GaussianPrior(mean=0.05, variance=0.01, proper=True)  # relative by default
    (result,) = analyze_experiment(
        ProportionStatistic(2000, 210),
        [ProportionStatistic(2100, 262)],
        AnalysisOptions(engine="bayesian", difference_type="absolute", prior=relative),
    )
    assert result.estimate == approx(262 / 2100 - 210 / 2000)
    assert result.ci_lower == approx(-0.0012582902815531805)
    assert result.ci_upper == approx(0.02705144481457796)
    assert result.chance_to_beat_control == approx(0.962928823917565)
    assert result.risk_treatment == approx(0.00010685873540218923)


def test_absolute_prior_on_relative_analysis_by_hand():
    result = bayesian_test(CONTROL, TREATMENT, "relative", prior("absolute"))
    flat = bayesian_test(CONTROL, TREATMENT, "relative")  # the likelihood alone
    prior_mean, prior_variance = 0.1 / BASELINE, 0.09 / BASELINE**2
    precision = 1 / prior_variance + 1 / flat.posterior_std**2
    mean = (prior_mean / prior_variance + flat.estimate / flat.posterior_std**2) / precision
    assert result.posterior_mean == approx(mean)
    assert result.posterior_std == approx(precision**-0.5)
    assert result.chance_to_beat_control == approx(stats.norm(mean, precision**-0.5).sf(0))
    # a relative prior of the same meaning gives the same answer
    same = GaussianPrior(prior_mean, prior_variance, proper=True, scale="relative")
    assert bayesian_test(CONTROL, TREATMENT, "relative", same).posterior_mean == approx(mean)


def test_a_negative_control_mean_keeps_the_sign_of_the_lift():
    """A lift of +10 % on a control mean of -5 is an absolute change of -0.5."""
    control = SampleMeanStatistic(1000, -5000.0, 25_000.0 + 999 * 4.0)
    treatment = SampleMeanStatistic(1000, -5500.0, 30_250.0 + 999 * 4.0)
    tight = GaussianPrior(mean=0.1, variance=1e-8, proper=True)
    result = bayesian_test(control, treatment, "absolute", tight)
    assert result.posterior_mean == pytest.approx(-0.5, abs=1e-3)


def test_relative_prior_with_a_zero_control_mean_is_an_error():
    control = SampleMeanStatistic(100, 0.0, 50.0)
    treatment = SampleMeanStatistic(100, 10.0, 60.0)
    result = bayesian_test(control, treatment, "absolute", prior("relative"))
    assert result.error == ErrorCode.ZERO_CONTROL_MEAN and np.isnan(result.posterior_mean)
    assert bayesian_test(control, treatment, "absolute", prior("absolute")).ok
    assert bayesian_test(control, treatment, "absolute").ok  # a flat prior needs no scale


def test_analysis_records_without_a_prior_scale_keep_their_meaning():
    """Records written before priors had a scale applied them on the analysis' scale."""
    from domain.audit import AnalysisSettings

    old = AnalysisSettings.from_dict(
        {"engine": "bayesian", "difference_type": "absolute", "prior_proper": True}
    )
    assert old.options().prior.scale == "absolute"
    new = AnalysisSettings(engine="bayesian", difference_type="absolute", prior_scale="relative")
    assert new.options().prior.scale == "relative"
