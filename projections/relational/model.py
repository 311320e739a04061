"""Where the relational read model lives, its generations and the atomic switch.

Every build of the model is a generation, listed in a ``generations`` table with its state
(building, live, retired) and the process building it; one transaction makes a copy live.
No file is ever replaced under an open connection.

- PostgreSQL event store: the live generation is schema ``read_model`` (readers may set
  ``search_path=read_model``); a copy is built in ``read_model_g<N>`` and the switch
  renames the two schemas in one transaction, under an advisory lock that writers and
  readers take shared; the list is ``read_model_meta.generations``.
- Otherwise: one SQLite file ``read_model.db`` next to the event store holds every
  generation as tables ``g<N>_<table>``, views named as the tables show the live one
  (so the seed's SQL runs unchanged), and the switch is one write transaction.

The retired generation is dropped right after the switch (`collect`); a kill before that
leaves it listed as a leftover that `neonblue projections gc` removes.
"""

from __future__ import annotations

import functools
import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from domain.experiments.values import MetricKind
from infrastructure.application import NeonBlue
from infrastructure.log_statistics import period_starts_of
from infrastructure.settings import EventStoreSettings
from projections.generations import (
    BUILDING,
    LIVE,
    RETIRED,
    Generation,
    GenerationRemoved,
    crash_point,
    owner,
)
from projections.relational import queries
from projections.relational.projection import NAME, RelationalProjection, SqlConnection
from projections.relational.schema import TABLES

if TYPE_CHECKING:
    from domain.analysis import VariantSums
    from domain.experiments.aggregate import Experiment

SCHEMA = "read_model"
LEGACY_TABLES = tuple(TABLES)  # before generations: plain tables in read_model.db


T = TypeVar("T")


def _administered(method: Callable[..., T]) -> Callable[..., T]:
    """Runs ``method`` holding the model's admin connection (`_administering`)."""

    @functools.wraps(method)
    def held(self: RelationalModel, *args: Any, **kwargs: Any) -> T:
        with self._administering:
            return method(self, *args, **kwargs)

    return held


