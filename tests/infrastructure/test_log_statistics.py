"""Sufficient statistics replayed from the event log alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.participation.commands import RecordExposure, RecordMetric
from infrastructure.application import NeonBlue
from infrastructure.log_statistics import variant_sums
from tests.factories import conversion_metrics, two_variants

T0 = datetime(2026, 5, 1, tzinfo=UTC)


def test_sums_per_variant_count_only_exposed_users_and_included_values(app: NeonBlue):
    app.create_experiment("exp", "Exp", variants=two_variants(), metrics=conversion_metrics())
    app.start_experiment("exp", at=T0)
    later = T0 + timedelta(minutes=5)
    commands = []
    for i in range(40):
        user = f"u{i}"
        commands.append(
            RecordExposure("exp", user, f"x{i}", T0, "control" if i < 20 else "treatment")
        )
        commands.append(RecordMetric("exp", user, f"r{i}", later, "revenue", float(i)))
        commands.append(RecordMetric("exp", user, f"s{i}", later, "sessions", 2.0))
    commands.append(RecordMetric("exp", "u0", "early", T0 - timedelta(days=1), "revenue", 1000.0))
    commands.append(RecordMetric("exp", "ghost", "g1", later, "revenue", 50.0))  # never exposed
    app.record(commands)

    sums = variant_sums(app)["exp"]
    assert sums["control"].users == 20 and sums["treatment"].users == 20
    assert sums["control"].sums["revenue"] == pytest.approx(sum(range(20)))  # 'early' excluded
    assert sums["treatment"].sums_of_squares["revenue"] == pytest.approx(
        sum(i * i for i in range(20, 40))
    )
    assert sums["control"].products[("revenue", "sessions")] == pytest.approx(
        sum(2.0 * i for i in range(20))
    )


def test_as_of_replays_the_past(app: NeonBlue):
    from freezegun import freeze_time

    with freeze_time(T0):
        app.create_experiment("exp", "Exp", variants=two_variants(), metrics=conversion_metrics())
        app.start_experiment("exp")
    with freeze_time(T0 + timedelta(hours=1)):
        app.record([RecordExposure("exp", f"a{i}", f"a{i}", T0) for i in range(10)])
    with freeze_time(T0 + timedelta(hours=3)):
        app.record([RecordExposure("exp", f"b{i}", f"b{i}", T0) for i in range(5)])
    past = variant_sums(app, as_of=T0 + timedelta(hours=2))["exp"]
    now = variant_sums(app)["exp"]
    assert sum(v.users for v in past.values()) == 10
    assert sum(v.users for v in now.values()) == 15
