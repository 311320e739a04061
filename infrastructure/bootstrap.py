"""The composition root: the only place where settings become wired objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from infrastructure.application import NeonBlue
from infrastructure.settings import EventStoreSettings

if TYPE_CHECKING:
    from projections.models import ReadModels


@dataclass
class Services:
    """Everything an entry point needs, built from settings."""

    event_store: EventStoreSettings
    app: NeonBlue
    _read_models: ReadModels | None = field(default=None, repr=False)

    def read_models(self) -> ReadModels:
        """The projections' read models (ClickHouse/chDB, SQL, Chroma), connected on first use."""
        if self._read_models is None:
            from projections.models import build_read_models

            self._read_models = build_read_models(self.app, self.event_store)
        return self._read_models

    def close(self) -> None:
        if self._read_models is not None:
            self._read_models.close()
        self.app.close()

    def __enter__(self) -> Services:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def build_app(settings: EventStoreSettings) -> NeonBlue:
    return NeonBlue(env=settings.eventsourcing_env())


def bootstrap(event_store: EventStoreSettings | None = None) -> Services:
    """Builds the services; settings default to the NEONBLUE_* environment."""
    event_store = event_store or EventStoreSettings()
    return Services(event_store=event_store, app=build_app(event_store))
