"""Baselines the benchmarks measure themselves against in the same run."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import psycopg

RAW_EVENTS_DDL = (
    "CREATE TABLE raw_events (originator_id uuid, originator_version bigint, topic text, "
    "state bytea, notification_id bigserial, PRIMARY KEY (originator_id, originator_version))"
)


def raw_copy_rate(url: str, rows: Sequence[tuple[Any, ...]]) -> float:
    """Rows/s of one psycopg COPY of stored-event rows (originator_id, version, topic, state)
    into a fresh table shaped like the event store's."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(RAW_EVENTS_DDL)
        started = time.perf_counter()
        with (
            conn.transaction(),
            conn.cursor() as cursor,
            cursor.copy(
                "COPY raw_events (originator_id, originator_version, topic, state) FROM STDIN"
            ) as copy,
        ):
            for row in rows:
                copy.write_row(row)
        return len(rows) / (time.perf_counter() - started)


def raw_sqlite_rate(path: str, rows: Sequence[tuple[Any, ...]]) -> float:
    """Rows/s of one `executemany` of stored-event rows (originator_id, version, topic,
    state) into a fresh SQLite table shaped like the event store's (WAL, one transaction)."""
    import sqlite3

    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(
            "CREATE TABLE raw_events (originator_id TEXT, originator_version INTEGER, "
            "topic TEXT, state BLOB, PRIMARY KEY (originator_id, originator_version))"
        )
        started = time.perf_counter()
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO raw_events VALUES (?,?,?,?)", rows)
        conn.execute("COMMIT")
        return len(rows) / (time.perf_counter() - started)
    finally:
        conn.close()


def sqlite_batches_seconds(
    path: str, batches: Sequence[tuple[Sequence[tuple[Any, ...]], Sequence[tuple[bytes]]]]
) -> float:
    """Seconds to write ingest's rows alone, as ingest commits them: per batch one
    transaction of the stored-event rows and the recorded event ids (`neonblue_event_ids`),
    into fresh tables shaped like the store's, WAL with ``synchronous=NORMAL``; no Python
    work per event beyond the driver's. What any writer of these rows spends at least."""
    import sqlite3

    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(
            "CREATE TABLE raw_events (originator_id TEXT, originator_version INTEGER, "
            "topic TEXT, state BLOB, PRIMARY KEY (originator_id, originator_version))"
        )
        conn.execute("CREATE TABLE raw_event_ids (event_id BLOB PRIMARY KEY) WITHOUT ROWID")
        started = time.perf_counter()
        for events, ids in batches:
            conn.execute("BEGIN")
            conn.executemany("INSERT INTO raw_events VALUES (?,?,?,?)", events)
            conn.executemany("INSERT INTO raw_event_ids VALUES (?)", ids)
            conn.execute("COMMIT")
        return time.perf_counter() - started
    finally:
        conn.close()
