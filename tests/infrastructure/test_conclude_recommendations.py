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


def test_two_proposals_recorded_at_once_leave_one_pending(monkeypatch: pytest.MonkeyPatch):
    """An agent run and `optimize run` propose for one experiment at the same moment: each
    read the pending ones before the other saved. The newest stays pending, the older is
    superseded by it, so two contradicting actions cannot both be approved."""
    import infrastructure.recommendations as recommendations

    app = build_app(EventStoreSettings(event_store="memory:"))
    metric = Metric("conversion", MetricRole.PRIMARY, MetricKind.BINOMIAL)
    app.create_experiment("hero", "Hero", variants=two_variants(), metrics=[metric])
    app.start_experiment("hero")
    read = recommendations.recommendations
    before = app.head()  # where the second proposer's reads begin
    first = record_proposal(
        app, "hero", Proposal(Action.SHIP, "treatment", ["wins"]),
        tool_calls=[], positions={}, mode="deterministic", run_id="a",
    )  # fmt: skip
    looked = []

    def looked_before_the_other_saved(app_, state=None, experiment_key=None, start=1):
        if not looked:  # the second proposer's first read: the first was not saved yet
            looked.append(state)
            return []
        return read(app_, state, experiment_key, start)

    heads = [before]
    monkeypatch.setattr(app, "head", lambda: heads.pop() if heads else type(app).head(app))
    monkeypatch.setattr(recommendations, "recommendations", looked_before_the_other_saved)
    second = record_proposal(
        app, "hero", Proposal(Action.ROLL_BACK, None, ["harm"]),
        tool_calls=[], positions={}, mode="deterministic", run_id="b",
    )  # fmt: skip
    pending = [r.id for r in read(app, "pending")]
    assert pending == [second]
    older = recommendations.get_recommendation(app, first)
    assert older.state == "superseded"


def _hand_out(monkeypatch: pytest.MonkeyPatch, stale) -> None:
    """The next `get_recommendation` returns ``stale``, a copy read before the other
    process saved; later reads are fresh."""
    import infrastructure.recommendations as recommendations

    real = recommendations.get_recommendation
    copies = [stale]
    monkeypatch.setattr(
        recommendations,
        "get_recommendation",
        lambda app_, id_: copies.pop() if copies else real(app_, id_),
    )


def test_two_people_deciding_or_applying_at_once_get_a_clear_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Not a storage error (the CLI said "event store unavailable"): what the other did, and
    that this one recorded nothing (or what it did)."""
    from infrastructure.recommendations import RecommendationError, get_recommendation

    app = build_app(EventStoreSettings(event_store="memory:"))
    metric = Metric("conversion", MetricRole.PRIMARY, MetricKind.BINOMIAL)
    app.create_experiment("hero", "Hero", variants=two_variants(), metrics=[metric])
    app.start_experiment("hero")

    def propose(run_id: str):
        return record_proposal(
            app, "hero", Proposal(Action.ROLL_BACK, None, ["harms checkout"]),
            tool_calls=[], positions={}, mode="deterministic", run_id=run_id,
        )  # fmt: skip

    rejected = propose("a")
    read_by_alice = get_recommendation(app, rejected)
    decide(app, rejected, False, "bob")
    with monkeypatch.context() as patch:
        _hand_out(patch, read_by_alice)
        with pytest.raises(RecommendationError, match="was rejected by another process mean"):
            decide(app, rejected, True, "alice")
    assert get_recommendation(app, rejected).state == "rejected"

    applied = propose("b")
    decide(app, applied, True, "alice")
    read_by_bob = get_recommendation(app, applied)
    assert apply(app, applied) == ["stop_experiment", "conclude_experiment(rollback)"]
    with monkeypatch.context() as patch:
        _hand_out(patch, read_by_bob)
        with pytest.raises(RecommendationError, match=r"was applied by another process.*fail"):
            apply(app, applied)
    assert get_recommendation(app, applied).state == "applied"
    assert str(app.experiment("hero").status) == "concluded"
