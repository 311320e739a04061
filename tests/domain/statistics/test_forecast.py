"""Holt linear trend against statsmodels ETSModel(error="add", trend="add")."""

from functools import partial

import pytest

from domain.statistics import ErrorCode, predict_experiment_trends

pytestmark = pytest.mark.filterwarnings("error")
approx = partial(pytest.approx, abs=1e-6)
SERIES = [10.0, 12, 13, 12.5, 15, 16, 15.5, 18, 19, 21, 20, 22]


def test_matches_statsmodels_ets_with_known_initial_state():
    # ETSModel(y, error="add", trend="add", initialization_method="known",
    #          initial_level=10, initial_trend=2).smooth([0.5, 0.1]).get_prediction(...)
    result = predict_experiment_trends(SERIES, horizon=5, alpha=0.5, beta=0.1)
    assert result.forecast == approx((23.021657, 24.076432, 25.131208, 26.185983, 27.240759))
    assert result.lower == approx((20.409365, 21.030002, 21.578106, 22.063856, 22.495294))
    assert result.upper == approx((25.633949, 27.122862, 28.684309, 30.308111, 31.986223))
    assert result.level == approx(21.96688131104)
    assert result.trend == approx(1.0547754862720007)
    assert result.sigma2 == approx(1.7764268079576502)


def test_fitted_parameters_minimise_sse():
    fitted = predict_experiment_trends(SERIES, horizon=3)
    fixed = predict_experiment_trends(SERIES, horizon=3, alpha=0.5, beta=0.1)
    assert 0 < fitted.beta <= fitted.alpha < 1
    assert fitted.sigma2 <= fixed.sigma2
    assert all(
        lo < f < hi for lo, f, hi in zip(fitted.lower, fitted.forecast, fitted.upper, strict=True)
    )


def test_short_series_is_an_error():
    assert predict_experiment_trends([1.0, 2.0]).error == ErrorCode.N_TOO_SMALL
