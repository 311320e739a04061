"""Fast reading of the event store's notification log for projections.

Projections read thousands of events per batch, so the hot participation events are
decoded straight from their stored JSON (orjson) instead of through the mapper; any
event whose stored state needs upcasting (``class_version`` present) goes through the
application's mapper, so old events still arrive in today's shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import Notification
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import get_topic

from domain.experiments.aggregate import Experiment
from domain.participation.aggregate import Participation
from infrastructure.application import NeonBlue

ENROLLED = get_topic(Participation.Enrolled)
EXPOSED = get_topic(Participation.Exposed)
METRIC_RECORDED = get_topic(Participation.MetricRecorded)
VARIANT_MISMATCH = get_topic(Participation.VariantMismatch)
PARTICIPATION_TOPICS = (ENROLLED, EXPOSED, METRIC_RECORDED, VARIANT_MISMATCH)
EXPERIMENT_TOPICS = tuple(
    get_topic(cls)
    for cls in (
        Experiment.Created,
        Experiment.DetailsChanged,
        Experiment.VariantAdded,
        Experiment.VariantRemoved,
        Experiment.MetricAdded,
        Experiment.MetricRemoved,
        Experiment.TrafficChanged,
        Experiment.Started,
        Experiment.Paused,
        Experiment.Resumed,
        Experiment.Stopped,
        Experiment.NoteAdded,
        Experiment.Concluded,
    )
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(slots=True)
class LogEvent:
    """One notification: position, aggregate, version, topic and its decoded fields.

    Datetime fields stay ISO strings (see :func:`micros`); ``data`` never holds the
    envelope keys ``originator_id``/``originator_version``.
    """

    position: int
    originator_id: str
    version: int
    topic: str
    data: dict[str, Any]


def micros(value: Any) -> int:
    """Microseconds since the epoch of an encoded or decoded datetime (0 for None)."""
    if value is None:
        return 0
    if isinstance(value, dict):
        value = value["_data_"]
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    delta = value - _EPOCH if value.tzinfo else value.replace(tzinfo=UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


class LogReader:
    """Reads batches of the application's notification log, decoded for projections."""

    def __init__(self, app: NeonBlue) -> None:
        self.app = app
        mapper = app.mapper
        self._plain = mapper.cipher is None and mapper.compressor is None

    def head(self) -> int:
        return self.app.head()

    def read(
        self, start: int, limit: int, topics: Sequence[str] = (), stop: int | None = None
    ) -> list[LogEvent]:
        """Events with positions >= ``start`` (and <= ``stop``), at most ``limit``."""
        recorder = self.app.recorder
        if isinstance(recorder, SQLiteApplicationRecorder | PostgresApplicationRecorder):
            rows = _select_rows(recorder, start, limit, topics, stop)
        else:
            rows = [
                (n.id, str(n.originator_id), n.originator_version, n.topic, n.state)
                for n in recorder.select_notifications(
                    start=start, limit=limit, stop=stop, topics=topics
                )
            ]
        decode = self.decode
        return [decode(*row) for row in rows]

    def decode(
        self, position: int, originator_id: str, version: int, topic: str, state: bytes
    ) -> LogEvent:
        if self._plain and b'"class_version"' not in state:
            data = orjson.loads(state)
        else:
            notification = Notification(
                id=position,
                originator_id=UUID(originator_id),
                originator_version=version,
                topic=topic,
                state=state,
            )
            event = self.app.mapper.to_domain_event(notification)
            data = {
                k: v
                for k, v in vars(event).items()
                if k not in ("originator_id", "originator_version")
            }
        return LogEvent(position, originator_id, version, topic, data)

    def timestamp_after(self, position: int) -> datetime | None:
        """When the first event after ``position`` was recorded (None when caught up)."""
        found = self.read(position + 1, 1)
        if not found:
            return None
        stamp = found[0].data.get("timestamp")
        return datetime.fromisoformat(stamp["_data_"]) if isinstance(stamp, dict) else stamp


def _select_rows(
    recorder: SQLiteApplicationRecorder | PostgresApplicationRecorder,
    start: int,
    limit: int,
    topics: Sequence[str],
    stop: int | None,
) -> list[tuple[Any, ...]]:
    """The recorder's own table read without building Notification objects (2x faster)."""
    where = ["{id} >= %s"]
    params: list[Any] = [start]
    if stop is not None:
        where.append("{id} <= %s")
        params.append(stop)
    if isinstance(recorder, SQLiteApplicationRecorder):
        if topics:
            where.append(f"topic IN ({', '.join('%s' for _ in topics)})")
            params += list(topics)
        sql = (
            (
                f"SELECT rowid, originator_id, originator_version, topic, state "
                f"FROM {recorder.events_table_name} WHERE {' AND '.join(where)} "
                "ORDER BY rowid LIMIT %s"
            )
            .replace("{id}", "rowid")
            .replace("%s", "?")
        )
        with recorder.datastore.transaction(commit=False) as cursor:
            raw = getattr(cursor, "sqlite_cursor", cursor)
            raw.row_factory = None  # plain tuples: sqlite3.Row costs more than the read
            raw.execute(sql, [*params, limit])
            return raw.fetchall()
    from psycopg.rows import tuple_row

    if topics:
        where.append("topic = ANY(%s)")
        params.append(list(topics))
    table = f'"{recorder.datastore.schema}"."{recorder.events_table_name}"'
    sql = (
        "SELECT notification_id, originator_id::text, originator_version, topic, state "
        f"FROM {table} WHERE {' AND '.join(where)} ORDER BY notification_id LIMIT %s"
    ).replace("{id}", "notification_id")
    with (
        recorder.datastore.get_connection() as connection,
        connection.cursor(row_factory=tuple_row) as cursor,
    ):
        cursor.execute(sql, [*params, limit])  # type: ignore[arg-type]
        return cursor.fetchall()
