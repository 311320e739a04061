"""Gaussian-prior Bayesian test: conjugate posterior by hand, risks by scipy quadrature."""

from functools import partial

import pytest

from domain.statistics import (
    ErrorCode,
    GaussianPrior,
    SampleMeanStatistic,
    bayesian_test,
)

pytestmark = pytest.mark.filterwarnings("error")
approx = partial(pytest.approx, abs=1e-6)
CONTROL = SampleMeanStatistic(n=40, sum=370.51, sum_squares=4200.0635)
TREATMENT = SampleMeanStatistic(n=50, sum=525.08, sum_squares=8264.5468)
# relative lift 0.13374537799249686, se 0.14304101685773268 (see test_frequentist)


def test_proper_prior_shrinks_towards_prior_mean():
    prior = GaussianPrior(mean=0.0, variance=0.09, proper=True)
    result = bayesian_test(CONTROL, TREATMENT, "relative", prior)
    assert result.estimate == approx(0.13374537799249686)
    assert result.posterior_mean == approx(0.10897161141785981)
    assert result.posterior_std == approx(0.1291153521543754)
    # scipy.stats.norm(mu, s).sf(0); expected losses by scipy.integrate.quad
    assert result.chance_to_beat_control == approx(0.8006615193239903)
    assert result.risk_control == approx(0.12332477212163297)
    assert result.risk_treatment == approx(0.014353160703773165)
    assert result.ci_lower == approx(-0.14408982865592207)
    assert result.ci_upper == approx(0.36203305149164167)


def test_improper_prior_and_inverse_metric():
    result = bayesian_test(CONTROL, TREATMENT, "relative", GaussianPrior(), alpha=0.1)
    assert result.posterior_mean == approx(0.13374537799249686)
    assert result.chance_to_beat_control == approx(0.8251095021473519)
    assert result.risk_control == approx(0.1472123774829662)
    assert result.risk_treatment == approx(0.013466999490469313)
    assert result.ci_lower == approx(-0.1015361573887715)
    assert result.ci_upper == approx(0.36902691337376514)
    inverse = bayesian_test(CONTROL, TREATMENT, "relative", alpha=0.1, inverse=True)
    assert inverse.chance_to_beat_control == approx(1 - 0.8251095021473519)
    assert inverse.risk_treatment == approx(0.1472123774829662)
    assert inverse.risk_control == approx(0.013466999490469313)


def test_bad_data_is_reported():
    result = bayesian_test(SampleMeanStatistic(1, 1.0, 1.0), TREATMENT)
    assert result.error == ErrorCode.N_TOO_SMALL
    assert not result.ok
