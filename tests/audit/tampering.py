"""What an attacker with SQL access does to the stored events (SQLite or Postgres)."""

from __future__ import annotations

import sqlite3
from typing import Any

import psycopg

from infrastructure.application import NeonBlue
from infrastructure.settings import EventStoreSettings


class RawLog:
    """Direct SQL on the events table, bypassing the application."""

    def __init__(self, settings: EventStoreSettings, app: NeonBlue) -> None:
        self.kind = settings.kind
        recorder: Any = app.recorder
        env = settings.eventsourcing_env()
        if self.kind == "sqlite":
            self.conn: Any = sqlite3.connect(env["SQLITE_DBNAME"])
            self.table, self.position = recorder.events_table_name, "rowid"
            self.mark = "?"
        else:
            self.conn = psycopg.connect(settings.event_store, autocommit=True)
            schema = recorder.datastore.schema
            self.table = f'"{schema}"."{recorder.events_table_name}"'
            self.position, self.mark = "notification_id", "%s"

    def close(self) -> None:
        self.conn.close()

    def _run(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        sql = sql.format(table=self.table, pos=self.position).replace("?", self.mark)
        cursor = self.conn.execute(sql, params)
        rows = cursor.fetchall() if cursor.description else []
        if self.kind == "sqlite":
            self.conn.commit()
        return rows

    def positions(self) -> list[int]:
        return [row[0] for row in self._run("SELECT {pos} FROM {table} ORDER BY {pos}")]

    def row(self, position: int) -> tuple[str, int, str, bytes]:
        (row,) = self._run(
            "SELECT originator_id, originator_version, topic, state FROM {table} WHERE {pos} = ?",
            position,
        )
        return str(row[0]), row[1], row[2], bytes(row[3])

    def state(self, position: int) -> bytes:
        return self.row(position)[3]

    def set_state(self, position: int, state: bytes) -> None:
        self._run("UPDATE {table} SET state = ? WHERE {pos} = ?", state, position)

    def flip_byte(self, position: int, offset: int) -> bytes:
        """XORs one byte of the stored state; returns the original state."""
        original = self.state(position)
        changed = bytearray(original)
        changed[offset] ^= 0x01
        self.set_state(position, bytes(changed))
        return original

    def delete(self, position: int) -> None:
        self._run("DELETE FROM {table} WHERE {pos} = ?", position)

    def swap_states(self, first: int, second: int) -> None:
        a, b = self.state(first), self.state(second)
        self.set_state(first, b)
        self.set_state(second, a)

    def swap_positions(self, first: int, second: int) -> None:
        """Exchanges the notification positions of two events (reorders the log)."""
        parking = -1_000_000 - first
        self._run("UPDATE {table} SET {pos} = ? WHERE {pos} = ?", parking, first)
        self._run("UPDATE {table} SET {pos} = ? WHERE {pos} = ?", first, second)
        self._run("UPDATE {table} SET {pos} = ? WHERE {pos} = ?", second, parking)
