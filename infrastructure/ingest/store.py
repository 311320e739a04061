"""Recorder-level batching: load many aggregates with one query, and commit many
aggregates' events with one tracking record per topic partition in one transaction.

On PostgreSQL the write is COPY (binary) after the library's table lock, plus the tracking
upserts, in one transaction; on SQLite one `executemany` of the rows plus the library's
tracking statements. Same rows and guarantees as `app.save_tracked`, without its per-event
Python cost (the library's SQLite recorder inserts row by row to return notification ids,
and loads an aggregate with two queries, snapshots then events: two thirds of embedded
ingest's time went there). The in-memory store writes one tracking record per transaction
(the library's recorder), so callers group batches by partition there. Every store writes
the batch's recorded event ids and dead letters (`tables`) in the same transaction.
"""

from __future__ import annotations

import contextlib
import sqlite3
import weakref
from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, ProcessingEvent
from eventsourcing.persistence import IntegrityError, OperationalError, StoredEvent, Tracking
from eventsourcing.postgres import PostgresProcessRecorder
from eventsourcing.sqlite import SQLiteProcessRecorder
from psycopg.sql import SQL, Identifier

from infrastructure.application import NeonBlue
from infrastructure.ingest.bus import Partition
from infrastructure.ingest.dead_letters import DeadLetter
from infrastructure.ingest.tables import MemoryTables, PostgresTables, SQLiteTables, tables_for
from infrastructure.privacy.keys import SubjectsErased, erasures_in, key_store_for

LOAD_CHUNK = 5000
SQLITE_LOAD_CHUNK = 900  # bound parameters per query (old SQLite builds allow 999)
SQLITE_CACHE_KIB = 65_536  # page cache of a connection ingest writes with
SQLITE_CHECKPOINT_PAGES = 8_192  # 32 MiB of WAL between automatic checkpoints
_TUNED: weakref.WeakSet[Any] = weakref.WeakSet()  # connections given the settings above


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
    """True when one transaction may carry several tracking records (PostgreSQL, SQLite)."""
    return isinstance(app.recorder, PostgresProcessRecorder | SQLiteProcessRecorder)


def load_aggregates(app: NeonBlue, ids: Sequence[UUID]) -> dict[UUID, Any]:
    """The current state of the aggregates that exist among ``ids`` (no snapshots used)."""
    if not ids:
        return {}
    recorder = app.recorder
    if isinstance(recorder, PostgresProcessRecorder):
        return _fold(app, _postgres_rows(recorder, ids))
    if isinstance(recorder, SQLiteProcessRecorder):
        return _fold(app, _sqlite_rows(recorder, ids))
    found = {}
    for aggregate_id in ids:
        with contextlib.suppress(AggregateNotFoundError):
            found[aggregate_id] = app.repository.get(aggregate_id)
    return found


def _postgres_rows(recorder: PostgresProcessRecorder, ids: Sequence[UUID]) -> Iterator[StoredEvent]:
    statement = SQL(
        "SELECT originator_id, originator_version, topic, state FROM {}.{} "
        "WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version"
    ).format(Identifier(recorder.datastore.schema), Identifier(recorder.events_table_name))
    for start in range(0, len(ids), LOAD_CHUNK):
        with recorder.datastore.get_connection() as conn, conn.cursor() as cursor:
            cursor.execute(statement, (list(ids[start : start + LOAD_CHUNK]),))
            rows = cursor.fetchall()
        for row in rows:
            yield StoredEvent(
                row["originator_id"], row["originator_version"], row["topic"], bytes(row["state"])
            )


def _sqlite_rows(recorder: SQLiteProcessRecorder, ids: Sequence[UUID]) -> Iterator[StoredEvent]:
    """The library stores SQLite originator ids as hex text."""
    for start in range(0, len(ids), SQLITE_LOAD_CHUNK):
        chunk = {i.hex: i for i in ids[start : start + SQLITE_LOAD_CHUNK]}
        statement = (
            f"SELECT originator_id, originator_version, topic, state FROM "
            f"{recorder.events_table_name} WHERE originator_id IN "
            f"({','.join('?' * len(chunk))}) ORDER BY originator_id, originator_version"
        )
        with recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(statement, list(chunk))
            rows = cursor.fetchall()
        for row in rows:
            yield StoredEvent(chunk[row[0]], row[1], row[2], row[3])


def _fold(app: NeonBlue, stored_events: Iterable[StoredEvent]) -> dict[UUID, Any]:
    """Aggregates from their stored events, in version order per aggregate."""
    aggregates: dict[UUID, Any] = {}
    to_domain_event = app.mapper.to_domain_event
    for stored in stored_events:
        event = to_domain_event(stored)
        aggregates[stored.originator_id] = event.mutate(aggregates.get(stored.originator_id))  # type: ignore[arg-type]
    return aggregates


