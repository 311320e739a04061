"""Resuming after a committed offset 0 (regression: 0 was read as 'nothing stored')."""

from __future__ import annotations

from datetime import UTC, datetime

from eventsourcing.persistence import Tracking

from domain.participation.commands import RecordExposure
from infrastructure.ingest.store import resume_positions, tracking_name
from tests.factories import conversion_metrics, two_variants


def test_offset_zero_resumes_at_one(app):
    app.create_experiment("e", "E", variants=two_variants(), metrics=conversion_metrics())
    app.start_experiment("e")
    partition = ("user_events", 3)
    app.record(
        [RecordExposure("e", "u", "x", datetime.now(UTC))],
        tracking=Tracking(tracking_name(partition), 0),
    )
    assert resume_positions(app, [partition, ("user_events", 4)]) == {
        partition: 1,
        ("user_events", 4): 0,
    }
