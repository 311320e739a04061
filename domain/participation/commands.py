"""Commands that record what users did; ingest and simulators build them from raw events.

``context`` travels into the recorded event: ingest puts the classification and the source
topic/partition/offset there, so the stored event says where it came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class RecordExposure:
    """The user saw the experiment; ``variant`` is what the client showed, if it says."""

    experiment_key: str
    user_id: str
    event_id: str
    at: datetime
    variant: str | None = None
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordMetric:
    """A metric value for the user (1.0 for a conversion)."""

    experiment_key: str
    user_id: str
    event_id: str
    at: datetime
    metric: str
    value: float = 1.0
    context: dict[str, Any] = field(default_factory=dict)


ParticipationCommand = RecordExposure | RecordMetric