def write_tracked(
    app: NeonBlue,
    aggregates: Sequence[Any],
    trackings: Sequence[Tracking],
    event_ids: Sequence[str] = (),
    letters: Sequence[DeadLetter] = (),
    sealed_under: int | None = None,
) -> int:
    """Commits the aggregates' pending events, the tracking records, the recorded
    ``event_ids`` and the dead ``letters`` atomically.

    Returns the number of stored events. Raises IntegrityError (nothing written) when a
    tracking position or an event id was already recorded or another writer changed an
    aggregate; `SubjectsErased` (nothing written) when the store's erasure count is no
    longer ``sealed_under``, the count the events' personal data was sealed under.
    """
    recorder = app.recorder
    tables = tables_for(app)
    pending = [(aggregate, aggregate.collect_events()) for aggregate in aggregates]
    to_stored = app.mapper.to_stored_event
    stored = [to_stored(event) for _, events in pending for event in events]
    if isinstance(recorder, PostgresProcessRecorder):
        assert isinstance(tables, PostgresTables)
        _copy_with_tracking(recorder, stored, trackings, tables, event_ids, letters, sealed_under)
    elif isinstance(recorder, SQLiteProcessRecorder):
        assert isinstance(tables, SQLiteTables)
        with _sqlite_batch(recorder) as cursor:
            for tracking in trackings:
                recorder._insert_tracking(cursor, tracking)
            if sealed_under is not None:  # after a write: this transaction holds the lock
                _check_erasures(erasures_in(cursor), sealed_under)
            tables.insert(cursor, event_ids, letters)
            cursor.executemany(
                recorder.insert_events_statement,
                [(s.originator_id.hex, s.originator_version, s.topic, s.state) for s in stored],
            )
    else:  # in memory: one process, checked then written under the recorder's own lock
        if len(trackings) != 1:
            raise ValueError("this event store records one tracking record per transaction")
        assert isinstance(tables, MemoryTables)
        if sealed_under is not None:
            _check_erasures(key_store_for(app).erasures(), sealed_under)
        tables.check(event_ids)
        recorder.insert_events(stored, tracking=trackings[0])
        tables.insert(event_ids, letters)
    _take_snapshots(app, pending)
    return len(stored)


@contextlib.contextmanager
def _sqlite_batch(recorder: SQLiteProcessRecorder) -> Iterator[Any]:
    """A write transaction tuned for ingest's batches (a few MB each).

    A bigger page cache keeps the primary-key indexes (random UUIDs and event ids) in
    memory; the WAL is checkpointed every ``SQLITE_CHECKPOINT_PAGES`` instead of every
    1,000 pages (about every batch); and the commit does not wait for fsync
    (``synchronous=NORMAL``, restored afterwards): in WAL mode the database stays
    consistent, a process crash loses nothing committed, and an operating-system crash
    or power loss can lose the last batches together with their offsets, which the bus
    then delivers again.
    """
    with recorder.datastore.get_connection(commit=True) as connection:
        raw = connection._sqlite_conn
        try:
            if connection not in _TUNED:
                raw.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
                raw.execute(f"PRAGMA wal_autocheckpoint = {SQLITE_CHECKPOINT_PAGES}")
                _TUNED.add(connection)
            synchronous = int(raw.execute("PRAGMA synchronous").fetchone()[0])
            raw.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.Error as error:  # as the library's own statements report it
            raise OperationalError(error) from error
        try:
            with connection.transaction(commit=True) as cursor:
                yield cursor
        finally:
            with contextlib.suppress(sqlite3.Error):  # a broken connection is dropped anyway
                raw.execute(f"PRAGMA synchronous = {synchronous}")


def _check_erasures(now: int, sealed_under: int) -> None:
    if now != sealed_under:
        raise SubjectsErased(
            f"{now - sealed_under} erasure(s) committed since this batch was sealed"
        )


def _take_snapshots(app: NeonBlue, pending: Sequence[tuple[Any, Sequence[Any]]]) -> None:
    """The library's snapshotting, for the few aggregates that have it (experiments)."""
    intervals = app.snapshotting_intervals or {}
    processing = ProcessingEvent[UUID]()
    for aggregate, events in pending:
        if type(aggregate) in intervals and events:
            processing.events.extend(events)
            processing.aggregates[aggregate.id] = aggregate
    if processing.events:
        app._take_snapshots(processing)


def _copy_with_tracking(
    recorder: PostgresProcessRecorder,
    stored: Sequence[StoredEvent],
    trackings: Sequence[Tracking],
    tables: PostgresTables,
    event_ids: Sequence[str],
    letters: Sequence[DeadLetter],
    sealed_under: int | None,
) -> None:
    datastore = recorder.datastore
    table = SQL("{}.{}").format(
        Identifier(datastore.schema), Identifier(recorder.events_table_name)
    )
    copy_statement = SQL(
        "COPY {} (originator_id, originator_version, topic, state) FROM STDIN (FORMAT BINARY)"
    ).format(table)
    with datastore.get_connection() as conn, conn.transaction(), conn.cursor() as cursor:
        if sealed_under is not None:  # waits for an erasure being committed (its lock)
            _check_erasures(erasures_in(cursor, recorder), sealed_under)
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
