"""Where tools read per-variant sufficient statistics from.

The relational read model answers in a few SQL aggregates over one experiment's
participants, at its own position (caught up first when the server runs on its own;
`neonblue serve` keeps it following the log). The event log is replayed for audit only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from domain.analysis import VariantSums
    from infrastructure.application import NeonBlue
    from projections.relational.model import RelationalModel


class ResultsSource(Protocol):
    name: str

    def variant_sums(self, experiment_key: str) -> dict[str, VariantSums]:
        """Per-variant sums of one experiment (missing variants simply absent)."""
        ...

    def position(self) -> int:
        """Last event-log position reflected by this source."""
        ...


class RelationalSource:
    """Per-variant sums from the relational read model."""

    name = "relational"

    def __init__(
        self, app: NeonBlue, model: RelationalModel, refresh: Callable[[], object] | None = None
    ) -> None:
        self.app = app
        self.model = model
        self.refresh = refresh  # brings the model up to the head before each answer

    def variant_sums(self, experiment_key: str) -> dict[str, VariantSums]:
        experiment = self.app.experiment(experiment_key)
        if self.refresh is not None:
            self.refresh()
        return self.model.variant_sums(experiment)

    def position(self) -> int:
        return self.model.position()
