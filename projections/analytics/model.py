"""The analytics read model as a whole: which database is live, fresh copies, the switch.

Each build of the model lives in its own database ``<prefix>_analytics_<generation>``;
``<prefix>_meta.registry`` names the live one. A rebuild fills a new generation while
the live one keeps serving, then one registry insert switches readers atomically.
"""

from __future__ import annotations

import time
from datetime import datetime

from domain.analysis import DEFAULT_PLANNED_DAYS, Scorecard
from domain.experiments.aggregate import Experiment
from domain.statistics import AnalysisOptions
from infrastructure.application import NeonBlue
from projections.analytics.client import ClickHouseClient
from projections.analytics.projection import NAME, AnalyticsProjection
from projections.analytics.queries import experiment_scorecard
from projections.analytics.schema import REGISTRY


class AnalyticsModel:
    """Live analytics projection, rebuild copies and queries, for one ClickHouse."""

    name = NAME

    def __init__(self, app: NeonBlue, client: ClickHouseClient, prefix: str = "neonblue") -> None:
        self.app = app
        self.client = client
        self.prefix = prefix
        self.meta = f"{prefix}_meta"
        self._ready = False

    def _setup_meta(self) -> None:
        if not self._ready:
            self.client.command(f"CREATE DATABASE IF NOT EXISTS {self.meta}")
            self.client.command(REGISTRY.format(meta=self.meta))
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
            return str(rows[0][0])
        database = self._database(1)
        AnalyticsProjection(self.app, self.client, database).setup()
        self._register(database)
        return database

    def projection(self) -> AnalyticsProjection:
        """The live projection (tables created if missing)."""
        projection = AnalyticsProjection(self.app, self.client, self.live_database())
        projection.setup()
        return projection

    def fresh_copy(self) -> AnalyticsProjection:
        """An empty projection in the next generation's database."""
        live = self.live_database()
        generation = int(live.rsplit("_", 1)[-1]) + 1
        database = self._database(generation)
        self.client.command(f"DROP DATABASE IF EXISTS {database}")
        projection = AnalyticsProjection(self.app, self.client, database)
        projection.setup()
        return projection

    def switch(self, projection: AnalyticsProjection) -> str:
        """Makes ``projection`` live and drops the previous database; returns the old name."""
        old = self.live_database()
        self._register(projection.database)
        if old != projection.database:
            self.client.command(f"DROP DATABASE IF EXISTS {old}")
        return old

    def scorecard(
        self,
        experiment: Experiment,
        options: AnalysisOptions | None = None,
        cuped: bool = True,
        as_of: datetime | None = None,
        planned_days: float = DEFAULT_PLANNED_DAYS,
    ) -> Scorecard:
        database = self.live_database()
        return experiment_scorecard(
            self.client, database, experiment, options, cuped, as_of, planned_days
        )

    def _database(self, generation: int) -> str:
        return f"{self.prefix}_analytics_{generation}"

    def _register(self, database: str) -> None:
        self.client.insert(
            self.meta,
            "registry",
            {"name": [NAME], "database": [database], "switched_at_us": [time.time_ns() // 1000]},
        )
