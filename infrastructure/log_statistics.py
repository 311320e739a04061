"""Per-variant sufficient statistics computed from the event log alone.

Used by the demo and by auditors (results as of a time, with no read model involved).
Each exposed user contributes one observation per metric: the sum of that user's
non-excluded values (0 when the user has none), as experimentation platforms do.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from domain.participation.aggregate import Participation
from infrastructure.application import NeonBlue


@dataclass
class VariantTotals:
    """Sufficient statistics of one variant: users, and per metric sum / sum of squares."""

    users: int = 0
    sums: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    sums_of_squares: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    mismatched_users: int = 0


@dataclass
class _User:
    experiment_key: str
    variant: str | None
    exposed: bool = False
    mismatched: bool = False
    values: dict[str, float] = field(default_factory=lambda: defaultdict(float))


def variant_totals(
    app: NeonBlue, experiment_key: str | None = None, as_of: datetime | None = None
) -> dict[str, dict[str, VariantTotals]]:
    """experiment key -> variant -> totals, from every participation event in the log."""
    users: dict[UUID, _User] = {}
    for entry in app.log():
        event = entry.event
        if as_of is not None and event.timestamp > as_of:
            break
        if isinstance(event, Participation.Enrolled):
            if experiment_key is None or event.experiment_key == experiment_key:
                users[entry.originator_id] = _User(event.experiment_key, event.variant)
            continue
        user = users.get(entry.originator_id)
        if user is None:
            continue
        if isinstance(event, Participation.Exposed):
            user.exposed = True
        elif isinstance(event, Participation.VariantMismatch):
            user.mismatched = True
        elif isinstance(event, Participation.MetricRecorded) and event.excluded is None:
            user.values[event.metric] += event.value

    totals: dict[str, dict[str, VariantTotals]] = defaultdict(lambda: defaultdict(VariantTotals))
    for user in users.values():
        if not user.exposed or user.variant is None:
            continue
        variant = totals[user.experiment_key][user.variant]
        variant.users += 1
        variant.mismatched_users += user.mismatched
        for metric, value in user.values.items():
            variant.sums[metric] += value
            variant.sums_of_squares[metric] += value * value
    return totals
