"""Recommendations' forecasts scored when their experiments conclude; `audit predictions`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from domain.experiments.values import Metric, MetricKind, MetricRole
from domain.intelligence.policy import Action, Proposal
from domain.participation.commands import RecordExposure, RecordMetric
from infrastructure.bootstrap import build_app
from infrastructure.recommendations import record_proposal
from infrastructure.settings import EventStoreSettings
from infrastructure.track_record import current_track_record, score_concluded
from tests.audit.scenario import T0
from tests.factories import two_variants

ROOT = Path(__file__).parents[2]
PRIMARY = [Metric("conversion", MetricRole.PRIMARY, MetricKind.BINOMIAL)]


def run(app, key: str, rates: dict[str, float], seed: int) -> dict[str, tuple[int, int]]:
    app.create_experiment(key, key, variants=two_variants(), metrics=PRIMARY)
    app.start_experiment(key, at=T0)
    experiment, rng = app.experiment(key), np.random.default_rng(seed)
    counts = {"control": [0, 0], "treatment": [0, 0]}
    commands: list = []
    for i in range(3000):
        user = f"{key}-{i}"
        variant, _ = experiment.assignment_for(user)
        at = T0 + timedelta(minutes=i)
        commands.append(RecordExposure(key, user, f"{user}x", at))
        counts[variant][0] += 1
        if rng.uniform() < rates[variant]:
            commands.append(RecordMetric(key, user, f"{user}c", at, "conversion"))
            counts[variant][1] += 1
    app.record(commands)
    return {v: (n, c) for v, (n, c) in counts.items()}


def propose(app, key: str, proposal: Proposal) -> None:
    record_proposal(app, key, proposal, tool_calls=[], positions={}, mode="test", run_id="t")


def test_forecasts_are_scored_once_when_the_experiment_concludes(tmp_path: Path):
    app = build_app(EventStoreSettings(data_dir=tmp_path, event_store=""))
    counts = run(app, "green", {"control": 0.10, "treatment": 0.13}, seed=1)
    run(app, "still-running", {"control": 0.10, "treatment": 0.10}, seed=2)
    forecast = {"lift": 0.2, "ci_lower": 0.05, "ci_upper": 0.35, "predictive_power": 0.7}
    propose(app, "green", Proposal(Action.CONTINUE, None, ["on track"], forecast))
    propose(app, "still-running", Proposal(Action.EXTEND, None, ["weak"], forecast))
    assert score_concluded(app) == []  # nothing concluded yet
    app.stop_experiment("green", "done")
    app.conclude_experiment("green", "ship", "treatment", "won")

    assert score_concluded(app, "still-running") == []
    (scored_id,) = score_concluded(app)
    assert score_concluded(app) == []  # scored once
    recommendation = app.repository.get(scored_id)
    (n_c, c_c), (n_t, c_t) = counts["control"], counts["treatment"]
    lift = (c_t / n_t) / (c_c / n_c) - 1  # the final outcome, by hand
    sd = lambda p, n: (p * (1 - p) * n / (n - 1)) ** 0.5  # noqa: E731 - of 0/1 data
    welch = stats.ttest_ind_from_stats(c_t / n_t, sd(c_t / n_t, n_t), n_t,
                                       c_c / n_c, sd(c_c / n_c, n_c), n_c, equal_var=False)  # fmt: skip
    assert recommendation.outcome_lift == pytest.approx(lift, rel=1e-9)
    assert recommendation.score.significant == (welch.pvalue < 0.05)
    assert recommendation.score.covered == (0.05 <= lift <= 0.35)
    assert recommendation.score.brier == pytest.approx((0.7 - (welch.pvalue < 0.05)) ** 2)
    record = current_track_record(app)
    assert (record.experiments, record.intervals, record.significance_forecasts) == (1, 1, 1)
    app.close()

    env = {**os.environ, "NEONBLUE_DATA_DIR": str(tmp_path), "NEONBLUE_EVENT_STORE": ""}
    done = subprocess.run(
        [sys.executable, "-m", "infrastructure.cli", "audit", "predictions", "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["newly_scored"] == [] and answer["track_record"]["experiments"] == 1
    assert answer["track_record"]["brier"] == pytest.approx(recommendation.score.brier)
    table = subprocess.run(
        [sys.executable, "-m", "infrastructure.cli", "audit", "predictions"],
        cwd=ROOT, env={**env, "COLUMNS": "160"}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert table.returncode == 0, table.stderr
    assert "green" in table.stdout and "+5.0%, +35.0%" in table.stdout
    assert "Too few scored forecasts for a track record yet." in table.stdout


def test_applying_a_ship_recommendation_scores_it(tmp_path: Path):
    from infrastructure.recommendations import apply, decide, recommendations

    app = build_app(EventStoreSettings(data_dir=tmp_path, event_store=""))
    run(app, "blue", {"control": 0.10, "treatment": 0.14}, seed=3)
    forecast = {"lift": 0.3, "ci_lower": 0.1, "ci_upper": 0.5, "adjusted_p_value": 0.001}
    why = "ship it, " * 40  # longer than the 200 characters a reason keeps
    propose(app, "blue", Proposal(Action.SHIP, "treatment", [why], forecast))
    (pending,) = recommendations(app, "pending")
    decide(app, pending.id, approve=True, by="lead")
    apply(app, pending.id)
    scored = app.repository.get(pending.id)
    assert scored.state == "applied" and scored.score is not None
    assert scored.score.brier is None and scored.score.covered is not None
    from infrastructure.audit.history import history

    actors = {e.event: e.actor for e in history(app, "blue") if e.aggregate == "Experiment"}
    by = f"recommendation {pending.id}, approved by lead"  # who changed it, in its history
    assert actors["Stopped"] == actors["Concluded"] == by
    concluded = app.experiment("blue").conclusion
    assert concluded.reason == f"recommendation {pending.id}: {why[:200]}…"  # cut, and says so
    app.close()
