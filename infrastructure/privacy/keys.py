"""Per-subject data keys, in a table of the event store's own database.

`KeyStore` is the seam for an external KMS: an implementation may keep only wrapped keys
here (or none) and ask the KMS to unwrap them; `erase` must then destroy the KMS key or
the wrapped copy in the transaction that records the erasure (see README, Privacy).

An erased subject stays erased: `ensure` never keys a subject whose erasure is in the log
(its later events are dropped at ingest), and every erasure bumps a counter (`erasures`)
in its transaction, so that writers can tell that keys they sealed with may be gone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from eventsourcing.persistence import OperationalError, StoredEvent
from eventsourcing.postgres import PostgresProcessRecorder
from eventsourcing.sqlite import SQLiteProcessRecorder
from psycopg.sql import SQL, Identifier

from domain.privacy.erasure import erasure_hex
from infrastructure.application import NeonBlue
from infrastructure.per_store import PerStore
from infrastructure.postgres_ddl import lock_ddl
from infrastructure.privacy.crypto import SubjectKey
from infrastructure.settings import ConfigurationError

KEYS = "neonblue_subject_keys"
ERASURES = "neonblue_privacy_erasures"  # one row: how many erasures were committed
ERASURE_LOCK = "hashtext('neonblue_erasure')"  # Postgres: erase exclusive, key writers shared
CHUNK = 500
SCRUB_WAIT_SECONDS = 30.0


class KeyStore(Protocol):
    def get(self, pseudonyms: Collection[str]) -> dict[str, SubjectKey]:
        """The keys that exist among ``pseudonyms``."""
        ...

    def ensure(self, pseudonyms: Collection[str]) -> dict[str, SubjectKey]:
        """Every subject's key, creating the missing ones (the first writer wins a race);
        an erased subject gets none."""
        ...

    def erasures(self) -> int:
        """Erasures committed so far (a counter that only grows)."""
        ...

    def erase(self, pseudonym: str, stored: Sequence[StoredEvent]) -> None:
        """Deletes the key, appends ``stored`` (the erasure) and counts it, in one
        transaction."""
        ...

    def subjects(self) -> list[str]:
        """Pseudonyms that have a key."""
        ...


def _now() -> str:
    return datetime.now(UTC).isoformat()


class MemoryKeyStore:
    def __init__(self, app: NeonBlue) -> None:
        self.app = app
        self.keys: dict[str, SubjectKey] = {}
        self.erased: set[str] = set()
        self.lock = threading.Lock()

    def get(self, pseudonyms: Collection[str]) -> dict[str, SubjectKey]:
        return {p: self.keys[p] for p in pseudonyms if p in self.keys}

    def ensure(self, pseudonyms: Collection[str]) -> dict[str, SubjectKey]:
        with self.lock:
            missing = [p for p in pseudonyms if p not in self.keys and p not in self.erased]
            self.keys.update((k.pseudonym, k) for k in SubjectKey.generate_many(missing))
            return self.get(pseudonyms)

    def erasures(self) -> int:
        return len(self.erased)

    def erase(self, pseudonym: str, stored: Sequence[StoredEvent]) -> None:
        with self.lock:
            if stored:
                self.app.recorder.insert_events(stored)
            self.keys.pop(pseudonym, None)
            self.erased.add(pseudonym)

    def subjects(self) -> list[str]:
        return sorted(self.keys)


class SQLiteKeyStore:
    def __init__(self, recorder: SQLiteProcessRecorder) -> None:
        self.recorder = recorder
        with recorder.datastore.transaction(commit=True) as cursor:
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {KEYS} (pseudonym TEXT PRIMARY KEY, "
                "key_id TEXT NOT NULL, key BLOB NOT NULL, created_at TEXT NOT NULL)"
            )
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {ERASURES} (id INTEGER PRIMARY KEY, "
                "erasures INTEGER NOT NULL)"
            )

    def get(self, pseudonyms: Collection[str]) -> dict[str, SubjectKey]:
        wanted = list(pseudonyms)
        found: dict[str, SubjectKey] = {}
        with self.recorder.datastore.transaction(commit=False) as cursor:
            for start in range(0, len(wanted), CHUNK):
                chunk = wanted[start : start + CHUNK]
                cursor.execute(
                    f"SELECT pseudonym, key_id, key FROM {KEYS} WHERE pseudonym IN "
                    f"({', '.join('?' for _ in chunk)})",
                    chunk,
                )
                for row in cursor.fetchall():
                    found[row[0]] = SubjectKey(row[0], row[1], bytes(row[2]))
        return found

    def ensure(self, pseudonyms: Collection[str]) -> dict[str, SubjectKey]:
        """The new keys go in, but for subjects whose erasure is in the log (one statement:
        SQLite's writers take turns); only subjects another process keyed first are read
        back."""
        keys = SubjectKey.generate_many(list(pseudonyms))
        fresh = {k.pseudonym: k for k in keys}
        inserted: set[str] = set()
        now = _now()
        events = self.recorder.events_table_name
        with self.recorder.datastore.transaction(commit=True) as cursor:
            for start in range(0, len(keys), CHUNK):
                chunk = keys[start : start + CHUNK]
                cursor.execute(
                    f"INSERT INTO {KEYS} SELECT column1, column2, column3, column4 FROM "
                    f"(VALUES {', '.join('(?, ?, ?, ?, ?)' for _ in chunk)}) WHERE NOT EXISTS "
                    f"(SELECT 1 FROM {events} WHERE originator_id = column5) "
                    "ON CONFLICT DO NOTHING RETURNING pseudonym",
                    [
                        v
                        for k in chunk
                        for v in (k.pseudonym, k.key_id, k.key, now, erasure_hex(k.pseudonym))
                    ],
                )
                inserted.update(row[0] for row in cursor.fetchall())
        raced = [p for p in fresh if p not in inserted]
        return {**{p: fresh[p] for p in inserted}, **(self.get(raced) if raced else {})}

    def erasures(self) -> int:
        with self.recorder.datastore.transaction(commit=False) as cursor:
            return erasures_in(cursor)

    def erase(self, pseudonym: str, stored: Sequence[StoredEvent]) -> None:
        with self.recorder.datastore.transaction(commit=True) as cursor:
            cursor.execute("PRAGMA secure_delete = ON")  # no copy of the key in free pages
            if stored:
                self.recorder._insert_events(cursor, stored)
            cursor.execute(f"DELETE FROM {KEYS} WHERE pseudonym = ?", (pseudonym,))
            cursor.execute(
                f"INSERT INTO {ERASURES} VALUES (1, 1) ON CONFLICT (id) "
                "DO UPDATE SET erasures = erasures + 1"
            )
        scrub_wal(self.recorder)

    def subjects(self) -> list[str]:
        with self.recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(f"SELECT pseudonym FROM {KEYS} ORDER BY pseudonym")
            return [row[0] for row in cursor.fetchall()]


class WalNotScrubbed(ConfigurationError):
    """Deleted, but an old copy of the page may remain in the WAL file for a while."""


def scrub_wal(recorder: SQLiteProcessRecorder, wait_seconds: float | None = None) -> None:
    """Writes the WAL back and empties it, so no old page holding a deleted key or letter
    stays in the WAL file. A process reading the store (e.g. `neonblue serve`) holds the
    WAL until its read ends: the checkpoint is retried for ``wait_seconds``, then
    `WalNotScrubbed` says what to do (the deletion itself is committed)."""
    deadline = time.monotonic() + (SCRUB_WAIT_SECONDS if wait_seconds is None else wait_seconds)
    with recorder.datastore.get_connection(commit=True) as connection:  # not in a transaction
        raw = connection._sqlite_conn  # type: ignore[attr-defined]
        while True:
            busy = raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            if not busy:
                return
            if time.monotonic() >= deadline:
                raise WalNotScrubbed(
                    f"Deleted, but another process kept reading {recorder.datastore.pool.db_name}"
                    " (e.g. neonblue serve), so an old copy of the deleted page may remain in "
                    "its write-ahead log until that read ends. Run the same command again "
                    "once it is idle: the rerun only scrubs the log."
                )
            time.sleep(0.2)


class PostgresKeyStore:
    def __init__(self, recorder: PostgresProcessRecorder) -> None:
        self.recorder = recorder
        schema = Identifier(recorder.datastore.schema)
        self.table = SQL("{}.{}").format(schema, Identifier(KEYS))
        self.events = SQL("{}.{}").format(schema, Identifier(recorder.events_table_name))
        with recorder.datastore.transaction(commit=True) as cursor:
            lock_ddl(cursor)
            cursor.execute(
                SQL(
                    "CREATE TABLE IF NOT EXISTS {} (pseudonym TEXT PRIMARY KEY, "
                    "key_id TEXT NOT NULL, key BYTEA NOT NULL, created_at TIMESTAMPTZ NOT NULL)"
                ).format(self.table)
            )
            cursor.execute(
                SQL(
                    "CREATE TABLE IF NOT EXISTS {} (id INT PRIMARY KEY, erasures BIGINT NOT NULL)"
                ).format(erasures_table(recorder))
            )

    def get(self, pseudonyms: Collection[str]) -> dict[str, SubjectKey]:
        if not pseudonyms:
            return {}
        with self.recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                SQL("SELECT pseudonym, key_id, key FROM {} WHERE pseudonym = ANY(%s)").format(
                    self.table
                ),
                (list(pseudonyms),),
            )
            rows: list[Any] = cursor.fetchall()
        return {
            r["pseudonym"]: SubjectKey(r["pseudonym"], r["key_id"], bytes(r["key"])) for r in rows
        }

    def ensure(self, pseudonyms: Collection[str]) -> dict[str, SubjectKey]:
        """One statement: the new keys go in, but for subjects whose erasure is in the log
        (after any erasure being committed: the lock), and only subjects another process
        keyed first (a race) are read back."""
        keys = SubjectKey.generate_many(list(pseudonyms))
        if not keys:
            return {}
        fresh = {k.pseudonym: k for k in keys}
        with self.recorder.datastore.transaction(commit=True) as cursor:
            cursor.execute(f"SELECT pg_advisory_xact_lock_shared({ERASURE_LOCK})")
            cursor.execute(
                SQL(
                    "INSERT INTO {} SELECT p, k, v, now() FROM unnest(%s::text[], %s::text[], "
                    "%s::bytea[], %s::uuid[]) AS t(p, k, v, e) WHERE NOT EXISTS (SELECT 1 FROM {} "
                    "WHERE originator_id = e) ON CONFLICT DO NOTHING RETURNING pseudonym"
                ).format(self.table, self.events),
                (
                    [k.pseudonym for k in keys],
                    [k.key_id for k in keys],
                    [k.key for k in keys],
                    [erasure_hex(k.pseudonym) for k in keys],
                ),
            )
            inserted = {row["pseudonym"] for row in cursor.fetchall()}
        raced = [p for p in fresh if p not in inserted]
        return {**{p: fresh[p] for p in inserted}, **self.get(raced)}

    def erase(self, pseudonym: str, stored: Sequence[StoredEvent]) -> None:
        with (
            self.recorder.datastore.get_connection() as conn,
            conn.transaction(),
            conn.cursor() as cursor,
        ):
            cursor.execute(f"SELECT pg_advisory_xact_lock({ERASURE_LOCK})")
            if stored:
                self.recorder._insert_stored_events(cursor, stored)
            cursor.execute(
                SQL("DELETE FROM {} WHERE pseudonym = %s").format(self.table), (pseudonym,)
            )
            cursor.execute(
                SQL(
                    "INSERT INTO {} VALUES (1, 1) ON CONFLICT (id) "
                    "DO UPDATE SET erasures = {}.erasures + 1"
                ).format(erasures_table(self.recorder), Identifier(ERASURES))
            )
        with self.recorder.datastore.get_connection() as conn:  # free the dead row's space
            conn.execute(SQL("VACUUM {}").format(self.table))

    def erasures(self) -> int:
        with self.recorder.datastore.transaction(commit=False) as cursor:
            return erasures_in(cursor, self.recorder)

    def subjects(self) -> list[str]:
        with self.recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(SQL("SELECT pseudonym FROM {} ORDER BY pseudonym").format(self.table))
            return [r["pseudonym"] for r in cursor.fetchall()]


def erasures_table(recorder: PostgresProcessRecorder) -> Any:
    return SQL("{}.{}").format(Identifier(recorder.datastore.schema), Identifier(ERASURES))


def erasures_in(cursor: Any, recorder: PostgresProcessRecorder | None = None) -> int:
    """The erasure counter, read in ``cursor``'s transaction (``recorder``: a Postgres one,
    whose erasures it waits for: ingest checks it before committing a batch)."""
    if recorder is None:
        cursor.execute(f"SELECT erasures FROM {ERASURES} WHERE id = 1")
        row = cursor.fetchone()
        return int(row[0]) if row else 0
    cursor.execute(f"SELECT pg_advisory_xact_lock_shared({ERASURE_LOCK})")
    cursor.execute(SQL("SELECT erasures FROM {} WHERE id = 1").format(erasures_table(recorder)))
    row = cursor.fetchone()
    return int(row["erasures"]) if row else 0


class SubjectsErased(OperationalError):
    """A subject was erased after the batch was sealed with its key: nothing was written;
    the batch is prepared again (the erased subject's events are then dropped)."""


key_store_for = PerStore[KeyStore](PostgresKeyStore, SQLiteKeyStore, MemoryKeyStore)
"""The key table of an app's event store (created when missing)."""
