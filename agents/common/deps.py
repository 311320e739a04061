"""What the graphs need from the composition root (which hands it over; agents build
nothing themselves)."""

from __future__ import annotations

from typing import Protocol

from infrastructure.application import NeonBlue
from infrastructure.settings import EventStoreSettings


class AgentDeps(Protocol):
    """The application (domain commands) and where run checkpoints live."""

    @property
    def app(self) -> NeonBlue: ...

    @property
    def event_store(self) -> EventStoreSettings: ...
