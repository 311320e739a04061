"""`audit history`: who or what changed an experiment, and when, from the log alone.

Includes the experiment's own events and every other aggregate created for it (created
with ``experiment_key`` equal to the key: agent recommendations and their approvals,
recorded analyses, ...); participation events (user traffic) are left out.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.experiments.aggregate import experiment_id
from domain.participation.aggregate import Participation
from infrastructure.application import LoggedEvent, NeonBlue

ACTOR_FIELDS = ("by", "approved_by", "actor", "publisher", "agent")  # not "owner": not who
ENVELOPE = {"originator_id", "originator_version", "timestamp", "originator_topic"}


@dataclass(frozen=True)
class HistoryEntry:
    position: int
    recorded_at: datetime
    aggregate: str  # e.g. "Experiment", "Recommendation"
    originator_id: UUID
    event: str
    actor: str
    details: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "recorded_at": self.recorded_at.isoformat(),
            "aggregate": self.aggregate,
            "originator_id": str(self.originator_id),
            "event": self.event,
            "actor": self.actor,
            "details": self.details,
        }


def jsonable(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    if isinstance(value, UUID):
        return str(value)
    return value


def history(app: NeonBlue, key: str) -> Iterator[HistoryEntry]:
    """Every change to experiment ``key`` and every decision about it, in log order."""
    app.experiment(key)  # a clear error for an unknown key
    own = experiment_id(key)
    related: set[UUID] = set()
    for entry in app.log():
        event: Any = entry.event
        if entry.originator_id == own:
            yield _entry(entry, "Experiment")
        elif entry.originator_id in related:
            yield _entry(entry, _aggregate_name(entry))
        elif (
            entry.version == 1
            and getattr(event, "experiment_key", None) == key
            and not isinstance(event, Participation.Event)
        ):
            related.add(entry.originator_id)
            yield _entry(entry, _aggregate_name(entry))


def _aggregate_name(entry: LoggedEvent) -> str:
    parts = entry.topic.rsplit(":", 1)[-1].split(".")
    return parts[-2] if len(parts) > 1 else parts[0]


def _entry(entry: LoggedEvent, aggregate: str) -> HistoryEntry:
    fields = {k: v for k, v in vars(entry.event).items() if k not in ENVELOPE}
    actor = next((str(fields[f]) for f in ACTOR_FIELDS if fields.get(f)), "")
    return HistoryEntry(
        position=entry.position,
        recorded_at=entry.event.timestamp,
        aggregate=aggregate,
        originator_id=entry.originator_id,
        event=entry.name.rsplit(".", 1)[-1],
        actor=actor,
        details=jsonable(fields),
    )
