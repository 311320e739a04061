"""Exactly one dead letter per bad message, whenever the process dies.

A dead letter is committed with its batch (the event store's table) and published after. The
crash states in between are built with the real writer and bus: committed but never
published, and published but not yet marked. A restarted ingest publishes what is missing
and nothing twice. (tests/ingest/test_failures.py kills real processes with SIGKILL.)
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from infrastructure.application import NeonBlue
from infrastructure.ingest.bus import InProcessBus
from infrastructure.ingest.runtime import dead_letters, ingest_in_process, topic_records
from infrastructure.ingest.simulate import TrafficPlan, planned
from infrastructure.ingest.tables import tables_for
from infrastructure.ingest.writer import BatchWriter
from infrastructure.settings import KafkaSettings
from tests.factories import create_in_namespace
from tests.ingest.conftest import setup_portfolio
from tests.ingest.support import recorded_event_ids

PLAN = TrafficPlan(experiments=1, users=10)
KEY = planned(PLAN)[0].key
SETTINGS = KafkaSettings(bootstrap_servers="", topics=("user_events",))


def exposure(event_id: str) -> bytes:
    return json.dumps({"event_id": event_id, "user_id": "u", "experiment_id": KEY,
                       "event_type": "exposure", "timestamp": "2026-01-02T00:00:00Z"}).encode()  # fmt: skip


def stream(bus: InProcessBus) -> None:
    for index in range(3):
        bus.append("user_events", exposure(f"ok-{index}"), b"u")
        bus.append("user_events", b"not json %d" % index, b"u")


def commit_without_publishing(app: NeonBlue, bus: InProcessBus) -> None:
    """What a process killed right after committing its batch leaves behind."""
    writer = BatchWriter(app)
    writer.assign([("user_events", 0)])
    partition = next(p for p in range(bus.partitions) if bus.end("user_events", p))
    writer.write(bus.read("user_events", partition, 0, 100))


@pytest.mark.parametrize("delivered", [False, True], ids=["before-publishing", "before-marking"])
def test_a_restart_leaves_exactly_one_dead_letter_per_bad_message(
    app: NeonBlue, delivered: bool
) -> None:
    setup_portfolio(app, PLAN)
    bus = InProcessBus(partitions=1)
    stream(bus)
    commit_without_publishing(app, bus)
    pending = tables_for(app).unpublished()
    assert len(pending) == 3
    if delivered:  # the broker got them, the process died before marking them published
        for letter in pending:
            key, value = letter.message()
            bus.append(SETTINGS.dead_letter_topic, value, key)

    stats = ingest_in_process(app, bus, SETTINGS)  # the restarted process

    assert stats.consumed == 0  # everything was committed before the crash
    published = Counter(d.coordinates for _, d in topic_records(SETTINGS, bus))
    assert sorted(published) == sorted(d.coordinates for d in pending)
    assert set(published.values()) == {1}
    assert not tables_for(app).unpublished()
    assert recorded_event_ids(app) == {"ok-0": 1, "ok-1": 1, "ok-2": 1}


def test_listing_reads_the_table_and_the_topic(app: NeonBlue) -> None:
    setup_portfolio(app, PLAN)
    bus = InProcessBus(partitions=1)
    stream(bus)
    ingest_in_process(app, bus, SETTINGS)
    older = tables_for(app).dead_letters(1)[0]  # as if written to the topic by an older version
    key, value = older.message()
    moved = value.replace(b'"source_offset":1', b'"source_offset":99')
    bus.append(SETTINGS.dead_letter_topic, moved, key)
    for stranger in (b"not an envelope", b"[]", b"{}"):  # someone else's messages: skipped
        bus.append(SETTINGS.dead_letter_topic, stranger, None)

    letters = dead_letters(SETTINGS, 100, bus=bus, app=app)

    assert [d.source_offset for d in letters] == [1, 3, 5, 99]
    assert [d.kind for d in letters] == ["not_json"] * 4
    assert [d.original_text() for d in letters] == [
        "not json 0", "not json 1", "not json 2", "not json 0"
    ]  # fmt: skip
    assert [d.source_offset for d in dead_letters(SETTINGS, 2, bus=bus, app=app)] == [1, 3]


def test_a_lifecycle_start_onto_a_taken_namespace_slice_is_rejected(app: NeonBlue) -> None:
    """Ingest's lifecycle events obey the namespace rule the CLI does: a start onto a slice a
    running experiment holds is dead-lettered, naming it; one onto a free slice starts."""

    create_in_namespace(app, "holder", 0.0, 0.5)
    create_in_namespace(app, "overlapping", 0.25, 0.75)
    create_in_namespace(app, "beside", 0.5, 1.0)
    app.start_experiment("holder")
    bus = InProcessBus(partitions=1)
    for key in ("overlapping", "beside"):
        started = {"event_id": f"start-{key}", "user_id": "ops", "experiment_id": key,
                   "event_type": "experiment_started", "timestamp": "2026-01-02T00:00:00Z"}  # fmt: skip
        bus.append("experiments_events", json.dumps(started).encode(), key.encode())
    settings = SETTINGS.model_copy(update={"topics": ("experiments_events",)})

    stats = ingest_in_process(app, bus, settings)

    assert stats.recorded == 1 and stats.dead_lettered == 1
    letter = tables_for(app).dead_letters(10)[0]
    assert letter.kind == "rejected" and "NamespaceTaken" in letter.reason
    assert "'holder' (running)" in letter.reason
    assert app.experiment("overlapping").status == "draft"
    assert app.experiment("beside").status == "running"
    from infrastructure.audit.history import history

    (started,) = [e for e in history(app, "beside") if e.event == "Started"]
    assert started.actor == "experiment_started event start-beside (ingest)"
