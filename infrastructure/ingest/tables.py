"""Ingest's own tables in the event store's database: recorded event ids and dead letters.

`neonblue_event_ids` holds the ``event_id`` of every wire event that ingest recorded (as
UTF-8 bytes: ids may hold any character), so a repeated id is a duplicate whichever user,
experiment, topic or partition it comes with: deduplication is global. Its primary key
makes two ingest processes racing on one id fail the second transaction, which is redone
and then finds the id. `neonblue_dead_letters` holds every dead letter, whole, keyed by its
source (topic, partition, offset); ``published`` says whether it reached the dead-letter
topic. Both are written in the transaction that commits a batch's events and offsets
(`store.write_tracked`). Ids recorded before these tables existed are deduplicated within
their participation only (as before).
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable, Sequence
from typing import Any, Protocol

from eventsourcing.persistence import IntegrityError
from eventsourcing.postgres import PostgresProcessRecorder
from eventsourcing.sqlite import SQLiteProcessRecorder
from psycopg.sql import SQL, Identifier

from infrastructure.ingest.bus import Partition
from infrastructure.ingest.dead_letters import DeadLetter
from infrastructure.per_store import PerStore
from infrastructure.postgres_ddl import lock_ddl
from infrastructure.privacy.keys import scrub_wal

EVENT_IDS = "neonblue_event_ids"
DEAD_LETTERS = "neonblue_dead_letters"
LETTER_COLUMNS = (
    "source_topic", "source_partition", "source_offset", "kind", "reason", "key", "original",
    "original_length", "original_sha256", "dead_lettered_at",
)  # fmt: skip
CHUNK = 500
Coordinates = tuple[str, int, int]


def letter_row(letter: DeadLetter) -> tuple[Any, ...]:
    return tuple(getattr(letter, column) for column in LETTER_COLUMNS)


def letter_of(row: Sequence[Any]) -> DeadLetter:
    values = dict(zip(LETTER_COLUMNS, row, strict=True))
    for name in ("key", "original"):
        if values[name] is not None:
            values[name] = bytes(values[name])
    return DeadLetter(**values)


class IngestTables(Protocol):
    def known_event_ids(self, event_ids: Collection[str]) -> set[str]: ...
    def unpublished(self, partitions: Collection[Partition] | None = None) -> list[DeadLetter]: ...
    def mark_published(self, coordinates: Iterable[Coordinates]) -> None: ...
    def dead_letters(self, limit: int, kind: str | None = None) -> list[DeadLetter]: ...
    def forget_letters(self, needle: bytes, key: bytes) -> int: ...


def _published_filter(
    letters: list[DeadLetter], partitions: Collection[Partition] | None
) -> list[DeadLetter]:
    if partitions is None:
        return letters
    wanted = set(partitions)
    return [d for d in letters if (d.source_topic, d.source_partition) in wanted]


class PostgresTables:
    def __init__(self, recorder: PostgresProcessRecorder) -> None:
        self.recorder = recorder
        schema = Identifier(recorder.datastore.schema)
        self.event_ids = SQL("{}.{}").format(schema, Identifier(EVENT_IDS))
        self.letters = SQL("{}.{}").format(schema, Identifier(DEAD_LETTERS))
        self._create()

    def _create(self) -> None:
        with self.recorder.datastore.transaction(commit=True) as cursor:
            lock_ddl(cursor)
            cursor.execute(
                SQL("CREATE TABLE IF NOT EXISTS {} (event_id bytea PRIMARY KEY)").format(
                    self.event_ids
                )
            )
            cursor.execute(
                SQL(
                    "CREATE TABLE IF NOT EXISTS {} (source_topic text NOT NULL, "
                    "source_partition integer NOT NULL, source_offset bigint NOT NULL, "
                    "kind text NOT NULL, reason text NOT NULL, key bytea, original bytea, "
                    "original_length bigint NOT NULL, original_sha256 text NOT NULL, "
                    "dead_lettered_at text NOT NULL, published boolean NOT NULL DEFAULT false, "
                    "PRIMARY KEY (source_topic, source_partition, source_offset))"
                ).format(self.letters)
            )

    def known_event_ids(self, event_ids: Collection[str]) -> set[str]:
        if not event_ids:
            return set()
        statement = SQL("SELECT event_id FROM {} WHERE event_id = ANY(%s)").format(self.event_ids)
        with self.recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(statement, ([i.encode() for i in event_ids],))
            return {bytes(row["event_id"]).decode() for row in cursor.fetchall()}

    def insert(self, cursor: Any, event_ids: Sequence[str], letters: Sequence[DeadLetter]) -> None:
        """Within the caller's transaction; a recorded id raises a unique violation."""
        if event_ids:
            copy_ids = SQL("COPY {} (event_id) FROM STDIN (FORMAT BINARY)").format(self.event_ids)
            with cursor.copy(copy_ids) as copy:
                copy.set_types(["bytea"])
                for event_id in event_ids:
                    copy.write_row((event_id.encode(),))
        if letters:
            cursor.executemany(
                SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT DO NOTHING").format(
                    self.letters,
                    SQL(", ").join(map(Identifier, LETTER_COLUMNS)),
                    SQL(", ").join(SQL("%s") for _ in LETTER_COLUMNS),
                ),
                [letter_row(d) for d in letters],
            )

    def _select(self, where: str, params: Sequence[Any]) -> list[DeadLetter]:
        statement = SQL("SELECT {} FROM {} " + where).format(
            SQL(", ").join(map(Identifier, LETTER_COLUMNS)), self.letters
        )
        with self.recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(statement, params)
            return [letter_of([row[c] for c in LETTER_COLUMNS]) for row in cursor.fetchall()]

    def unpublished(self, partitions: Collection[Partition] | None = None) -> list[DeadLetter]:
        letters = self._select(
            "WHERE NOT published ORDER BY source_topic, source_partition, source_offset", ()
        )
        return _published_filter(letters, partitions)

    def mark_published(self, coordinates: Iterable[Coordinates]) -> None:
        rows = list(coordinates)
        if not rows:
            return
        statement = SQL(
            "UPDATE {} SET published = true WHERE source_topic = %s AND source_partition = %s "
            "AND source_offset = %s"
        ).format(self.letters)
        with self.recorder.datastore.transaction(commit=True) as cursor:
            cursor.executemany(statement, rows)

    def dead_letters(self, limit: int, kind: str | None = None) -> list[DeadLetter]:
        order = "ORDER BY source_topic, source_partition, source_offset LIMIT %s"
        if kind is None:
            return self._select(order, (limit,))
        return self._select("WHERE kind = %s " + order, (kind, limit))

    def forget_letters(self, needle: bytes, key: bytes) -> int:
        """Deletes the letters whose original holds ``needle`` or whose message key is ``key``
        (privacy: a forgotten user)."""
        statement = SQL("DELETE FROM {} WHERE position(%s IN original) > 0 OR key = %s").format(
            self.letters
        )
        with self.recorder.datastore.transaction(commit=True) as cursor:
            cursor.execute(statement, (needle, key))
            return cursor.rowcount


