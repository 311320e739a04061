"""The analytics read model as a whole: which database is live, fresh copies, the switch.

Each build of the model lives in its own database ``<prefix>_analytics_<generation>``;
``<prefix>_meta.registry`` names the live one and ``<prefix>_meta.builds`` the process
building each copy. A rebuild fills a new generation while the live one keeps serving,
then one registry insert switches readers atomically; the previous database is dropped
afterwards (`collect`), so a kill in between leaves a leftover that `status` lists and
`gc` (or the next switch) removes. A live projection checks the registry before each
batch and moves to the new database when it changed.
"""

from __future__ import annotations

import re
import time
from datetime import datetime

from domain.analysis import DEFAULT_PLANNED_DAYS, Scorecard
from domain.experiments.aggregate import Experiment
from domain.statistics import AnalysisOptions
from infrastructure.application import NeonBlue
from projections.analytics.client import ClickHouseClient
from projections.analytics.projection import NAME, AnalyticsProjection
from projections.analytics.queries import experiment_scorecard
from projections.analytics.schema import BUILDS, REGISTRY
from projections.generations import (
    BUILDING,
    LIVE,
    RETIRED,
    Generation,
    GenerationChanged,
    crash_point,
    owner,
)
from projections.writer_lock import writer_lock


class AnalyticsModel:
    """Live analytics projection, rebuild copies and queries, for one ClickHouse."""

    name = NAME

    def __init__(self, app: NeonBlue, client: ClickHouseClient, prefix: str = "neonblue") -> None:
        self.app = app
        self.client = client
        self.prefix = prefix
        self.meta = f"{prefix}_meta"
        self._ready = False
        self._checked: set[str] = set()

    def _setup_meta(self) -> None:
        if not self._ready:
            self.client.command(f"CREATE DATABASE IF NOT EXISTS {self.meta}")
            self.client.command(REGISTRY.format(meta=self.meta))
            self.client.command(BUILDS.format(meta=self.meta))
            self._ready = True

    def live_database(self) -> str:
        """The database readers use now (created as generation 1 on first use)."""
        self._setup_meta()
        rows = self.client.rows(
            f"SELECT argMax(database, switched_at_us), count() FROM {self.meta}.registry "
            "WHERE name = {n:String}",
            {"n": NAME},
        )
        if rows and rows[0][1]:
            live = str(rows[0][0])
            if self._current_layout(live):
                return live
            # written by an older layout (float sums): a new generation replaces it and the
            # live projection catches it up from the log
            database = self._database(max(self._number(live), *self._numbers()) + 1)
            AnalyticsProjection(self.app, self.client, database).setup()
            self._register(database)
            self.collect()
            return database
        database = self._database(1)
        AnalyticsProjection(self.app, self.client, database).setup()
        self._register(database)
        return database

    def projection(self) -> AnalyticsProjection:
        """The live projection (tables created if missing); it follows switches."""
        projection = AnalyticsProjection(
            self.app, self.client, self.live_database(), self._locate_live
        )
        projection.setup()
        return projection

    def fresh_copy(self) -> AnalyticsProjection:
        """An empty projection in a new generation's database."""
        with writer_lock(self.app, f"{NAME}:generations"):  # rebuilds starting together
            live = self.live_database()  # would pick one number, the second dropping the first
            numbers = [self._number(live), *self._numbers(), *self._built_numbers()]
            database = self._database(max(numbers) + 1)
            self.client.insert(
                self.meta,
                "builds",
                {"database": [database], "owner": [owner()], "started_at_us": [_now_us()]},
            )
        crash_point(NAME, "registered")
        self.client.command(f"DROP DATABASE IF EXISTS {database}")
        projection = AnalyticsProjection(self.app, self.client, database)
        projection.setup()
        return projection

    def switch(self, projection: AnalyticsProjection) -> str:
        """Makes ``projection`` live (one registry insert), then drops leftovers; returns
        the previous live database."""
        old = self.live_database()
        crash_point(NAME, "before-switch")
        self._register(projection.database)
        projection.locate = self._locate_live
        crash_point(NAME, "switched")
        self.collect()
        return old

    def generations(self) -> list[Generation]:
        """The live database, copies being built and leftovers, with their sizes."""
        live = self.live_database()
        sizes = dict(
            self.client.rows(
                "SELECT database, sum(bytes_on_disk) FROM system.parts WHERE active "
                "AND database LIKE {p:String} GROUP BY database",
                {"p": f"{self.prefix}\\_analytics\\_%"},
            )
        )
        owners = dict(
            self.client.rows(
                f"SELECT database, argMax(owner, started_at_us) FROM {self.meta}.builds "
                "GROUP BY database"
            )
        )
        were_live = {
            name
            for (name,) in self.client.rows(
                f"SELECT DISTINCT database FROM {self.meta}.registry WHERE name = {{n:String}}",
                {"n": NAME},
            )
        }
        found = []
        for number in sorted(self._numbers()):
            database = self._database(number)
            if database == live:
                state = LIVE
            elif database in were_live:
                state = RETIRED
            else:
                state = BUILDING if database in owners else "orphan"
            size = int(sizes.get(database, 0) or 0)
            found.append(Generation(NAME, database, state, size, owners.get(database, "")))
        return found

    def collect(self, force: bool = False) -> list[Generation]:
        """Drops every database that is neither live nor being built by a running process
        (``force``: copies being built too); returns what it dropped."""
        removed = []
        for generation in self.generations():
            if generation.state != LIVE and (force or generation.leftover):
                self.client.command(f"DROP DATABASE IF EXISTS {generation.name}")
                removed.append(generation)
                crash_point(NAME, "collected-one")
        return removed

    def scorecard(
        self,
        experiment: Experiment,
        options: AnalysisOptions | None = None,
        cuped: bool = True,
        as_of: datetime | None = None,
        planned_days: float = DEFAULT_PLANNED_DAYS,
    ) -> Scorecard:
        database = self.live_database()
        try:
            return experiment_scorecard(
                self.client, database, experiment, options, cuped, as_of, planned_days
            )
        except Exception:
            if self.live_database() == database:
                raise
            # switched (and the old database dropped) while reading: ask the live one
            return experiment_scorecard(
                self.client, self.live_database(), experiment, options, cuped, as_of, planned_days
            )

    def _database(self, generation: int) -> str:
        return f"{self.prefix}_analytics_{generation}"

    def _current_layout(self, database: str) -> bool:
        """Whether ``database`` has today's tables (checked once per model object)."""
        if database in self._checked:
            return True
        found = self.client.rows(
            "SELECT count() FROM system.columns WHERE database = {d:String} "
            "AND table = 'user_metrics' AND name = 'post_micros'",
            {"d": database},
        )
        tables = self.client.rows(
            "SELECT count() FROM system.tables WHERE database = {d:String}", {"d": database}
        )
        current = bool(found and found[0][0]) or not (tables and tables[0][0])
        if current:
            self._checked.add(database)
        return current

    @staticmethod
    def _number(database: str) -> int:
        return int(database.rsplit("_", 1)[-1])

    def _numbers(self) -> list[int]:
        """Generation numbers of the databases that exist."""
        pattern = re.compile(rf"{re.escape(self.prefix)}_analytics_(\d+)")
        rows = self.client.rows("SELECT name FROM system.databases")
        return [int(m.group(1)) for (name,) in rows if (m := pattern.fullmatch(name))]

    def _built_numbers(self) -> list[int]:
        rows = self.client.rows(f"SELECT database FROM {self.meta}.builds")
        return [self._number(name) for (name,) in rows]

    def _locate_live(self, projection: AnalyticsProjection) -> None:
        """Before each batch of a live projection: moves it to the live database when a
        rebuild switched (raising `GenerationChanged`, nothing written)."""
        live = self.live_database()
        if live != projection.database:
            projection.database = live
            projection.forget_position()
            raise GenerationChanged(f"{NAME}: now {live}")

    def _register(self, database: str) -> None:
        self.client.insert(
            self.meta,
            "registry",
            {"name": [NAME], "database": [database], "switched_at_us": [_now_us()]},
        )


def _now_us() -> int:
    return time.time_ns() // 1000
