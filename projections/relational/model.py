"""Where the relational read model lives, fresh copies and the atomic switch.

- PostgreSQL event store: schema ``read_model`` in the same database; a rebuild fills
  ``read_model_next`` and one transaction renames the schemas (readers set
  ``search_path=read_model`` and never see a half-built model).
- Otherwise: the SQLite file ``read_model.db`` next to the event store; a rebuild fills
  ``read_model.next.db`` and ``os.replace`` swaps the files atomically.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domain.experiments.values import MetricKind
from infrastructure.application import NeonBlue
from infrastructure.settings import EventStoreSettings
from projections.relational import queries
from projections.relational.projection import NAME, RelationalProjection, SqlConnection

if TYPE_CHECKING:
    from domain.analysis import VariantSums
    from domain.experiments.aggregate import Experiment

SCHEMA = "read_model"


class RelationalModel:
    """The relational read model of one event store."""

    name = NAME

    def __init__(self, app: NeonBlue, settings: EventStoreSettings, schema: str = SCHEMA) -> None:
        self.app = app
        self.settings = settings
        self.schema = schema
        self.postgres = settings.kind == "postgresql"
        self._connections: list[SqlConnection] = []
        self._reader: RelationalProjection | None = None
        self._reading = threading.Lock()  # one read connection, shared by tool threads

    # -- connections ------------------------------------------------------------------------

    def connect(self, path: Path | None = None) -> SqlConnection:
        if self.postgres:
            import psycopg

            url = self.settings.event_store.split("?", 1)[0]
            connection = SqlConnection(psycopg.connect(url, autocommit=True), postgres=True)
        else:
            target = path or self.sqlite_path
            target.parent.mkdir(parents=True, exist_ok=True)
            raw = sqlite3.connect(target, isolation_level=None, check_same_thread=False)
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
        self._reader = None

    # -- queries ----------------------------------------------------------------------------

    def variant_sums(self, experiment: Experiment) -> dict[str, VariantSums]:
        """Per-variant sufficient statistics of one experiment (see `queries`)."""
        ratios = [
            (m.numerator, m.denominator)
            for m in experiment.metrics
            if m.kind == MetricKind.RATIO and m.numerator and m.denominator
        ]
        with self._reading:
            reader = self._read_connection()
            return queries.variant_sums(reader.db, reader.prefix, experiment.key, ratios)

    def position(self) -> int:
        with self._reading:
            return self._read_connection().position()

    def _read_connection(self) -> RelationalProjection:
        if self._reader is None:
            self._reader = self.projection()
        return self._reader

    # -- projections ------------------------------------------------------------------------

    def projection(self) -> RelationalProjection:
        connection = self.connect()
        projection = RelationalProjection(self.app, connection, self._prefix(self.schema))
        self._ensure(projection)
        return projection

    def fresh_copy(self) -> RelationalProjection:
        if self.postgres:
            connection = self.connect()
            next_schema = f"{self.schema}_next"
            connection.execute(f'DROP SCHEMA IF EXISTS "{next_schema}" CASCADE')
            projection = RelationalProjection(self.app, connection, self._prefix(next_schema))
        else:
            path = self.sqlite_path.with_suffix(".next.db")
            for stale in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                stale.unlink(missing_ok=True)
            projection = RelationalProjection(self.app, self.connect(path), "")
        self._ensure(projection)
        return projection

    def switch(self, projection: Any) -> str:
        with self._reading:  # readers re-open on the new copy
            if self._reader is not None:
                self._reader.db.close()
                self._connections.remove(self._reader.db)
                self._reader = None
        if self.postgres:
            db = projection.db
            old = f"{self.schema}_old"
            with db.transaction():
                db.execute(f'DROP SCHEMA IF EXISTS "{old}" CASCADE')
                db.execute(f'ALTER SCHEMA "{self.schema}" RENAME TO "{old}"')
                db.execute(f'ALTER SCHEMA "{self.schema}_next" RENAME TO "{self.schema}"')
                db.execute(f'DROP SCHEMA "{old}" CASCADE')
            return old
        next_path = self.sqlite_path.with_suffix(".next.db")
        projection.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        projection.db.close()
        os.replace(next_path, self.sqlite_path)
        return str(next_path)

    def _prefix(self, schema: str) -> str:
        return f'"{schema}".' if self.postgres else ""

    def _ensure(self, projection: RelationalProjection) -> None:
        if self.postgres:
            schema = projection.prefix.split(".", 1)[0]
            projection.db.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        projection.setup()
