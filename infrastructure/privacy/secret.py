"""Which platform secret an event store's pseudonyms use.

The store also keeps a fingerprint of the secret its pseudonyms were first made with, and
refuses another one: with a different secret (a mistyped setting, one process configured
differently, a lost secret file) every user would get a second pseudonym, and `forget`
would erase one of the two.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import weakref
from pathlib import Path
from typing import Any

from eventsourcing.persistence import PersistenceError
from eventsourcing.postgres import PostgresProcessRecorder
from eventsourcing.sqlite import SQLiteProcessRecorder
from psycopg.sql import SQL, Identifier

from infrastructure.application import NeonBlue
from infrastructure.postgres_ddl import lock_ddl
from infrastructure.settings import ConfigurationError
from infrastructure.settings.privacy import PrivacySettings

_secrets: weakref.WeakKeyDictionary[Any, bytes] = weakref.WeakKeyDictionary()
_lock = threading.Lock()
SECRET_TABLE = "neonblue_privacy_secret"
FINGERPRINT_TABLE = "neonblue_privacy_fingerprint"


def fingerprint(secret: bytes) -> str:
    """Names the secret without revealing it (an HMAC of a fixed text under it)."""
    return hmac.new(secret, b"neonblue pseudonym secret", hashlib.sha256).hexdigest()[:16]


def _check(secret: bytes, first: str) -> None:
    mine = fingerprint(secret)
    if mine != first:
        raise ConfigurationError(
            f"The privacy secret in use (fingerprint {mine}) is not the one this event store's "
            f"pseudonyms were made with (fingerprint {first}). With it every user would get a "
            "second pseudonym and `privacy forget` would miss the first. Set "
            "NEONBLUE_PRIVACY_SECRET to the original secret (or unset it, if the store's "
            "generated secret was used)."
        )


def _recorded(recorder: Any, select: Any) -> Any:
    """The stored fingerprint's row, read without DDL or a write lock; None when there is
    none yet (no table or no row; a real failure shows in the write that follows)."""
    try:
        with recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(select)
            return cursor.fetchone()
    except PersistenceError:
        return None


def _postgres_fingerprint(recorder: PostgresProcessRecorder, secret: bytes) -> None:
    table = SQL("{}.{}").format(
        Identifier(recorder.datastore.schema), Identifier(FINGERPRINT_TABLE)
    )
    select = SQL("SELECT fingerprint FROM {} WHERE id = 1").format(table)
    row = _recorded(recorder, select)
    if row is None:  # the first use of this store: record the secret's fingerprint
        with recorder.datastore.transaction(commit=True) as cursor:
            lock_ddl(cursor)
            cursor.execute(
                SQL(
                    "CREATE TABLE IF NOT EXISTS {} (id INT PRIMARY KEY, fingerprint TEXT NOT NULL)"
                ).format(table)
            )
            cursor.execute(
                SQL("INSERT INTO {} VALUES (1, %s) ON CONFLICT DO NOTHING").format(table),
                (fingerprint(secret),),
            )
            cursor.execute(select)
            row = cursor.fetchone()
    _check(secret, str(row["fingerprint"]))


def _sqlite_fingerprint(recorder: SQLiteProcessRecorder, secret: bytes) -> None:
    select = f"SELECT fingerprint FROM {FINGERPRINT_TABLE} WHERE id = 1"
    row = _recorded(recorder, select)
    if row is None:  # the first use of this store: record the secret's fingerprint
        with recorder.datastore.transaction(commit=True) as cursor:
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {FINGERPRINT_TABLE} "
                "(id INTEGER PRIMARY KEY, fingerprint TEXT NOT NULL)"
            )
            cursor.execute(
                f"INSERT OR IGNORE INTO {FINGERPRINT_TABLE} VALUES (1, ?)",
                (fingerprint(secret),),
            )
            cursor.execute(select)
            row = cursor.fetchone()
    _check(secret, str(row[0]))


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
                _postgres_fingerprint(recorder, found)
            elif isinstance(recorder, SQLiteProcessRecorder) and not (
                recorder.datastore.pool.is_sqlite_memory_mode  # type: ignore[attr-defined]
            ):
                database = Path(str(app.env.get("SQLITE_DBNAME")))
                found = settings.secret(database.parent)
                _sqlite_fingerprint(recorder, found)
            else:
                found = settings.configured() or secrets.token_hex(32).encode()
            _secrets[recorder] = found
        return found