class SQLiteTables:
    def __init__(self, recorder: SQLiteProcessRecorder) -> None:
        self.recorder = recorder
        with recorder.datastore.transaction(commit=True) as cursor:
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {EVENT_IDS} (event_id BLOB PRIMARY KEY) WITHOUT ROWID"
            )
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {DEAD_LETTERS} (source_topic TEXT NOT NULL, "
                "source_partition INTEGER NOT NULL, source_offset INTEGER NOT NULL, "
                "kind TEXT NOT NULL, reason TEXT NOT NULL, key BLOB, original BLOB, "
                "original_length INTEGER NOT NULL, original_sha256 TEXT NOT NULL, "
                "dead_lettered_at TEXT NOT NULL, published INTEGER NOT NULL DEFAULT 0, "
                "PRIMARY KEY (source_topic, source_partition, source_offset))"
            )

    def known_event_ids(self, event_ids: Collection[str]) -> set[str]:
        ids = [i.encode() for i in event_ids]
        found: set[str] = set()
        with self.recorder.datastore.transaction(commit=False) as cursor:
            for start in range(0, len(ids), CHUNK):
                chunk = ids[start : start + CHUNK]
                cursor.execute(
                    f"SELECT event_id FROM {EVENT_IDS} WHERE event_id IN "
                    f"({','.join('?' * len(chunk))})",
                    chunk,
                )
                found.update(bytes(row[0]).decode() for row in cursor.fetchall())
        return found

    def insert(self, cursor: Any, event_ids: Sequence[str], letters: Sequence[DeadLetter]) -> None:
        if event_ids:
            cursor.executemany(
                f"INSERT INTO {EVENT_IDS} (event_id) VALUES (?)", [(i.encode(),) for i in event_ids]
            )
        if letters:
            cursor.executemany(
                f"INSERT OR IGNORE INTO {DEAD_LETTERS} ({', '.join(LETTER_COLUMNS)}) "
                f"VALUES ({','.join('?' * len(LETTER_COLUMNS))})",
                [letter_row(d) for d in letters],
            )

    def _select(self, where: str, params: Sequence[Any]) -> list[DeadLetter]:
        with self.recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                f"SELECT {', '.join(LETTER_COLUMNS)} FROM {DEAD_LETTERS} {where}", list(params)
            )
            return [letter_of(tuple(row)) for row in cursor.fetchall()]

    def unpublished(self, partitions: Collection[Partition] | None = None) -> list[DeadLetter]:
        letters = self._select(
            "WHERE NOT published ORDER BY source_topic, source_partition, source_offset", ()
        )
        return _published_filter(letters, partitions)

    def mark_published(self, coordinates: Iterable[Coordinates]) -> None:
        rows = list(coordinates)
        if not rows:
            return
        with self.recorder.datastore.transaction(commit=True) as cursor:
            cursor.executemany(
                f"UPDATE {DEAD_LETTERS} SET published = 1 WHERE source_topic = ? "
                "AND source_partition = ? AND source_offset = ?",
                rows,
            )

    def dead_letters(self, limit: int, kind: str | None = None) -> list[DeadLetter]:
        order = "ORDER BY source_topic, source_partition, source_offset LIMIT ?"
        if kind is None:
            return self._select(order, (limit,))
        return self._select("WHERE kind = ? " + order, (kind, limit))

    def forget_letters(self, needle: bytes, key: bytes) -> int:
        with self.recorder.datastore.transaction(commit=True) as cursor:
            cursor.execute("PRAGMA secure_delete = ON")  # no copy left in free pages
            cursor.execute(
                f"DELETE FROM {DEAD_LETTERS} WHERE instr(original, ?) > 0 OR key = ?", (needle, key)
            )
            cursor.execute("SELECT changes()")
            deleted = int(cursor.fetchone()[0])
        scrub_wal(self.recorder)  # nor in the WAL
        return deleted


