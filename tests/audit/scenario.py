"""A small experiment with a few users: a log of about 30 events over several streams."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.participation.aggregate import participation_id
from domain.participation.commands import RecordExposure, RecordMetric
from infrastructure.application import NeonBlue
from tests.factories import conversion_metrics, two_variants

T0 = datetime(2026, 5, 1, tzinfo=UTC)


def populate(app: NeonBlue, key: str = "checkout", users: int = 6) -> None:
    app.create_experiment(key, key.title(), variants=two_variants(), metrics=conversion_metrics())
    app.start_experiment(key, at=T0)
    commands: list[RecordExposure | RecordMetric] = []
    for i in range(users):
        at = T0 + timedelta(minutes=i)
        commands.append(RecordExposure(key, f"u{i}", f"x{i}", at))
        commands.append(RecordMetric(key, f"u{i}", f"c{i}", at, "conversion"))
        commands.append(RecordMetric(key, f"u{i}", f"r{i}", at, "revenue", 10.0 + i))
    app.record(commands)
    app.pause_experiment(key, "lunch")


def stream_positions(app: NeonBlue, key: str, user: str) -> list[int]:
    """Log positions of one participation's events, in version order."""
    pid = participation_id(key, user)
    return [entry.position for entry in app.log() if entry.originator_id == pid]
