"""Commands that record what users did; ingest and simulators build them from raw events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class RecordExposure:
    """The user saw the experiment; ``variant`` is what the client showed, if it says."""

    experiment_key: str
    user_id: str
    event_id: str
    at: datetime
    variant: str | None = None


@dataclass(frozen=True)
class RecordMetric:
    """A metric value for the user (1.0 for a conversion)."""

    experiment_key: str
    user_id: str
    event_id: str
    at: datetime
    metric: str
    value: float = 1.0


ParticipationCommand = RecordExposure | RecordMetric