class MemoryTables:
    """The same tables for the in-memory event store (one process)."""

    def __init__(self) -> None:
        self.event_ids: set[str] = set()
        self.letters: dict[Coordinates, tuple[DeadLetter, bool]] = {}
        self.lock = threading.Lock()

    def known_event_ids(self, event_ids: Collection[str]) -> set[str]:
        with self.lock:
            return {i for i in event_ids if i in self.event_ids}

    def check(self, event_ids: Sequence[str]) -> None:
        with self.lock:
            if any(i in self.event_ids for i in event_ids):
                raise IntegrityError("an event id of the batch is already recorded")

    def insert(self, event_ids: Sequence[str], letters: Sequence[DeadLetter]) -> None:
        with self.lock:
            self.event_ids.update(event_ids)
            for letter in letters:
                self.letters.setdefault(letter.coordinates, (letter, False))

    def unpublished(self, partitions: Collection[Partition] | None = None) -> list[DeadLetter]:
        with self.lock:
            letters = [d for d, published in self.letters.values() if not published]
        return _published_filter(sorted(letters, key=lambda d: d.coordinates), partitions)

    def mark_published(self, coordinates: Iterable[Coordinates]) -> None:
        with self.lock:
            for where in coordinates:
                if where in self.letters:
                    self.letters[where] = (self.letters[where][0], True)

    def dead_letters(self, limit: int, kind: str | None = None) -> list[DeadLetter]:
        with self.lock:
            letters = [d for d, _ in self.letters.values() if kind in (None, d.kind)]
        return sorted(letters, key=lambda d: d.coordinates)[:limit]

    def forget_letters(self, needle: bytes, key: bytes) -> int:
        with self.lock:
            found = [
                c
                for c, (d, _) in self.letters.items()
                if needle in (d.original or b"") or d.key == key
            ]
            for where in found:
                del self.letters[where]
        return len(found)


tables_for = PerStore[IngestTables](PostgresTables, SQLiteTables, lambda _: MemoryTables())
"""The ingest tables of an app's event store (created when missing)."""
