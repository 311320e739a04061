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

    def read_models(self) -> ReadModels: ...
