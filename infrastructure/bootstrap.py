"""The composition root: the only place where settings become wired objects."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from eventsourcing.persistence import IntegrityError, InternalError, ProgrammingError

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


def build_app(settings: EventStoreSettings, attempts: int = 6) -> NeonBlue:
    """The application; retries when processes starting together race to create tables.

    Concurrent ``CREATE ... IF NOT EXISTS`` in Postgres can fail with "tuple concurrently
    updated", "relation already exists" or a unique violation on the catalog; a moment
    later the tables exist (a real error repeats and is raised after the last attempt).
    """
    for attempt in range(attempts):
        try:
            return NeonBlue(env=settings.eventsourcing_env())
        except (InternalError, IntegrityError, ProgrammingError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.1 * 2**attempt)
    raise AssertionError("unreachable")


def bootstrap(event_store: EventStoreSettings | None = None) -> Services:
    """Builds the services; settings default to the NEONBLUE_* environment."""
    event_store = event_store or EventStoreSettings()
    return Services(event_store=event_store, app=build_app(event_store))
