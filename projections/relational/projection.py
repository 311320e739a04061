"""The relational projection: experiments, variants, metrics, assignments, users, daily counts.

Each batch's rows and the new position commit in one transaction (PostgreSQL or
SQLite), so a killed runner resumes exactly where the last commit left off. Inside that
transaction, before writing, the projection checks that its generation is still current
and that nobody else moved its position (another process following the log, a rebuild's
verify): otherwise it writes nothing, re-targets and raises `GenerationChanged`, and the
runner resumes from the stored position.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from domain.experiments.aggregate import Experiment
from infrastructure.application import NeonBlue
from infrastructure.log_statistics import micros
from projections.generations import GenerationChanged
from projections.log import (
    ENROLLED,
    EXPOSED,
    METRIC_RECORDED,
    VARIANT_MISMATCH,
    LogEvent,
    erasures,
)
from projections.relational.schema import ORDER, TABLES, VERSION, create_statements

NAME = "relational"
SCHEMA_KEY = "relational.schema_version"  # a row of projection_positions
PARTICIPANT_TOPICS = (EXPOSED, METRIC_RECORDED, VARIANT_MISMATCH)


class SqlConnection:
    """A psycopg or sqlite3 connection behind one qmark-style interface."""

    def __init__(self, connection: Any, postgres: bool) -> None:
        self.connection = connection
        self.postgres = postgres

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.postgres else sql

    def execute(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> None:
        self.connection.execute(self._sql(sql), params)

    def executemany(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            self.connection.cursor().executemany(self._sql(sql), rows)

    def rows(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> list[tuple[Any, ...]]:
        return list(self.connection.execute(self._sql(sql), params).fetchall())

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self.postgres:
            with self.connection.transaction():
                yield
            return
        if self.connection.in_transaction:  # left open by an interrupt (Ctrl-C) mid-way
            self.connection.execute("ROLLBACK")
        self.connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.connection.execute("ROLLBACK")
            raise
        self.connection.execute("COMMIT")

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads inside see one committed state (a read transaction)."""
        if self.postgres:
            with self.connection.transaction():
                self.connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                yield
            return
        if self.connection.in_transaction:  # left open by an interrupt (Ctrl-C) mid-way
            self.connection.execute("ROLLBACK")
        self.connection.execute("BEGIN")
        try:
            yield
        finally:
            self.connection.execute("COMMIT")

    def close(self) -> None:
        self.connection.close()


