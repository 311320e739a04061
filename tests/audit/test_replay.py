"""Replay as of a time equals the answer computed live at that time; history."""

from __future__ import annotations

from datetime import timedelta

import pytest
from freezegun import freeze_time

from domain.analysis import build_scorecard
from domain.audit import summarize
from domain.experiments.errors import ExperimentNotFound
from domain.participation.commands import RecordExposure, RecordMetric
from infrastructure.application import NeonBlue
from infrastructure.audit.history import history
from infrastructure.audit.replay import replay
from infrastructure.log_statistics import variant_sums
from tests.audit.scenario import T0
from tests.factories import conversion_metrics, two_variants


def traffic(key: str, prefix: str, users: int, converting_every: int) -> list:
    commands: list = []
    for i in range(users):
        user = f"{prefix}{i}"
        commands.append(RecordExposure(key, user, f"{user}:x", T0))
        if i % converting_every == 0:
            commands.append(RecordMetric(key, user, f"{user}:c", T0, "conversion"))
            commands.append(RecordMetric(key, user, f"{user}:r", T0, "revenue", 5.0 + i % 7))
        commands.append(RecordMetric(key, user, f"{user}:s", T0, "sessions", 1.0 + i % 3))
    return commands


def live_answer(app: NeonBlue, key: str) -> dict:
    """What the live application answers right now (the production read path)."""
    experiment = app.experiment(key)
    sums = variant_sums(app, key).get(key, {})
    scorecard = build_scorecard(experiment, sums)
    return {
        "status": str(experiment.status),
        "version": experiment.version,
        "weights": {v.key: v.weight for v in experiment.variants},
        "users": {variant: s.users for variant, s in sums.items()},
        "sums": {variant: dict(s.sums) for variant, s in sums.items()},
        "scorecard": summarize(scorecard),
    }


def replayed_answer(app: NeonBlue, key: str, as_of) -> dict:
    state = replay(app, key, as_of=as_of)
    return {
        "status": str(state.experiment.status),
        "version": state.experiment.version,
        "weights": {v.key: v.weight for v in state.experiment.variants},
        "users": {variant: s.users for variant, s in state.sums.items()},
        "sums": {variant: dict(s.sums) for variant, s in state.sums.items()},
        "scorecard": summarize(state.scorecard),
    }


def test_replay_as_of_equals_the_live_answer_at_that_time(app: NeonBlue):
    key = "checkout"
    moments = [T0 + timedelta(hours=h) for h in (1, 2, 3, 4)]
    live = {}
    with freeze_time(T0):
        app.create_experiment(
            key, "Checkout", variants=two_variants(), metrics=conversion_metrics()
        )
        app.start_experiment(key)
    with freeze_time(moments[0]):
        app.record(traffic(key, "a", 60, 3))
        live[0] = live_answer(app, key)
    with freeze_time(moments[1]):
        app.change_traffic(key, weights={"control": 0.4, "treatment": 0.6}, reason="ramp")
        app.record(traffic(key, "b", 80, 2))
        live[1] = live_answer(app, key)
    with freeze_time(moments[2]):
        app.pause_experiment(key, "incident")
        live[2] = live_answer(app, key)
    with freeze_time(moments[3]):
        app.resume_experiment(key)
        app.record(traffic(key, "c", 40, 5))
        app.stop_experiment(key)
    for index, answer in live.items():
        assert replayed_answer(app, key, moments[index] + timedelta(minutes=30)) == answer
    assert live[0] != live[1] != live[2]  # each moment really differs
    assert live[2]["status"] == "paused" and str(app.experiment(key).status) == "stopped"
    assert sum(replay(app, key, as_of=moments[1]).exposed.values()) == 140


def test_replay_counts_enrolled_and_exposed_users_per_variant(app: NeonBlue):
    app.create_experiment("exp", "Exp", variants=two_variants(), metrics=conversion_metrics())
    app.start_experiment("exp", at=T0)
    app.record(traffic("exp", "u", 30, 2))
    state = replay(app, "exp")
    assert sum(state.enrolled.values()) == sum(state.exposed.values()) == 30
    assert state.exposed == {v: s.users for v, s in state.sums.items()}
    assert state.position == app.head()


def test_replay_before_the_experiment_existed_is_an_error(app: NeonBlue):
    with freeze_time(T0):
        app.create_experiment("exp", "Exp", variants=two_variants(), metrics=conversion_metrics())
    with pytest.raises(ExperimentNotFound, match="not yet recorded"):
        replay(app, "exp", as_of=T0 - timedelta(days=1))


def test_history_lists_changes_and_decisions_but_not_user_traffic(app: NeonBlue):
    from domain.intelligence.recommendation import Recommendation

    with freeze_time(T0):
        app.create_experiment("exp", "Exp", variants=two_variants(), metrics=conversion_metrics())
        app.start_experiment("exp")
        app.record(traffic("exp", "u", 5, 2))
        recommendation = Recommendation.propose(
            experiment_key="exp", action="stop", variant=None, reasons=["SRM"], numbers={},
            needs_approval=True, tool_calls=[], positions={}, mode="deterministic", run_id="r1",
        )  # fmt: skip
        recommendation.approve(by="alice", note="agreed")
        app.save(recommendation)
        app.stop_experiment("exp", reason="SRM")
    entries = list(history(app, "exp"))
    assert [(e.aggregate, e.event) for e in entries] == [
        ("Experiment", "Created"),
        ("Experiment", "Started"),
        ("Recommendation", "Proposed"),
        ("Recommendation", "Approved"),
        ("Experiment", "Stopped"),
    ]
    assert entries[3].actor == "alice" and entries[4].details["reason"] == "SRM"
    assert [e.position for e in entries] == sorted(e.position for e in entries)
