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
from pathlib import Path
from typing import Any

from infrastructure.application import NeonBlue
from infrastructure.settings import EventStoreSettings
from projections.relational.projection import NAME, RelationalProjection, SqlConnection

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
