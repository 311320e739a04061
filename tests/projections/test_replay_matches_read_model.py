"""An auditor's replay as of T equals what the live analytics read model answered at T."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from freezegun import freeze_time

from domain.audit.records import AnalysisSettings
from domain.participation.commands import RecordExposure, RecordMetric
from domain.statistics import AnalysisOptions
from infrastructure.audit.replay import replay
from projections.analytics.model import AnalyticsModel
from projections.log import LogReader
from projections.runner import ProjectionRunner
from tests.factories import conversion_metrics, two_variants

T0 = datetime(2026, 6, 1, 9, tzinfo=UTC)


def traffic(prefix: str, users: int, at: datetime, rate_a: int, rate_b: int) -> list:
    commands = []
    for i in range(users):
        user = f"{prefix}{i}"
        commands.append(RecordExposure("exp", user, f"x-{user}", at))
        if i % (rate_a if i % 2 else rate_b) == 0:
            commands.append(
                RecordMetric("exp", user, f"c-{user}", at + timedelta(minutes=5), "conversion")
            )
            commands.append(
                RecordMetric(
                    "exp", user, f"r-{user}", at + timedelta(minutes=5), "revenue", float(i % 50)
                )
            )
    return commands


def test_replay_at_t_equals_read_model_at_t(sqlite_app, chdb_client, prefix):
    app = sqlite_app
    with freeze_time(T0):
        app.create_experiment("exp", "Exp", variants=two_variants(), metrics=conversion_metrics())
        app.start_experiment("exp")
        app.record(traffic("a", 600, T0, 5, 4))
    model = AnalyticsModel(app, chdb_client, prefix)
    runner = ProjectionRunner(LogReader(app), model.projection())
    runner.catch_up()
    settings = AnalysisSettings(engine="frequentist", cuped=False)
    live_at_t1 = model.scorecard(app.experiment("exp"), settings.options(), cuped=False)

    with freeze_time(T0 + timedelta(hours=2)):  # the world moves on
        app.record(traffic("b", 400, T0 + timedelta(hours=2), 3, 7))
        app.change_traffic("exp", weights={"control": 0.4, "treatment": 0.6})
    runner.catch_up()
    live_now = model.scorecard(
        app.experiment("exp"), AnalysisOptions(engine="frequentist"), cuped=False
    )

    replayed = replay(app, "exp", as_of=T0 + timedelta(hours=1), settings=settings)
    assert replayed.scorecard is not None
    assert replayed.scorecard.users == live_at_t1.users != live_now.users
    assert replayed.experiment.weights() == [0.5, 0.5]
    for then, again in zip(live_at_t1.rows, replayed.scorecard.rows, strict=True):
        assert (then.metric, then.variant) == (again.metric, again.variant)
        assert again.lift == pytest.approx(then.lift, nan_ok=True)
        assert again.p_value == pytest.approx(then.p_value, nan_ok=True)
