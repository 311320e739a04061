"""All read models of one deployment, built from settings and connected on first use."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from infrastructure.application import NeonBlue
from infrastructure.settings import ClickHouseSettings, ConfigurationError, EventStoreSettings
from projections.log import LogReader
from projections.rebuild import Rebuildable
from projections.runner import ProjectionRunner, ProjectionStatus


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

    def runner(self, name: str, batch_size: int = 5000) -> ProjectionRunner:
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
    models = ReadModels(app, ClickHouseSettings())

    def relational() -> Rebuildable:
        from projections.relational.model import RelationalModel

        model = RelationalModel(app, event_store)
        models.on_close(model.close)
        return model

    models.add("relational", relational)
    return models
