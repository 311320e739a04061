"""Per-variant sufficient statistics computed from the event log alone.

Used by auditors (`audit replay`: results as of a time, with no read model involved)
and by tests as the reference the read models must agree with.
Each exposed user contributes one observation per metric: the sum of that user's
non-excluded values (0 when the user has none), as experimentation platforms do.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from domain.analysis import VariantSums
from domain.experiments.values import MetricKind
from domain.participation.aggregate import Participation
from infrastructure.application import NeonBlue


@dataclass
class _User:
    experiment_key: str
    variant: str | None
    exposed: bool = False
    mismatched: bool = False
    values: dict[str, float] = field(default_factory=lambda: defaultdict(float))


def variant_sums(
    app: NeonBlue, experiment_key: str | None = None, as_of: datetime | None = None
) -> dict[str, dict[str, VariantSums]]:
    """experiment key -> variant -> sums, from every participation event in the log."""
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

    ratio_pairs = _ratio_pairs(app, {u.experiment_key for u in users.values()})
    counts: dict[tuple[str, str], int] = defaultdict(int)
    mismatched: dict[tuple[str, str], int] = defaultdict(int)
    sums: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    squares: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    products: dict[tuple[str, str], dict[tuple[str, str], float]] = defaultdict(
        lambda: defaultdict(float)
    )
    for user in users.values():
        if not user.exposed or user.variant is None:
            continue
        cell = (user.experiment_key, user.variant)
        counts[cell] += 1
        mismatched[cell] += user.mismatched
        for metric, value in user.values.items():
            sums[cell][metric] += value
            squares[cell][metric] += value * value
        for num, den in ratio_pairs.get(user.experiment_key, ()):
            products[cell][(num, den)] += user.values.get(num, 0.0) * user.values.get(den, 0.0)

    result: dict[str, dict[str, VariantSums]] = defaultdict(dict)
    for (key, variant), n in counts.items():
        cell = (key, variant)
        result[key][variant] = VariantSums(
            users=n,
            sums=dict(sums[cell]),
            sums_of_squares=dict(squares[cell]),
            products=dict(products[cell]),
            mismatched_users=mismatched[cell],
        )
    return dict(result)


def _ratio_pairs(app: NeonBlue, keys: set[str]) -> dict[str, list[tuple[str, str]]]:
    pairs = {}
    for key in keys:
        metrics = app.experiment(key).metrics
        pairs[key] = [
            (m.numerator, m.denominator)
            for m in metrics
            if m.kind == MetricKind.RATIO and m.numerator and m.denominator
        ]
    return pairs
