"""What the read-model servers need from the composition root."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from infrastructure.application import NeonBlue
    from projections.models import ReadModels


class ReadSide(Protocol):
    """The application (definitions, commands) and the read models."""

    @property
    def app(self) -> NeonBlue: ...

    @property
    def engine(self) -> str:
        """The default statistics engine (``NEONBLUE_STATS_ENGINE``)."""
        ...

    def read_models(self) -> ReadModels: ...