class RelationalModel:
    """The relational read model of one event store."""

    name = NAME

    def __init__(self, app: NeonBlue, settings: EventStoreSettings, schema: str = SCHEMA) -> None:
        self.app = app
        self.settings = settings
        self.schema = schema
        self.postgres = settings.kind == "postgresql"
        self._connections: list[SqlConnection] = []
        self._admin: SqlConnection | None = None
        self._reader: SqlConnection | None = None
        self._reading = threading.Lock()  # one read connection, shared by tool threads
        # one admin connection, shared by serve's follower (switch, collect) and its pages
        # (the copies listed): a DROP meeting another thread's open SELECT on it failed
        # with "database table is locked", and two transactions cannot share it
        self._administering = threading.RLock()
        self._meta_ready = False

    # -- connections ------------------------------------------------------------------------

    def connect(self, path: Path | None = None) -> SqlConnection:
        if self.postgres:
            import psycopg

            url = self.settings.event_store.split("?", 1)[0]
            connection = SqlConnection(psycopg.connect(url, autocommit=True), postgres=True)
        else:
            target = path or self.sqlite_path
            target.parent.mkdir(parents=True, exist_ok=True)
            raw = sqlite3.connect(
                target, isolation_level=None, check_same_thread=False, timeout=120
            )
            # collected generations give their pages back (effective on a new file)
            raw.execute("PRAGMA auto_vacuum = INCREMENTAL")
            raw.execute("PRAGMA journal_mode=WAL")
            connection = SqlConnection(raw, postgres=False)
        self._connections.append(connection)
        return connection

    @property
    def sqlite_path(self) -> Path:
        env = self.settings.eventsourcing_env()
        if "SQLITE_DBNAME" in env:
            return Path(env["SQLITE_DBNAME"]).parent / "read_model.db"
        return self.settings.data_dir / "read_model.db"

    def close(self) -> None:
        for connection in self._connections:
            connection.close()
        self._connections.clear()
        self._admin = self._reader = None

    # -- queries ----------------------------------------------------------------------------

    def variant_sums(self, experiment: Experiment) -> dict[str, VariantSums]:
        """Per-variant sufficient statistics of one experiment (see `queries`)."""
        ratios = [
            (m.numerator, m.denominator)
            for m in experiment.metrics
            if m.kind == MetricKind.RATIO and m.numerator and m.denominator
        ]
        with self._reading:
            db = self._read_connection()
            with db.snapshot():  # one generation, one committed state, for every query
                prefix = self._live_prefix(db)
                return queries.variant_sums(
                    db, prefix, experiment.key, ratios, period_starts_of(experiment)
                )

    def position(self) -> int:
        with self._reading:
            db = self._read_connection()
            with db.snapshot():
                prefix = self._live_prefix(db)
                found = db.rows(
                    f"SELECT position FROM {prefix}projection_positions WHERE name = ?", (NAME,)
                )
        return int(found[0][0]) if found else 0

    def _read_connection(self) -> SqlConnection:
        if self._reader is None:
            with self._administering:
                self._admin_connection()  # the live generation exists
            self._reader = self.connect()
        return self._reader

    # -- projections ------------------------------------------------------------------------

    @_administered
    def projection(self) -> RelationalProjection:
        """A writer on the live generation that follows it through switches."""
        db = self._admin_connection()
        with db.snapshot():
            prefix = self._live_prefix(db)
        projection = RelationalProjection(self.app, self.connect(), prefix, self._locate_live)
        projection.setup()
        return projection

    @_administered
    def fresh_copy(self) -> RelationalProjection:
        """An empty generation, registered as being built by this process."""
        db = self._admin_connection()
        with db.transaction():  # exclusive: two rebuilds starting together take turns
            self._lock(db, exclusive=True)  # (at READ COMMITTED both would pick max + 1)
            number = int(db.rows(f"SELECT coalesce(max(generation), 0) FROM {self._meta}")[0][0])
            number += 1
            db.execute(
                f"INSERT INTO {self._meta} VALUES (?, ?, ?, ?)",
                (number, BUILDING, owner(), _now()),
            )
        if self.postgres:
            db.execute(f'CREATE SCHEMA IF NOT EXISTS "{self._schema_of(number)}"')
        crash_point(NAME, "registered")
        projection = RelationalProjection(
            self.app, self.connect(), self._prefix_of(number), self._locate_building
        )
        projection.generation = number
        projection.setup()
        return projection

    @_administered
    def switch(self, projection: Any) -> str:
        """Makes the copy live in one transaction, then collects the retired generation."""
        number = int(projection.generation)
        db = self._admin_connection()
        crash_point(NAME, "before-switch")
        with db.transaction():
            self._lock(db, exclusive=True)
            states = dict(db.rows(f"SELECT generation, state FROM {self._meta}"))
            if states.get(number) != BUILDING:
                raise GenerationRemoved(f"{NAME}: generation {number} is no longer being built")
            old = [g for g, state in states.items() if state == LIVE]
            for generation in old:
                db.execute(
                    f"UPDATE {self._meta} SET state = ? WHERE generation = ?",
                    (RETIRED, generation),
                )
                if self.postgres:
                    db.execute(
                        f'ALTER SCHEMA "{self.schema}" RENAME TO "{self._schema_of(generation)}"'
                    )
            db.execute(
                f"UPDATE {self._meta} SET state = ?, owner = '' WHERE generation = ?",
                (LIVE, number),
            )
            if self.postgres:
                db.execute(f'ALTER SCHEMA "{self._schema_of(number)}" RENAME TO "{self.schema}"')
            else:
                self._point_views(db, number)
        projection.prefix = self._live_prefix_of(number)
        projection.locate = self._locate_live
        crash_point(NAME, "switched")
        self.collect()
        return ", ".join(self._schema_of(g) for g in old)

    # -- generations ------------------------------------------------------------------------

    @_administered
    def generations(self) -> list[Generation]:
        db = self._admin_connection()
        rows = db.rows(f"SELECT generation, state, owner FROM {self._meta} ORDER BY generation")
        sizes = self._sizes(db)
        found = [
            Generation(NAME, self._name_of(g, state), state, sizes.pop(g, 0), owner_)
            for g, state, owner_ in rows
        ]
        found += [  # tables or schemas that no row names (none expected)
            Generation(NAME, self._schema_of(g), "orphan", size) for g, size in sizes.items()
        ]
        return found

    @_administered
    def collect(self, force: bool = False) -> list[Generation]:
        """Drops retired generations and copies whose builder is gone (``force``: every
        copy being built too); returns what it removed."""
        removed = []
        for generation in self.generations():
            if generation.state == LIVE or not (force or generation.leftover):
                continue
            number = int(generation.name.rsplit("g", 1)[-1])
            db = self._admin_connection()
            with db.transaction():
                self._lock(db, exclusive=True)
                if self.postgres:
                    db.execute(f'DROP SCHEMA IF EXISTS "{self._schema_of(number)}" CASCADE')
                else:
                    for table in self._tables_of(db, number):
                        db.execute(f'DROP TABLE IF EXISTS "{table}"')
                db.execute(f"DELETE FROM {self._meta} WHERE generation = ?", (number,))
            removed.append(generation)
            crash_point(NAME, "collected-one")
        if removed and not self.postgres:
            # run to completion (a stepped statement frees one page); shrinks at a checkpoint
            self._admin_connection().connection.executescript(
                "PRAGMA incremental_vacuum; PRAGMA wal_checkpoint(PASSIVE);"
            )
        return removed

    # -- internals --------------------------------------------------------------------------

    @property
    def _meta(self) -> str:
        return f'"{self.schema}_meta".generations' if self.postgres else "generations"

    def _schema_of(self, number: int) -> str:
        return f"{self.schema}_g{number}" if self.postgres else f"g{number}"

    def _name_of(self, number: int, state: str) -> str:
        if self.postgres and state == LIVE:
            return f"{self.schema} (g{number})"
        return self._schema_of(number)

    def _prefix_of(self, number: int) -> str:
        return f'"{self._schema_of(number)}".' if self.postgres else f"g{number}_"

    def _live_prefix_of(self, number: int) -> str:
        return f'"{self.schema}".' if self.postgres else f"g{number}_"

    def _lock(self, db: SqlConnection, exclusive: bool) -> None:
        """Postgres: switches wait for writers and readers, and they for switches (SQLite's
        write transactions and snapshots do this by themselves)."""
        if self.postgres:
            kind = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
            db.execute(f"SELECT {kind}(hashtext(?))", (f"neonblue:{self.schema}",))

    def _live_number(self, db: SqlConnection) -> int:
        found = db.rows(f"SELECT generation FROM {self._meta} WHERE state = ?", (LIVE,))
        if not found:
            raise GenerationRemoved(f"{NAME}: no live generation")
        return int(found[0][0])

    def _live_prefix(self, db: SqlConnection) -> str:
        """Inside a transaction or snapshot of ``db``."""
        self._lock(db, exclusive=False)
        return self._live_prefix_of(self._live_number(db))

    def _locate_live(self, projection: RelationalProjection) -> str:
        return self._live_prefix(projection.db)

    def _locate_building(self, projection: RelationalProjection) -> str:
        db, number = projection.db, int(projection.generation or 0)
        self._lock(db, exclusive=False)
        found = db.rows(f"SELECT state FROM {self._meta} WHERE generation = ?", (number,))
        if not found or found[0][0] == RETIRED:
            raise GenerationRemoved(f"{NAME}: generation {number} was removed")
        return self._live_prefix_of(number) if found[0][0] == LIVE else self._prefix_of(number)

    def _admin_connection(self) -> SqlConnection:
        """The connection that reads and changes the generations (created on first use,
        with generation 1 live)."""
        if self._admin is None:
            self._admin = self.connect()
        if not self._meta_ready:
            self._setup_meta(self._admin)
            self._meta_ready = True
        return self._admin

    def _setup_meta(self, db: SqlConnection) -> None:
        columns = "generation INTEGER PRIMARY KEY, state TEXT NOT NULL, owner TEXT NOT NULL, "
        columns += "created_at TEXT NOT NULL"
        with db.transaction():
            self._lock(db, exclusive=True)
            if self.postgres:
                db.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}_meta"')
            db.execute(f"CREATE TABLE IF NOT EXISTS {self._meta} ({columns})")
            if db.rows(f"SELECT 1 FROM {self._meta} WHERE state = ?", (LIVE,)):
                return
            if self.postgres:  # a model from before generations is adopted as generation 1
                db.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            else:  # plain tables from before generations: dropped (rebuilt from the log)
                for table in LEGACY_TABLES:
                    kind = db.rows("SELECT type FROM sqlite_master WHERE name = ?", (table,))
                    if kind:
                        db.execute(f'DROP {kind[0][0].upper()} IF EXISTS "{table}"')
            number = int(db.rows(f"SELECT coalesce(max(generation), 0) FROM {self._meta}")[0][0])
            db.execute(f"INSERT INTO {self._meta} VALUES (?, ?, '', ?)", (number + 1, LIVE, _now()))
            projection = RelationalProjection(self.app, db, self._live_prefix_of(number + 1))
            projection.create(in_transaction=True)
            if not self.postgres:
                self._point_views(db, number + 1)

    def _point_views(self, db: SqlConnection, number: int) -> None:
        """Views named as the tables, on the live generation (for people and seed SQL)."""
        for table in TABLES:
            db.execute(f'DROP VIEW IF EXISTS "{table}"')
            db.execute(f'CREATE VIEW "{table}" AS SELECT * FROM "g{number}_{table}"')

    def _tables_of(self, db: SqlConnection, number: int) -> list[str]:
        prefix = f"g{number}_"
        return [
            name
            for (name,) in db.rows("SELECT name FROM sqlite_master WHERE type = 'table'")
            if name.startswith(prefix)
        ]

    def _sizes(self, db: SqlConnection) -> dict[int, int]:
        """Bytes per generation number, from the tables (and their indexes) that exist."""
        sizes: dict[int, int] = {}
        if self.postgres:
            rows = db.rows(
                "SELECT n.nspname, coalesce(sum(pg_total_relation_size(c.oid)), 0) "
                "FROM pg_namespace n LEFT JOIN pg_class c ON c.relnamespace = n.oid "
                "AND c.relkind = 'r' WHERE n.nspname = ? OR n.nspname LIKE ? "
                "GROUP BY n.nspname",
                (self.schema, f"{self.schema}_g%"),
            )
            live = db.rows(f"SELECT generation FROM {self._meta} WHERE state = ?", (LIVE,))
            for schema, size in rows:
                if schema == self.schema:
                    number = int(live[0][0]) if live else 0
                else:
                    number = int(schema.rsplit("_g", 1)[-1])
                sizes[number] = sizes.get(number, 0) + int(size)
            return sizes
        rows = db.rows(
            "SELECT coalesce(tbl_name, ''), sum(pgsize) FROM dbstat "
            "JOIN sqlite_master ON dbstat.name = sqlite_master.name GROUP BY tbl_name"
        )
        for table, size in rows:
            head, _, rest = table.partition("_")
            if head.startswith("g") and head[1:].isdigit() and rest:
                sizes[int(head[1:])] = sizes.get(int(head[1:]), 0) + int(size)
        return sizes


def _now() -> str:
    return datetime.now(UTC).isoformat()
