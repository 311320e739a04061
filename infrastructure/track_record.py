"""Scoring recommendations' forecasts once their experiments conclude (a use case).

The outcome of an experiment is its final fixed-horizon scorecard replayed from the event
log (the primary metric's lift, and whether it ended significant); each recommendation
made for it is scored once and the score recorded as ``Recommendation.Scored``.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from eventsourcing.utils import get_topic

from domain.analysis import build_scorecard
from domain.experiments.aggregate import Experiment
from domain.experiments.values import Status
from domain.intelligence.recommendation import Recommendation
from domain.intelligence.track_record import (
    Forecast,
    Outcome,
    PredictionScore,
    TrackRecord,
    score,
    track_record,
)
from domain.statistics import AnalysisOptions
from infrastructure.application import NeonBlue
from infrastructure.log_statistics import variant_sums
from infrastructure.recommendations import recommendations

AGAINST_FINAL = "final estimate"


def outcomes(app: NeonBlue, experiment: Experiment) -> dict[str, Outcome]:
    """variant -> the primary metric's final lift and significance (fixed horizon)."""
    sums = variant_sums(app, experiment.key).get(experiment.key, {})
    card = build_scorecard(experiment, sums, AnalysisOptions(engine="frequentist"))
    primary = card.primary()
    metric = primary[0].metric if primary else None
    return {
        row.variant: Outcome(row.lift, row.significant)
        for row in primary
        if row.metric == metric and not row.error
    }


def target_variant(recommendation: Recommendation, final: dict[str, Outcome]) -> str | None:
    """The variant a forecast was about: the recommendation's, the only treatment, or
    (as the policy picks it) the one with the largest lift."""
    if recommendation.variant in final:
        return recommendation.variant
    if len(final) == 1:
        return next(iter(final))
    finite = {v: o for v, o in final.items() if o.lift == o.lift}
    return max(finite, key=lambda v: abs(finite[v].lift)) if finite else None


def score_concluded(app: NeonBlue, experiment_key: str | None = None) -> list[UUID]:
    """Scores every unscored recommendation with a forecast whose experiment concluded
    (only those of ``experiment_key`` if given); called when an experiment concludes."""
    scored: list[UUID] = []
    finals: dict[str, dict[str, Outcome]] = {}
    for recommendation in recommendations(app, experiment_key=experiment_key):
        if recommendation.score is not None:
            continue
        forecast = Forecast.of(recommendation.action, recommendation.numbers)
        if not forecast.has_interval and forecast.predictive_power is None:
            continue
        experiment = app.experiment(recommendation.experiment_key)
        if experiment.status != Status.CONCLUDED:
            continue
        if experiment.key not in finals:
            finals[experiment.key] = outcomes(app, experiment)
        variant = target_variant(recommendation, finals[experiment.key])
        if variant is None:
            continue
        outcome = finals[experiment.key][variant]
        recommendation.record_score(outcome.lift, score(forecast, outcome), AGAINST_FINAL)
        app.save(recommendation)
        scored.append(recommendation.id)
    return scored


@dataclass(frozen=True)
class ScoredRecommendation:
    recommendation: Recommendation
    forecast: Forecast
    score: PredictionScore
    outcome_lift: float


def scored_recommendations(app: NeonBlue) -> list[ScoredRecommendation]:
    """Oldest proposal first. Only scored recommendations are read back from the store (each
    recommendation the agent makes reads this track record: reading every recommendation
    ever proposed made that grow with the log)."""
    scored = {e.originator_id for e in app.log(topics=[get_topic(Recommendation.Scored)])}
    found = []
    for entry in app.log(topics=[get_topic(Recommendation.Proposed)]) if scored else []:
        if entry.originator_id in scored:
            r = app.repository.get(entry.originator_id)
            found.append(
                ScoredRecommendation(
                    r, Forecast.of(r.action, r.numbers), r.score, float(r.outcome_lift or 0.0)
                )
            )
    return found


def current_track_record(app: NeonBlue) -> TrackRecord:
    """The track record of every scored recommendation so far."""
    return track_record(
        [(s.recommendation.experiment_key, s.score) for s in scored_recommendations(app)]
    )
