"""The recommendation policy on the four situations agents must get right."""

from __future__ import annotations

import pytest

from domain.analysis import VariantSums, build_scorecard
from domain.experiments.aggregate import Experiment
from domain.experiments.values import Metric, MetricKind, MetricRole
from domain.intelligence.policy import Action, Timing, recommend
from domain.intelligence.recommendation import Recommendation, RecommendationError
from domain.statistics import AnalysisOptions
from tests.factories import two_variants

PRIMARY = Metric("conversion", MetricRole.PRIMARY, MetricKind.BINOMIAL)
LATENCY = Metric(
    "latency", MetricRole.GUARDRAIL, MetricKind.MEAN, higher_is_better=False, margin=0.05
)


def card(control, treatment, latency=(1000.0, 1000.0), engine="sequential"):
    experiment = Experiment.design("e", "E", variants=two_variants(), metrics=[PRIMARY, LATENCY])

    def sums(users, conversions, mean_latency):
        return VariantSums(
            users,
            {"conversion": conversions, "latency": mean_latency * users},
            {"conversion": conversions, "latency": (mean_latency**2 + 40_000) * users},
        )

    return build_scorecard(
        experiment,
        {"control": sums(*control, latency[0]), "treatment": sums(*treatment, latency[1])},
        AnalysisOptions(engine=engine),
    )


def test_srm_comes_first():
    proposal = recommend(card((10_000, 1000), (9_000, 1200)), Timing(14))
    assert proposal.action == Action.FIX_SRM and proposal.needs_approval
    assert proposal.numbers["srm_p_value"] < 0.001
    # the split reads as numbers a person can check, not a Python dict
    assert (
        "control 10,000 (52.6%), treatment 9,000 (47.4%); expected 50.0% / 50.0%"
        in (proposal.reasons[0])
    )


def test_clear_winner_is_shipped():
    proposal = recommend(card((20_000, 2000), (20_000, 2400)), Timing(14))
    assert proposal.action == Action.SHIP and proposal.variant == "treatment"
    assert proposal.numbers["lift"] == pytest.approx(0.2)
    assert "Stop and ship" in proposal.reasons[0]


@pytest.mark.parametrize(
    ("control", "treatment", "action"),
    [((20_000, 2000), (20_000, 2400), Action.SHIP), ((20_000, 2400), (20_000, 2000), Action.STOP)],
)
def test_bayesian_verdicts_cite_the_chance_to_beat_control(control, treatment, action):
    """The Bayesian engine has no p-values: its verdicts say how likely the variant wins."""
    proposal = recommend(card(control, treatment, engine="bayesian"), Timing(14))
    assert proposal.action == action
    assert "chance to beat control" in proposal.reasons[0] and "p=" not in proposal.reasons[0]


def test_harmful_guardrail_stops_even_with_a_winner():
    proposal = recommend(card((20_000, 2000), (20_000, 2400), latency=(1000, 1200)), Timing(14))
    assert proposal.action == Action.STOP and proposal.variant == "treatment"
    assert "Guardrail latency" in proposal.reasons[0]


def test_significantly_worse_primary_stops():
    proposal = recommend(card((20_000, 2400), (20_000, 2000)), Timing(14))
    assert proposal.action == Action.STOP


def test_under_powered_test_is_extended():
    proposal = recommend(card((1_000, 100), (1_000, 108)), Timing(days_running=7))
    assert proposal.action == Action.EXTEND and not proposal.needs_approval
    assert proposal.numbers["predictive_power"] < 0.8
    assert "Under-powered" in proposal.reasons[0]


def test_on_track_test_continues():
    # a +15% effect at z ~ 1.9 on day 3 of 28: not significant yet, but clearly on track
    proposal = recommend(card((3_000, 300), (3_000, 345), engine="frequentist"), Timing(3))
    assert proposal.action == Action.CONTINUE and not proposal.needs_approval
    assert proposal.numbers["predictive_power"] >= 0.8


@pytest.mark.parametrize(
    ("control", "treatment", "latency", "action", "wording"),
    [
        ((20_000, 2000), (20_000, 2400), (1000, 1200), Action.ROLL_BACK, "rolled back"),
        ((20_000, 2400), (20_000, 2000), (1000, 1000), Action.ROLL_BACK, "rolled back"),
        ((20_000, 2000), (20_000, 2400), (1000, 1000), Action.SHIP, "Conclude it shipping"),
        ((10_000, 1000), (9_000, 1200), (1000, 1000), Action.CONCLUDE, "cannot be trusted"),
        ((20_000, 2000), (20_000, 2010), (1000, 1000), Action.CONCLUDE, "inconclusive"),
    ],
)
def test_a_stopped_experiment_is_concluded_never_stopped_or_extended(
    control, treatment, latency, action, wording
):
    proposal = recommend(card(control, treatment, latency=latency), Timing(14), "stopped")
    assert proposal.action == action and proposal.needs_approval
    assert wording in proposal.reasons[0] and "is stopped" in proposal.reasons[0]
    assert "Stop" not in proposal.reasons[0] and "Keep running" not in proposal.reasons[0]


def test_recommendation_lifecycle():
    rec = Recommendation.propose(
        experiment_key="e",
        action="ship",
        variant="treatment",
        reasons=["r"],
        numbers={},
        needs_approval=True,
        tool_calls=[],
        positions={"event_store": 9},
        mode="deterministic",
        run_id="run-1",
    )
    assert rec.state == "pending"
    rec.approve("alice", "looks good")
    with pytest.raises(RecommendationError, match="only pending"):
        rec.reject("bob")
    rec.mark_applied(["stop_experiment", "conclude_experiment"])
    assert rec.state == "applied" and rec.decided_by == "alice"


def test_a_newer_proposal_supersedes_a_pending_one():
    fields = dict(
        experiment_key="e",
        action="stop",
        variant=None,
        reasons=["r"],
        numbers={},
        needs_approval=True,
        tool_calls=[],
        positions={},
        mode="deterministic",
        run_id="run",
    )
    old, new = Recommendation.propose(**fields), Recommendation.propose(**fields)
    old.supersede(new.id)
    assert old.state == "superseded"
    with pytest.raises(RecommendationError, match="it is superseded"):
        old.approve("alice")


def test_forecasts_come_with_the_track_record():
    from domain.intelligence.track_record import PredictionScore, track_record

    record = track_record(
        [(f"e{i}", PredictionScore(True, 0.04, 0.85, i % 5 != 0)) for i in range(41)]
    )
    extended = recommend(card((1_000, 100), (1_000, 108)), Timing(days_running=7), record=record)
    assert extended.reasons[-1] == record.statement()
    assert (
        "80%+ forecasts of significance have come true 78% of the time over 41"
        in (extended.reasons[-1])
    )
    srm = recommend(card((10_000, 1000), (9_000, 1200)), Timing(14), record=record)
    assert record.statement() not in srm.reasons  # no forecast, no track record
