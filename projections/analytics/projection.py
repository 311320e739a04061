"""The ClickHouse analytics projection: log events -> exposures, metric events, per-user sums.

Each batch's participation events go to ClickHouse as stored (JSON) and are folded there
(`projections.analytics.fold`); experiment events are few and are read through the
application. ``user_metrics`` rows are versioned by the last position folded in, so a
batch replayed after a crash (rows written, position not) changes nothing.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from domain.experiments.aggregate import Experiment
from infrastructure.application import NeonBlue
from projections.analytics import fold
from projections.analytics.client import ClickHouseClient, Prepared
from projections.analytics.schema import TABLES, checksum_query, create_statements
from projections.generations import GenerationChanged
from projections.log import (
    ENROLLED,
    EXPERIMENT_TOPICS,
    EXPOSED,
    METRIC_RECORDED,
    PARTICIPATION_TOPICS,
    LogBatch,
    LogEvent,
    erasures,
    micros,
)
from projections.writer_lock import sole_writer

NAME = "analytics"
PARTICIPATION = set(PARTICIPATION_TOPICS)
EXPERIMENTS = set(EXPERIMENT_TOPICS)
ANONYMISED = ("assignments", "exposures", "metric_events", "user_metrics")
_NEEDS = {  # statement -> the topics that give it something to do
    fold.ASSIGNMENTS: {ENROLLED},
    fold.NEW_USERS: {ENROLLED},
    fold.EXPOSURES: {EXPOSED},
    fold.METRIC_EVENTS: {METRIC_RECORDED},
}


class AnalyticsProjection:
    """Projects the log into the analytics tables of database ``database``."""

    name = NAME
    topics: tuple[str, ...] = ()

    def __init__(
        self,
        app: NeonBlue,
        client: ClickHouseClient,
        database: str,
        locate: Callable[[AnalyticsProjection], None] | None = None,
    ) -> None:
        self.app = app
        self.client = client
        self.database = database
        self.locate = locate
        """Called before each batch; moves a live projection to the live database after a
        switch (raising `GenerationChanged`)."""
        self._position: int | None = None
        self._located = 0.0

    def forget_position(self) -> None:
        self._position = None

    # -- contract ---------------------------------------------------------------------------

    def setup(self) -> None:
        for statement in (*create_statements(self.database), *fold.BATCH_TABLES):
            self.client.command(fold.render(statement, self.database))

    def position(self) -> int:
        self._follow_switch()
        if self._position is None:
            try:
                self._position = self._stored_position()
            except Exception:
                if self.locate is None:
                    raise
                self._follow_switch(force=True)  # its database was dropped by a switch
                self._position = self._stored_position()
        return self._position

    def _stored_position(self) -> int:
        rows = self.client.rows(
            f"SELECT max(position) FROM {self.database}.state WHERE name = {{n:String}}",
            {"n": NAME},
        )
        return int(rows[0][0] or 0) if rows else 0

    def prepare(self, events: LogBatch) -> None:
        """Called in the runner's read-ahead thread (see `PreparesBatches`)."""
        events.prepared = self._batch(events)

    def _follow_switch(self, force: bool = False) -> None:
        """A live projection moves to the live copy when a rebuild switched (looked up at
        most once a second: a registry query costs about as much as a small batch; a batch
        that lands in a dropped copy fails and moves it too)."""
        if self.locate is not None and (force or time.monotonic() - self._located >= 1.0):
            self._located = time.monotonic()
            with contextlib.suppress(GenerationChanged):
                self.locate(self)

    def process(self, events: Sequence[LogEvent], position: int) -> None:
        # one writer per database at a time: the batch tables are the database's
        with sole_writer(
            self.app, f"{NAME}:{self.database}", self._position, self._stored_position,
            self.forget_position, self._relocate,
        ):  # fmt: skip
            self._process(events, position)

    def _relocate(self) -> None:
        if self.locate is not None:
            self.locate(self)

    def _process(self, events: Sequence[LogEvent], position: int) -> None:
        batch = getattr(events, "prepared", None)
        if batch is None or batch.database != self.database:
            batch = self._batch(events)
        if batch.insert is not None:
            self._fold(batch.insert, batch.topics)
        experiments: dict[str, tuple[int, int]] = {}
        if batch.topics & EXPERIMENTS:
            positions, ids, versions, topics, _ = batch.columns
            for i, topic in enumerate(topics):
                if topic in EXPERIMENTS:
                    experiments[ids[i]] = (versions[i], positions[i])
        self._write("experiments", self._experiment_rows(experiments))
        self._anonymise(erasures(events))
        self.client.insert(
            self.database,
            "state",
            {"name": [NAME], "position": [position], "updated_at_us": [time.time_ns() // 1000]},
        )
        self._position = position

    def checksum(self) -> dict[str, str]:
        self._follow_switch(force=True)
        sums = {}
        for table in TABLES:
            if table == "state":
                continue
            count, digest = self.client.rows(checksum_query(self.database, table))[0]
            sums[table] = f"{count}:{digest}"
        return sums

    # -- helpers ----------------------------------------------------------------------------

    def _batch(self, events: Sequence[LogEvent]) -> _Batch:
        columns = _columns(events)
        positions, ids, _, topics, states = columns
        present = set(topics)
        insert = None
        if present & PARTICIPATION:  # other rows go along; the fold's statements skip them
            insert = self.client.prepare(
                self.database,
                "batch_events",
                {"position": positions, "participation_id": ids, "topic": topics, "state": states},
            )
        return _Batch(columns, present, insert, self.database)

    def _fold(self, insert: Prepared, present: set[str]) -> None:
        """Folds the batch's participation events in ClickHouse (see `fold`)."""
        db = self.database
        for statement in fold.RESET:
            self.client.command(fold.render(statement, db))
        self.client.insert_prepared(insert)
        for statement in fold.STATEMENTS:
            if present & _NEEDS.get(statement, present):
                self.client.command(fold.render(statement, db), fold.PARAMS)

    def _anonymise(self, forgotten: list[tuple[str, str]]) -> None:
        """A forgotten subject's rows keep counting, under an anonymous id (README, Privacy);
        the batch tables, which may hold its pseudonym, are emptied."""
        if not forgotten:
            return
        db = self.database
        # pseudonyms and anonymous ids hold no comma (hex, "erased-<n>"); both drivers bind
        # a String the same way, not every one binds a list
        params = {
            "subjects": ",".join(s for s, _ in forgotten),
            "ids": ",".join(a for _, a in forgotten),
        }
        subjects = "splitByChar(',', {subjects:String})"
        for table in ANONYMISED:  # one mutation per table for the whole batch's erasures
            self.client.command(
                f"ALTER TABLE {db}.{table} UPDATE user_id = transform(user_id, {subjects}, "
                f"splitByChar(',', {{ids:String}}), user_id) WHERE has({subjects}, user_id) "
                "SETTINGS mutations_sync = 2",
                params,
            )
        for statement in fold.RESET:
            self.client.command(fold.render(statement, db))

    def _write(self, table: str, columns: dict[str, list[Any]]) -> None:
        if columns:
            self.client.insert(self.database, table, columns)

    def _experiment_rows(self, experiments: dict[str, tuple[int, int]]) -> dict[str, list[Any]]:
        columns: dict[str, list[Any]] = defaultdict(list)
        for experiment_id, (version, position) in experiments.items():
            experiment: Experiment = self.app.repository.get(UUID(experiment_id), version=version)
            conclusion = experiment.conclusion
            row = {
                "experiment_key": experiment.key,
                "experiment_id": str(experiment.id),
                "name": experiment.name,
                "status": str(experiment.status),
                "hypothesis": experiment.hypothesis,
                "description": experiment.description,
                "tags": json.dumps(experiment.tags),
                "owner": experiment.owner,
                "control_variant": experiment.variants[0].key if experiment.variants else "",
                "variants": json.dumps([v.as_dict() for v in experiment.variants]),
                "metrics": json.dumps([m.as_dict() for m in experiment.metrics]),
                "started_at_us": micros(experiment.started_at),
                "stopped_at_us": micros(experiment.stopped_at),
                "decision": str(conclusion.decision) if conclusion else "",
                "winner": (conclusion.winner or "") if conclusion else "",
                "version": version,
                "position": position,
            }
            for key, value in row.items():
                columns[key].append(value)
        return columns


@dataclass(frozen=True)
class _Batch:
    columns: tuple[Sequence[Any], ...]
    topics: set[str]
    insert: Prepared | None
    database: str


def _columns(events: Sequence[LogEvent]) -> tuple[Sequence[Any], ...]:
    """(positions, originator ids, versions, topics, states) of a batch."""
    if isinstance(events, LogBatch):
        rows = events.rows
    else:
        rows = [(e.position, e.originator_id, e.version, e.topic, e.state) for e in events]
    return tuple(zip(*rows, strict=True)) if rows else ((),) * 5