class RelationalProjection:
    """Writes the relational read model into tables prefixed by ``prefix``."""

    name = NAME
    topics: tuple[str, ...] = ()

    def __init__(
        self,
        app: NeonBlue,
        db: SqlConnection,
        prefix: str = "",
        locate: Callable[[RelationalProjection], str] | None = None,
    ) -> None:
        self.app = app
        self.db = db
        self.prefix = prefix
        self.locate = locate
        """Called inside each transaction: the prefix this projection must write to now
        (its generation's, or the live one's after a switch); raises `GenerationChanged`
        when there is none."""
        self._users: dict[str, tuple[str, str, str | None, bool]] = {}
        self._expected: int | None = None  # the stored position this writer last saw
        self.generation: int | None = None  # set on copies being built

    def setup(self) -> None:
        """Creates the tables; a model written by another schema version is dropped first
        (read models are disposable: it is rebuilt from the log)."""
        with self.db.transaction():
            if self.locate is not None:
                self.prefix = self.locate(self)
            self.create(in_transaction=True)

    def create(self, in_transaction: bool) -> None:
        """`setup`'s work, inside the caller's transaction."""
        assert in_transaction
        for statement in create_statements(self.prefix):
            self.db.execute(statement)
        stored = self.db.rows(
            f"SELECT position FROM {self.prefix}projection_positions WHERE name = ?",
            (SCHEMA_KEY,),
        )
        if stored and int(stored[0][0]) == VERSION:
            return
        for table in TABLES:
            self.db.execute(f"DROP TABLE IF EXISTS {self.prefix}{table}")
        for statement in create_statements(self.prefix):
            self.db.execute(statement)
        self.db.execute(
            f"INSERT INTO {self.prefix}projection_positions VALUES (?, ?)",
            (SCHEMA_KEY, VERSION),
        )

    def position(self) -> int:
        with self.db.snapshot():
            self._follow_generation()
            self._expected = self._stored_position()
        return self._expected

    def _stored_position(self) -> int:
        found = self.db.rows(
            f"SELECT position FROM {self.prefix}projection_positions WHERE name = ?", (NAME,)
        )
        return int(found[0][0]) if found else 0

    def _lock_copy(self) -> None:
        """Writers of one copy take turns (PostgreSQL): at READ COMMITTED two of them would
        both read the same position and both write the batch (the second failing on a
        duplicate key, or double counting). The schema-version row exists in every copy;
        locking it until commit makes the next writer read the position this one stored.
        SQLite's BEGIN IMMEDIATE already serialises writers."""
        if self.db.postgres:
            self.db.execute(
                f"SELECT 1 FROM {self.prefix}projection_positions WHERE name = ? FOR UPDATE",
                (SCHEMA_KEY,),
            )

    def _follow_generation(self) -> bool:
        """Moves to the prefix `locate` names; True when it changed."""
        if self.locate is None:
            return False
        prefix = self.locate(self)
        if prefix == self.prefix:
            return False
        self.prefix = prefix
        self._users.clear()  # derived from the other generation's position
        return True

    def process(self, events: list[LogEvent], position: int) -> None:
        try:
            with self.db.transaction():
                moved = self._follow_generation()
                self._lock_copy()
                stored = self._stored_position()
                if moved or (self._expected is not None and stored != self._expected):
                    self._expected = None
                    raise GenerationChanged(f"{NAME}: moved on under this writer")
                self._process(events, position)
        except BaseException:
            self._users.clear()  # the cache may hold rows that were rolled back
            raise
        self._expected = position

    def _process(self, events: list[LogEvent], position: int) -> None:
        p = self.prefix
        self._load([e.originator_id for e in events if e.topic in PARTICIPANT_TOPICS])
        experiments: dict[str, int] = {}
        new_assignments: list[tuple[Any, ...]] = []
        exposures: dict[str, list[Any]] = {}
        metric_counts: dict[str, int] = defaultdict(int)
        values: dict[tuple[str, str], list[int]] = {}  # (pid, metric) -> [micros, events]
        mismatched: set[str] = set()
        users: dict[str, list[Any]] = {}
        daily: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
        for event in events:
            data, pid = event.data, event.originator_id
            if event.topic.startswith("domain.experiments"):
                experiments[pid] = event.version
            elif event.topic == ENROLLED:
                at = data["at"]["_data_"] if isinstance(data["at"], dict) else str(data["at"])
                key, user, variant = data["experiment_key"], data["user_id"], data["variant"]
                self._users[pid] = (key, user, variant, False)
                new_assignments.append((pid, key, user, variant, data["source"], at))
                seen = users.setdefault(user, [at, 0])
                seen[0], seen[1] = min(seen[0], at), seen[1] + 1
                daily[(key, at[:10], variant or "")][0] += 1
            elif pid in self._users and event.topic in PARTICIPANT_TOPICS:
                key, user, variant, exposed = self._users[pid]
                if event.topic == VARIANT_MISMATCH:
                    mismatched.add(pid)
                    continue
                at = data["at"]["_data_"] if isinstance(data["at"], dict) else str(data["at"])
                if event.topic == METRIC_RECORDED:
                    metric_counts[pid] += 1
                    daily[(key, at[:10], variant or "")][2] += 1
                    if data["excluded"] is None:
                        total = values.setdefault((pid, data["metric"]), [0, 0])
                        total[0] += micros(data["value"])
                        total[1] += 1
                    continue
                entry = exposures.setdefault(pid, [0, None])
                entry[0] += 1
                if not exposed:
                    entry[1] = at
                    self._users[pid] = (key, user, variant, True)
                    daily[(key, at[:10], variant or "")][1] += 1
        for experiment_id, version in experiments.items():
            self._write_experiment(self.app.repository.get(UUID(experiment_id), version=version))
        self.db.executemany(
            f"INSERT INTO {p}assignments VALUES (?, ?, ?, ?, ?, ?, NULL, 0, 0, 0)", new_assignments
        )
        self.db.executemany(
            f"UPDATE {p}assignments SET exposures = exposures + ?, "
            "first_exposed_at = COALESCE(first_exposed_at, ?) WHERE participation_id = ?",
            [(n, first, pid) for pid, (n, first) in exposures.items()],
        )
        self.db.executemany(
            f"UPDATE {p}assignments SET metric_events = metric_events + ? "
            "WHERE participation_id = ?",
            [(n, pid) for pid, n in metric_counts.items()],
        )
        self.db.executemany(
            f"UPDATE {p}assignments SET mismatched = 1 WHERE participation_id = ?",
            [(pid,) for pid in sorted(mismatched)],
        )
        self.db.executemany(
            f"INSERT INTO {p}user_metrics AS m VALUES (?, ?, ?, ?) "
            "ON CONFLICT (participation_id, metric) DO UPDATE SET "
            "value_micros = m.value_micros + excluded.value_micros, "
            "events = m.events + excluded.events",
            [(pid, metric, total, n) for (pid, metric), (total, n) in values.items()],
        )
        self.db.executemany(
            f"INSERT INTO {p}users AS u VALUES (?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET "
            "experiments = u.experiments + excluded.experiments, first_seen_at = CASE WHEN "
            "excluded.first_seen_at < u.first_seen_at THEN excluded.first_seen_at "
            "ELSE u.first_seen_at END",
            [(user, first, n) for user, (first, n) in users.items()],
        )
        self.db.executemany(
            f"INSERT INTO {p}daily_participation AS d VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (experiment_id, day, variant) DO UPDATE SET "
            "enrolled = d.enrolled + excluded.enrolled, exposed = d.exposed + excluded.exposed, "
            "metric_events = d.metric_events + excluded.metric_events",
            [(k, day, v, *counts) for (k, day, v), counts in daily.items()],
        )
        for subject, anonymous in erasures(events):
            self._anonymise(subject, anonymous)
        self.db.execute(
            f"INSERT INTO {p}projection_positions VALUES (?, ?) ON CONFLICT (name) "
            "DO UPDATE SET position = excluded.position",
            (NAME, position),
        )

    def _anonymise(self, subject: str, anonymous: str) -> None:
        """A forgotten subject's rows keep counting, under an anonymous id (README, Privacy)."""
        p = self.prefix
        self.db.execute(
            f"UPDATE {p}assignments SET user_id = ? WHERE user_id = ?", (anonymous, subject)
        )
        found = self.db.rows(
            f"SELECT first_seen_at, experiments FROM {p}users WHERE user_id = ?", (subject,)
        )
        self.db.execute(f"DELETE FROM {p}users WHERE user_id = ?", (subject,))
        if found:
            self.db.execute(f"INSERT INTO {p}users VALUES (?, ?, ?)", (anonymous, *found[0]))
        for pid, (key, user, variant, exposed) in list(self._users.items()):
            if user == subject:
                self._users[pid] = (key, anonymous, variant, exposed)

    def _load(self, pids: list[str]) -> None:
        """Participations not in memory, read back from ``assignments`` (after a restart)."""
        missing = sorted({pid for pid in pids if pid not in self._users})
        for start in range(0, len(missing), 500):
            chunk = missing[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            for pid, key, user, variant, first in self.db.rows(
                f"SELECT participation_id, experiment_id, user_id, variant, first_exposed_at "
                f"FROM {self.prefix}assignments WHERE participation_id IN ({marks})",
                chunk,
            ):
                self._users[pid] = (key, user, variant, first is not None)

    def _write_experiment(self, experiment: Experiment) -> None:
        p, key = self.prefix, experiment.key
        conclusion = experiment.conclusion
        self.db.execute(
            f"INSERT INTO {p}experiments VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET name = excluded.name, hypothesis = "
            "excluded.hypothesis, description = excluded.description, owner = excluded.owner, "
            "tags = excluded.tags, status = excluded.status, coverage = excluded.coverage, "
            "started_at = excluded.started_at, stopped_at = excluded.stopped_at, "
            "decision = excluded.decision, winner = excluded.winner, version = excluded.version",
            (
                key,
                str(experiment.id),
                experiment.name,
                experiment.hypothesis,
                experiment.description,
                experiment.owner,
                json.dumps(experiment.tags),
                str(experiment.status),
                experiment.coverage,
                experiment.started_at.isoformat() if experiment.started_at else None,
                experiment.stopped_at.isoformat() if experiment.stopped_at else None,
                str(conclusion.decision) if conclusion else None,
                conclusion.winner if conclusion else None,
                experiment.version,
            ),
        )
        self.db.execute(f"DELETE FROM {p}variants WHERE experiment_id = ?", (key,))
        self.db.executemany(
            f"INSERT INTO {p}variants VALUES (?, ?, ?, ?, ?)",
            [(key, v.key, v.name, v.weight, i) for i, v in enumerate(experiment.variants)],
        )
        self.db.execute(f"DELETE FROM {p}metrics WHERE experiment_id = ?", (key,))
        self.db.executemany(
            f"INSERT INTO {p}metrics VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (key, m.key, str(m.role), str(m.kind), m.numerator, m.denominator, *_flags(m))
                for m in experiment.metrics
            ],
        )

    def checksum(self) -> dict[str, str]:
        sums = {}
        with self.db.snapshot():
            self._follow_generation()
            for table, order in ORDER.items():
                rows = self.db.rows(f"SELECT * FROM {self.prefix}{table} ORDER BY {order}")
                digest = hashlib.sha256(repr(rows).encode()).hexdigest()[:16]
                sums[table] = f"{len(rows)}:{digest}"
        return sums


def _flags(metric: Any) -> tuple[bool, float | None]:
    return metric.higher_is_better, metric.margin
