"""The composition root: the only place where settings become wired objects."""

from __future__ import annotations

from dataclasses import dataclass

from infrastructure.application import NeonBlue
from infrastructure.settings import EventStoreSettings


@dataclass
class Services:
    """Everything an entry point needs, built from settings."""

    event_store: EventStoreSettings
    app: NeonBlue

    def close(self) -> None:
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
