"""Event ids are deduplicated globally, on every event store: across users, experiments,
event kinds, topics, partitions and ingest runs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError, Tracking

from infrastructure.application import NeonBlue
from infrastructure.ingest import store
from infrastructure.ingest.bus import InProcessBus
from infrastructure.ingest.runtime import ingest_in_process
from infrastructure.ingest.simulate import TrafficPlan, planned
from infrastructure.ingest.tables import tables_for
from infrastructure.settings import KafkaSettings
from tests.ingest.conftest import setup_portfolio
from tests.ingest.support import RECORDED, recorded_event_ids
from tests.support.privacy import raw_user_id, stored_event_id

PLAN = TrafficPlan(experiments=2, users=10)
FIRST, SECOND = (p.key for p in planned(PLAN))


def event(event_id: str, user: str, experiment: str, event_type: str = "exposure") -> bytes:
    body: dict[str, Any] = {"event_id": event_id, "user_id": user, "experiment_id": experiment,
                            "event_type": event_type, "timestamp": "2026-01-02T00:00:00Z"}  # fmt: skip
    return json.dumps(body).encode()


def ingest(app: NeonBlue, topic: str, messages: list[tuple[bytes, bytes]]) -> Any:
    bus = InProcessBus(partitions=4)
    for key, value in messages:
        bus.append(topic, value, key)
    return ingest_in_process(app, bus, KafkaSettings(bootstrap_servers="", topics=(topic,)))


def stored_owner(app: NeonBlue, event_id: str) -> tuple[str, str]:
    for entry in app.log(topics=RECORDED):  # type: ignore[attr-defined]
        if entry.event.event_id == stored_event_id(app, event_id):
            participation = app.repository.get(entry.originator_id)
            return raw_user_id(app, participation), participation.experiment_key
    raise AssertionError(f"{event_id} not stored")


def test_an_event_id_is_recorded_once_across_users_experiments_and_runs(app: NeonBlue) -> None:
    setup_portfolio(app, PLAN)
    first = ingest(
        app,
        "user_events",
        [
            (b"alice", event("e-1", "alice", FIRST)),
            (b"bob", event("e-1", "bob", FIRST)),  # another user (another partition)
            (b"alice", event("e-1", "alice", SECOND, "conversion")),  # another experiment
            (b"carol", event("e-1", "carol", FIRST, "scroll_depth")),  # unclassified
            (b"bob", event("e-2", "bob", SECOND)),
        ],
    )
    second = ingest(  # a later run, another topic: only the event store remembers
        app, "analytics_events", [(b"dave", event("e-2", "dave", FIRST, "conversion"))]
    )

    assert (first.recorded, first.duplicates, first.dead_lettered) == (2, 3, 0)
    assert (second.recorded, second.duplicates) == (0, 1)
    assert recorded_event_ids(app) == {"e-1": 1, "e-2": 1}
    # partitions have no order between them: whichever came first in its partition's turn
    assert stored_owner(app, "e-1") in {("alice", FIRST), ("bob", FIRST)}
    assert stored_owner(app, "e-2") == ("bob", SECOND)  # the earlier run wins
    hashed = {raw: stored_event_id(app, raw) for raw in ("e-1", "e-2", "e-3")}
    assert tables_for(app).known_event_ids(hashed.values()) == {hashed["e-1"], hashed["e-2"]}


def test_a_recorded_id_fails_the_whole_transaction(app: NeonBlue) -> None:
    name = store.tracking_name(("user_events", 0))
    store.write_tracked(app, [], [Tracking(name, 0)], ["e-1"])
    with pytest.raises(IntegrityError):  # e.g. another ingest process recorded it meanwhile
        store.write_tracked(app, [], [Tracking(name, 1)], ["e-9", "e-1"])
    assert app.recorder.max_tracking_id(name) == 0  # nothing of it was written
    assert tables_for(app).known_event_ids(["e-1", "e-9"]) == {"e-1"}


def test_ingest_leaves_the_collector_and_commit_durability_as_it_found_them(
    app: NeonBlue,
) -> None:
    """Batches are written with the cyclic collector off and, on SQLite, without waiting
    for fsync; both are put back, so the rest of the process keeps its settings."""
    import gc

    from eventsourcing.sqlite import SQLiteProcessRecorder

    def synchronous() -> int | None:
        if not isinstance(app.recorder, SQLiteProcessRecorder):
            return None
        with app.recorder.datastore.get_connection(commit=True) as connection:
            return connection._sqlite_conn.execute("PRAGMA synchronous").fetchone()[0]

    setup_portfolio(app, PLAN)
    before = synchronous()
    assert gc.isenabled()
    stats = ingest(app, "user_events", [(b"erin", event("e-7", "erin", FIRST))])
    assert stats.recorded == 1
    assert gc.isenabled() and synchronous() == before
    gc.disable()
    try:
        ingest(app, "user_events", [(b"erin", event("e-8", "erin", FIRST))])
        assert not gc.isenabled()  # not switched on behind the caller's back
    finally:
        gc.enable()
