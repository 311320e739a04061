"""Scoring forecasts against outcomes: by hand, and on a simulated portfolio with known
truths (the references are numpy computations over the same simulated data)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from domain.intelligence.track_record import (
    Forecast,
    Outcome,
    PredictionScore,
    score,
    track_record,
)
from domain.statistics import AnalysisOptions, analyze_arrays, predictive_power, proportion_moments


def test_one_recommendation_by_hand():
    forecast = Forecast.of(
        "continue", {"lift": 0.04, "ci_lower": -0.01, "ci_upper": 0.09, "predictive_power": 0.85}
    )
    hit = score(forecast, Outcome(lift=0.06, significant=True))
    assert hit == PredictionScore(True, (0.85 - 1) ** 2, 0.85, True)
    miss = score(forecast, Outcome(lift=0.12, significant=False))
    assert miss.covered is False and miss.brier == pytest.approx(0.85**2)


def test_guardrail_stops_carry_no_primary_interval():
    forecast = Forecast.of("stop", {"lift": -0.2, "ci_lower": -0.3, "ci_upper": -0.1})
    assert not forecast.has_interval and forecast.predictive_power is None
    assert score(forecast, Outcome(0.0, False)) == PredictionScore(None, None, None, False)


def test_track_record_statement():
    scores = [(f"e{i}", PredictionScore(i % 5 != 0, (0.9 - (i % 4 != 0)) ** 2, 0.9, i % 4 != 0))
              for i in range(20)]  # fmt: skip
    record = track_record(scores)
    assert record.experiments == 20 and record.intervals == 20 and record.covered == 16
    top = record.bands[-1]
    assert (top.forecasts, top.came_true) == (20, 15)
    assert record.statement() == (
        "Track record over 20 concluded experiments: our 80%+ forecasts of significance have "
        "come true 75% of the time over 20 forecasts; our lift intervals held the final lift "
        f"80% of the time over 20 (Brier score {record.brier:.3f})."
    )
    assert track_record(scores[:3]).statement() == ""


def simulate(experiments: int, seed: int):
    """Two-arm conversion tests looked at half-way, with true relative lifts ~ N(0, 4 %)."""
    rng = np.random.default_rng(seed)
    base, half = 0.10, 4000
    truth = rng.normal(0.0, 0.04, experiments)
    rates = np.stack([np.full(experiments, base), base * (1 + truth)], axis=1)
    first = rng.binomial(half, rates)
    final = first + rng.binomial(half, rates)
    options = AnalysisOptions(difference_type="relative")

    def analysis(counts, n):
        arms = proportion_moments(n, counts)
        return analyze_arrays(arms.take((slice(None), 0)), arms.take((slice(None), 1)), options)

    interim, end = analysis(first, half), analysis(final, 2 * half)
    power = np.array([predictive_power(z, 0.5) for z in interim.estimate / interim.std_error])
    return truth, interim, power, end.p_value < 0.05


@pytest.mark.slow
def test_simulated_portfolio_with_known_truths():
    truth, interim, power, significant = simulate(3000, seed=16)
    scores = [
        (
            f"e{k}",
            score(
                Forecast(interim.estimate[k], interim.ci_lower[k], interim.ci_upper[k], power[k]),
                Outcome(truth[k], bool(significant[k])),
            ),
        )
        for k in range(len(truth))
    ]
    record = track_record(scores)
    held = (interim.ci_lower <= truth) & (truth <= interim.ci_upper)
    assert record.covered == held.sum() and 0.94 <= record.coverage <= 0.96  # 95 % intervals
    assert record.brier == pytest.approx(np.mean((power - significant) ** 2), rel=1e-12)
    for band in record.bands:
        inside = (power >= band.low) & ((power < band.high) | (band.high == 1.0))
        assert (band.forecasts, band.came_true) == (inside.sum(), significant[inside].sum())
    # the scores tell a worse forecaster apart: intervals half as wide hold the truth less
    narrow = track_record([
        (key, score(Forecast(e, e - (e - lo) / 2, e + (hi - e) / 2, None), Outcome(t, False)))
        for (key, _), e, lo, hi, t in zip(scores, interim.estimate, interim.ci_lower,
                                           interim.ci_upper, truth, strict=True)
    ])  # fmt: skip
    assert narrow.coverage == pytest.approx(2 * stats.norm.cdf(0.98) - 1, abs=0.03)
    assert math.isnan(narrow.brier)
