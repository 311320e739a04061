"""A fresh in-process bus continues from the offsets ingest stored (issue 21: `neonblue
simulate` after the demo recorded nothing, silently)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from infrastructure.bootstrap import build_app
from infrastructure.ingest.bus import InProcessBus
from infrastructure.ingest.runtime import ingest_in_process
from infrastructure.ingest.simulate import (
    TrafficPlan,
    ensure_experiments,
    planned,
    publish,
    wire_events,
)
from infrastructure.settings import EventStoreSettings

START = datetime(2025, 1, 1, tzinfo=UTC)


def test_each_process_bus_is_ingested_after_what_earlier_buses_delivered(tmp_path: Path) -> None:
    store = EventStoreSettings(data_dir=tmp_path, event_store=f"sqlite:///{tmp_path / 'e.db'}")
    app = build_app(store)
    small, large = TrafficPlan(experiments=1, users=60), TrafficPlan(experiments=1, users=200)
    ensure_experiments(app, planned(large), START)
    first = InProcessBus()  # the demo's process
    published = publish(first.producer(), wire_events(small, START))
    assert ingest_in_process(app, first).consumed == published
    second = InProcessBus()  # `neonblue simulate` later, in another process
    published = publish(second.producer(), wire_events(large, START))
    stats = ingest_in_process(app, second)
    assert stats.consumed == published  # nothing taken as already consumed
    assert stats.recorded > 0 and stats.duplicates > 0  # the first 60 users were known
    third = InProcessBus()
    assert ingest_in_process(app, third).consumed == 0  # nothing new: nothing to do
    app.close()
