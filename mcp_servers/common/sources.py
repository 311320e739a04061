"""Where tools read per-variant sufficient statistics from.

A read model (ClickHouse, Postgres) answers quickly at its own position; the event log
replay answers exactly at the head. Both implement `ResultsSource`.
"""

from __future__ import annotations

from typing import Protocol

from domain.analysis import VariantSums
from infrastructure.application import NeonBlue
from infrastructure.log_statistics import ReplayedSums


class ResultsSource(Protocol):
    name: str

    def variant_sums(self, experiment_key: str) -> dict[str, VariantSums]:
        """Per-variant sums of one experiment (missing variants simply absent)."""
        ...

    def position(self) -> int:
        """Last event-log position reflected by this source."""
        ...


class EventLogSource:
    """Replays the event log: always current; one replay per log head serves every
    experiment (the cost of a replay grows with the log)."""

    name = "event_store"

    def __init__(self, app: NeonBlue) -> None:
        self.replayed = ReplayedSums(app)

    def variant_sums(self, experiment_key: str) -> dict[str, VariantSums]:
        return self.replayed.of(experiment_key)

    def position(self) -> int:
        return self.replayed.position
