"""Approved recommendations for a stopped experiment conclude it (never stop it again)."""

from __future__ import annotations

import pytest

from domain.experiments.values import Metric, MetricKind, MetricRole
from domain.intelligence.policy import Action, Proposal
from infrastructure.bootstrap import build_app
from infrastructure.recommendations import apply, decide, record_proposal
from infrastructure.settings import EventStoreSettings
from tests.factories import two_variants


@pytest.mark.parametrize(
    ("action", "decision", "commands"),
    [
        (Action.ROLL_BACK, "rollback", ["conclude_experiment(rollback)"]),
        (Action.CONCLUDE, "inconclusive", ["conclude_experiment(inconclusive)"]),
    ],
)
def test_a_stopped_experiment_is_concluded(action, decision, commands):
    app = build_app(EventStoreSettings(event_store="memory:"))
    metric = Metric("conversion", MetricRole.PRIMARY, MetricKind.BINOMIAL)
    app.create_experiment("hero", "Hero", variants=two_variants(), metrics=[metric])
    app.start_experiment("hero")
    app.stop_experiment("hero", "guardrail alert")
    proposal = Proposal(action, None, ["The experiment is stopped and ..."])
    recommendation_id = record_proposal(
        app, "hero", proposal, tool_calls=[], positions={}, mode="deterministic", run_id="r"
    )
    decide(app, recommendation_id, True, "alice")
    assert apply(app, recommendation_id) == commands  # no stop_experiment: it is stopped
    experiment = app.experiment("hero")
    assert str(experiment.status) == "concluded"
    assert experiment.conclusion is not None and experiment.conclusion.decision == decision
