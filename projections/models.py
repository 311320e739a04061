"""All read models of one deployment, built from settings and connected on first use."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from infrastructure.application import NeonBlue
from infrastructure.log_statistics import ReplayedSums
from infrastructure.settings import (
    ChromaSettings,
    ClickHouseSettings,
    ConfigurationError,
    EventStoreSettings,
)
from projections.log import LogReader
from projections.rebuild import Rebuildable
from projections.runner import DEFAULT_BATCH, ProjectionRunner, ProjectionStatus


class UnknownProjection(ConfigurationError):
    """A projection name that does not exist."""


class ReadModels:
    """The analytics (ClickHouse), relational (SQL) and knowledge (Chroma) read models."""

    def __init__(self, app: NeonBlue, clickhouse: ClickHouseSettings | None = None) -> None:
        self.app = app
        self.clickhouse_settings = clickhouse or ClickHouseSettings()
        self.reader = LogReader(app)
        self._models: dict[str, Any] = {}
        self._closers: list[Callable[[], None]] = []
        self._factories: dict[str, Callable[[], Rebuildable]] = {"analytics": self._analytics}
        self.analytics_unavailable = False
        self.replayed = ReplayedSums(app)  # results from the log when chDB is held elsewhere

    @property
    def names(self) -> list[str]:
        return list(self._factories)

    def add(self, name: str, factory: Callable[[], Rebuildable]) -> None:
        """Registers another read model (built lazily by ``factory``)."""
        self._factories[name] = factory

    def on_close(self, close: Callable[[], None]) -> None:
        self._closers.append(close)

    def model(self, name: str) -> Rebuildable:
        if name not in self._factories:
            raise UnknownProjection(
                f"No projection named {name!r}; choose from {', '.join(self.names)}."
            )
        if name not in self._models:
            self._models[name] = self._factories[name]()
        return self._models[name]

    def analytics(self) -> Any:
        """The :class:`AnalyticsModel` (chDB or a ClickHouse server)."""
        return self.model("analytics")

    def runner(self, name: str, batch_size: int = DEFAULT_BATCH) -> ProjectionRunner:
        return ProjectionRunner(self.reader, self.model(name).projection(), batch_size)

    def status(self, names: list[str] | None = None) -> list[ProjectionStatus]:
        return [self.runner(name).status() for name in names or self.names]

    def close(self) -> None:
        for close in reversed(self._closers):
            close()
        self._closers.clear()
        self._models.clear()

    def _analytics(self) -> Rebuildable:
        from projections.analytics.client import connect_clickhouse
        from projections.analytics.model import AnalyticsModel

        client = connect_clickhouse(self.clickhouse_settings)
        self._closers.append(client.close)
        return AnalyticsModel(self.app, client, self.clickhouse_settings.clickhouse_database)


def build_read_models(app: NeonBlue, event_store: EventStoreSettings) -> ReadModels:
    """Every read model configured by the NEONBLUE_* environment."""
    # embedded stores live next to the event store's data directory
    models = ReadModels(app, ClickHouseSettings(data_dir=event_store.data_dir))

    def relational() -> Rebuildable:
        from projections.relational.model import RelationalModel

        model = RelationalModel(app, event_store)
        models.on_close(model.close)
        return model

    def knowledge() -> Rebuildable:
        from infrastructure.embeddings import build_embedder
        from projections.knowledge.model import KnowledgeModel, chroma_client

        settings = ChromaSettings(data_dir=event_store.data_dir)
        return KnowledgeModel(
            app,
            chroma_client(settings),
            build_embedder(),
            settings.chroma_collection,
            results=lambda experiment: results_summary(models, experiment),
        )

    models.add("relational", relational)
    models.add("knowledge", knowledge)
    return models


def results_summary(models: ReadModels, experiment: Any) -> dict[str, Any] | None:
    """The primary metric's latest result from the analytics model, for the knowledge base."""
    if str(experiment.status) == "draft":
        return None
    from projections.analytics.client import ClickHouseUnavailable

    try:
        if models.analytics_unavailable:
            raise ClickHouseUnavailable("known to be held by another process")
        card = models.analytics().scorecard(experiment)
    except ClickHouseUnavailable:
        # embedded chDB is held by another process (e.g. the ClickHouse MCP server): compute
        # the same scorecard from the event log instead (exact, slower; one replay per head)
        from domain.analysis import build_scorecard

        models.analytics_unavailable = True
        card = build_scorecard(experiment, models.replayed.of(experiment.key))
    rows = card.primary()
    if not rows or card.total_users == 0:
        return None
    row = rows[0]
    lift = 0.0 if math.isnan(row.lift) else row.lift
    p_value = 1.0 if row.p_value is None or math.isnan(row.p_value) else row.p_value
    verdict = "significant" if row.significant else "not significant"
    return {
        "lift": lift,
        "p_value": p_value,
        "significant": bool(row.significant),
        "users": card.total_users,
        "summary": f"{row.metric}: {row.variant} vs {card.control} lift {lift:+.1%}, "
        f"p={p_value:.3g}, {verdict}, {card.total_users} users",
    }
