"""Which platform secret an event store's pseudonyms use."""

from __future__ import annotations

import secrets
import threading
import weakref
from pathlib import Path
from typing import Any

from eventsourcing.postgres import PostgresProcessRecorder
from eventsourcing.sqlite import SQLiteProcessRecorder
from psycopg.sql import SQL, Identifier

from infrastructure.application import NeonBlue
from infrastructure.postgres_ddl import lock_ddl
from infrastructure.settings.privacy import PrivacySettings

_secrets: weakref.WeakKeyDictionary[Any, bytes] = weakref.WeakKeyDictionary()
_lock = threading.Lock()
SECRET_TABLE = "neonblue_privacy_secret"


def _database_secret(recorder: PostgresProcessRecorder) -> bytes:
    """A generated secret kept in the database, so every process derives the same
    pseudonyms without configuration (README: set NEONBLUE_PRIVACY_SECRET in production)."""
    table = SQL("{}.{}").format(Identifier(recorder.datastore.schema), Identifier(SECRET_TABLE))
    with recorder.datastore.transaction(commit=True) as cursor:
        lock_ddl(cursor)
        cursor.execute(
            SQL("CREATE TABLE IF NOT EXISTS {} (id INT PRIMARY KEY, secret TEXT NOT NULL)").format(
                table
            )
        )
        cursor.execute(
            SQL("INSERT INTO {} VALUES (1, %s) ON CONFLICT DO NOTHING").format(table),
            (secrets.token_hex(32),),
        )
        cursor.execute(SQL("SELECT secret FROM {} WHERE id = 1").format(table))
        row: Any = cursor.fetchone()
    return str(row["secret"]).encode()


def platform_secret(app: NeonBlue, settings: PrivacySettings | None = None) -> bytes:
    """The setting; else a generated secret: for SQLite in a file next to the database,
    for Postgres in a table of its database, for the in-memory store in memory."""
    settings = settings or PrivacySettings()
    recorder = app.recorder
    with _lock:
        found = _secrets.get(recorder)
        if found is None:
            if isinstance(recorder, PostgresProcessRecorder):
                found = settings.configured() or _database_secret(recorder)
            elif isinstance(recorder, SQLiteProcessRecorder) and not (
                recorder.datastore.pool.is_sqlite_memory_mode  # type: ignore[attr-defined]
            ):
                database = Path(str(app.env.get("SQLITE_DBNAME")))
                found = settings.secret(database.parent)
            else:
                found = settings.configured() or secrets.token_hex(32).encode()
            _secrets[recorder] = found
        return found
