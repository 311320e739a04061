"""Recorder-level batching: load many aggregates with one query, and commit many
aggregates' events with one tracking record per topic partition in one transaction.

On PostgreSQL the write is COPY (binary) after the library's table lock, plus the tracking
upserts, in one transaction: the same rows and guarantees as `app.save_tracked`, without
its per-event Python cost. Other stores write one tracking record per transaction (the
library's recorder), so callers group batches by partition there. Every store writes the
batch's recorded event ids and dead letters (`tables`) in the same transaction.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, ProcessingEvent
from eventsourcing.persistence import IntegrityError, StoredEvent, Tracking
from eventsourcing.postgres import PostgresProcessRecorder
from eventsourcing.sqlite import SQLiteProcessRecorder
from psycopg.sql import SQL, Identifier

from infrastructure.application import NeonBlue
from infrastructure.ingest.bus import Partition
from infrastructure.ingest.dead_letters import DeadLetter
from infrastructure.ingest.tables import MemoryTables, PostgresTables, SQLiteTables, tables_for

LOAD_CHUNK = 5000


def tracking_name(partition: Partition) -> str:
    topic, number = partition
    return f"kafka:{topic}:{number}"


def resume_positions(app: NeonBlue, partitions: Iterable[Partition]) -> dict[Partition, int]:
    """The next offset to consume per partition: the stored tracking position + 1."""
    positions = {}
    for tp in partitions:
        stored = app.recorder.max_tracking_id(tracking_name(tp))
        positions[tp] = 0 if stored is None else stored + 1  # offset 0 is a real position
    return positions


def supports_batched_tracking(app: NeonBlue) -> bool:
    """True when one transaction may carry several tracking records (PostgreSQL)."""
    return isinstance(app.recorder, PostgresProcessRecorder)


def load_aggregates(app: NeonBlue, ids: Sequence[UUID]) -> dict[UUID, Any]:
    """The current state of the aggregates that exist among ``ids`` (no snapshots used)."""
    if not ids:
        return {}
    recorder = app.recorder
    if not isinstance(recorder, PostgresProcessRecorder):
        found = {}
        for aggregate_id in ids:
            with contextlib.suppress(AggregateNotFoundError):
                found[aggregate_id] = app.repository.get(aggregate_id)
        return found
    statement = SQL(
        "SELECT originator_id, originator_version, topic, state FROM {}.{} "
        "WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version"
    ).format(Identifier(recorder.datastore.schema), Identifier(recorder.events_table_name))
    aggregates: dict[UUID, Any] = {}
    mapper = app.mapper
    for start in range(0, len(ids), LOAD_CHUNK):
        with recorder.datastore.get_connection() as conn, conn.cursor() as cursor:
            cursor.execute(statement, (list(ids[start : start + LOAD_CHUNK]),))
            rows = cursor.fetchall()
        for row in rows:
            stored = StoredEvent(
                row["originator_id"], row["originator_version"], row["topic"], bytes(row["state"])
            )
            event = mapper.to_domain_event(stored)
            aggregates[stored.originator_id] = event.mutate(aggregates.get(stored.originator_id))  # type: ignore[arg-type]
    return aggregates


def write_tracked(
    app: NeonBlue,
    aggregates: Sequence[Any],
    trackings: Sequence[Tracking],
    event_ids: Sequence[str] = (),
    letters: Sequence[DeadLetter] = (),
) -> int:
    """Commits the aggregates' pending events, the tracking records, the recorded
    ``event_ids`` and the dead ``letters`` atomically.

    Returns the number of stored events. Raises IntegrityError (nothing written) when a
    tracking position or an event id was already recorded or another writer changed an
    aggregate.
    """
    recorder = app.recorder
    tables = tables_for(app)
    if isinstance(recorder, PostgresProcessRecorder):
        assert isinstance(tables, PostgresTables)
        to_stored = app.mapper.to_stored_event
        stored = [to_stored(e) for aggregate in aggregates for e in aggregate.collect_events()]
        _copy_with_tracking(recorder, stored, trackings, tables, event_ids, letters)
        return len(stored)
    if len(trackings) != 1:
        raise ValueError("this event store records one tracking record per transaction")
    processing = ProcessingEvent[UUID](tracking=trackings[0])
    processing.collect_events(*aggregates)
    stored = [app.mapper.to_stored_event(event) for event in processing.events]
    if isinstance(recorder, SQLiteProcessRecorder):
        assert isinstance(tables, SQLiteTables)
        with recorder.datastore.transaction(commit=True) as cursor:
            recorder._insert_events(cursor, stored, tracking=trackings[0])
            tables.insert(cursor, event_ids, letters)
    else:  # in memory: one process, checked then written under the recorder's own lock
        assert isinstance(tables, MemoryTables)
        tables.check(event_ids)
        recorder.insert_events(stored, tracking=trackings[0])
        tables.insert(event_ids, letters)
    app._take_snapshots(processing)
    return len(stored)


def _copy_with_tracking(
    recorder: PostgresProcessRecorder,
    stored: Sequence[StoredEvent],
    trackings: Sequence[Tracking],
    tables: PostgresTables,
    event_ids: Sequence[str],
    letters: Sequence[DeadLetter],
) -> None:
    datastore = recorder.datastore
    table = SQL("{}.{}").format(
        Identifier(datastore.schema), Identifier(recorder.events_table_name)
    )
    copy_statement = SQL(
        "COPY {} (originator_id, originator_version, topic, state) FROM STDIN (FORMAT BINARY)"
    ).format(table)
    with datastore.get_connection() as conn, conn.transaction(), conn.cursor() as cursor:
        for tracking in trackings:
            cursor.execute(
                recorder.insert_tracking_statement,
                {
                    "application_name": tracking.application_name,
                    "notification_id": tracking.notification_id,
                },
            )
            if datastore.single_row_tracking and cursor.fetchone() is None:
                raise IntegrityError(
                    f"tracking {tracking.application_name} {tracking.notification_id} "
                    "is already recorded"
                )
        # before the table lock, which concurrent writers queue on: it is held for the events
        # only (writers racing on one event id wait on its unique index, and one fails)
        tables.insert(cursor, event_ids, letters)
        if stored:
            for statement in recorder.lock_table_statements:
                cursor.execute(statement)
            cursor.execute(SQL("NOTIFY {}").format(Identifier(recorder.channel_name)))
            with cursor.copy(copy_statement) as copy:
                copy.set_types(["uuid", "int8", "text", "bytea"])
                for event in stored:
                    copy.write_row(
                        (event.originator_id, event.originator_version, event.topic, event.state)
                    )
