"""`SourceRows`: the operational database's rows of one experiment, as change data
capture last saw them.

Rows of the experiments table and of its variants table reach ingest on different topics
and in any order (a snapshot reads one table after the other). Keeping the rows lets a
change be mapped against everything known of the experiment: variants seen before their
experiment row are used when it arrives, a status the experiment could not reach yet
(e.g. ``running`` before its variants arrived) is reached when they do, and a change at or
before a row's last applied source position (a connector's redelivery) is recognised.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.ingestion.aggregates import INGESTION_NAMESPACE
from domain.values import JsonObject


def source_rows_id(experiment_key: str) -> UUID:
    return uuid5(INGESTION_NAMESPACE, f"source-rows\x1f{experiment_key}")


def row_id(table: str, row_key: str) -> str:
    return f"{table}/{row_key}"


class SourceRows(Aggregate):
    """Last seen state (or deletion) and source position of each row of one experiment."""

    class Event(Aggregate.Event):
        class_version = 1

    class Opened(Event, Aggregate.Created):
        experiment_key: str

    class RowChanged(Event):
        table: str
        row_key: str
        operation: str  # c, u, d, r (Debezium's op)
        source_position: int | None  # e.g. the PostgreSQL LSN; None when the source has none
        at: datetime
        row: JsonObject | None  # None once deleted

        def apply(self, aggregate: SourceRows) -> None:
            key = row_id(self.table, self.row_key)
            aggregate.rows[key] = self.row
            aggregate.changed_at[key] = self.at
            if self.source_position is not None:
                aggregate.positions[key] = self.source_position

    @staticmethod
    def create_id(experiment_key: str) -> UUID:
        return source_rows_id(experiment_key)

    def __init__(self, experiment_key: str) -> None:
        self.experiment_key = experiment_key
        self.rows: dict[str, dict[str, Any] | None] = {}
        self.changed_at: dict[str, datetime] = {}
        self.positions: dict[str, int] = {}

    @classmethod
    def open(cls, experiment_key: str) -> SourceRows:
        return cls._create(cls.Opened, experiment_key=experiment_key)

    def is_stale(self, table: str, row_key: str, source_position: int | None) -> bool:
        """True when the row already reflects this source position (or a later one)."""
        last = self.positions.get(row_id(table, row_key))
        return source_position is not None and last is not None and source_position <= last

    def record(
        self,
        table: str,
        row_key: str,
        operation: str,
        source_position: int | None,
        at: datetime,
        row: dict[str, Any] | None,
    ) -> None:
        self.trigger_event(
            self.RowChanged,
            table=table,
            row_key=row_key,
            operation=operation,
            source_position=source_position,
            at=at,
            row=row,
        )

    def row(self, table: str, row_key: str) -> dict[str, Any] | None:
        return self.rows.get(row_id(table, row_key))

    def live_rows(self, table: str) -> dict[str, dict[str, Any]]:
        """The rows of ``table`` that exist (not deleted), by row key."""
        prefix = f"{table}/"
        return {
            key.removeprefix(prefix): row
            for key, row in self.rows.items()
            if key.startswith(prefix) and row is not None
        }
