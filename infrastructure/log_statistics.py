"""Per-variant sufficient statistics computed from the event log alone.

Used by auditors (`audit replay`: results as of a time, with no read model involved)
and by tests as the reference the read models must agree with.
Each exposed user contributes one observation per metric: the sum of that user's
non-excluded values (0 when the user has none), as experimentation platforms do.

Sums are exact, so that they do not depend on the order of addition (batch boundaries,
merge order, threads): each value counts in millionths (``micros``: an integer, rounded
half to even), per-user totals, per-variant sums, squares and cross products are integer
sums, and each becomes a float once, correctly rounded, at the end (``exact_float``). The
read models (`projections.relational`, the ClickHouse fold) accumulate the same integers,
so this replay and they agree bit for bit.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from domain.analysis import VariantSums
from domain.analysis.quantile_values import metric_quantile
from domain.experiments.aggregate import Experiment
from domain.experiments.values import MetricKind
from domain.participation.aggregate import Participation
from infrastructure.application import NeonBlue

MICROS = 1_000_000
"""Metric values are accumulated in millionths of their unit."""


def micros(value: float) -> int:
    """A metric value in millionths, rounded half to even (ClickHouse: ``roundBankers``)."""
    return round(value * MICROS)


def exact_float(total: int, scale: int = MICROS) -> float:
    """``total / scale`` correctly rounded (Python divides integers exactly)."""
    return int(total) / scale


@dataclass
class _User:
    experiment_key: str
    variant: str | None
    exposed_at: datetime | None = None  # the first exposure's time
    mismatched: bool = False
    values: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # micros
    events: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))


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
            user.exposed_at = user.exposed_at or event.at
        elif isinstance(event, Participation.VariantMismatch):
            user.mismatched = True
        elif isinstance(event, Participation.MetricRecorded) and event.excluded is None:
            user.values[event.metric] += micros(event.value)
            user.events[event.metric].append(event.value)

    keys = {u.experiment_key for u in users.values()}
    ratio_pairs = _ratio_pairs(app, keys)
    experiments = {key: app.experiment(key) for key in keys}
    quantile_metrics = {
        key: [m for m in experiment.metrics if m.kind == MetricKind.QUANTILE]
        for key, experiment in experiments.items()
    }
    period_starts = {key: period_starts_of(e) for key, e in experiments.items()}
    by_period: dict[tuple[str, str], list[int]] = {}
    quantile_values: dict[tuple[str, str], dict[str, dict[UUID, list[float]]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    counts: dict[tuple[str, str], int] = defaultdict(int)
    mismatched: dict[tuple[str, str], int] = defaultdict(int)
    sums: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    squares: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    products: dict[tuple[str, str], dict[tuple[str, str], int]] = defaultdict(
        lambda: defaultdict(int)
    )
    for participation, user in users.items():
        if user.exposed_at is None or user.variant is None:
            continue
        cell = (user.experiment_key, user.variant)
        counts[cell] += 1
        starts = period_starts[user.experiment_key]
        if starts:
            periods = by_period.setdefault(cell, [0] * (len(starts) + 1))
            periods[bisect_right(starts, user.exposed_at)] += 1
        mismatched[cell] += user.mismatched
        for metric in quantile_metrics.get(user.experiment_key, ()):
            quantile_values[cell][metric.key][participation] = user.events.get(metric.key, [])
        for metric, value in user.values.items():
            sums[cell][metric] += value
            squares[cell][metric] += value * value
        for num, den in ratio_pairs.get(user.experiment_key, ()):
            products[cell][(num, den)] += user.values.get(num, 0) * user.values.get(den, 0)

    result: dict[str, dict[str, VariantSums]] = defaultdict(dict)
    for (key, variant), n in counts.items():
        cell = (key, variant)
        result[key][variant] = VariantSums(
            users=n,
            sums={m: exact_float(v) for m, v in sums[cell].items()},
            sums_of_squares={m: exact_float(v, MICROS**2) for m, v in squares[cell].items()},
            products={pair: exact_float(v, MICROS**2) for pair, v in products[cell].items()},
            mismatched_users=mismatched[cell],
            quantiles={
                m.key: metric_quantile(m, quantile_values[cell][m.key])
                for m in quantile_metrics.get(key, ())
            },
            users_by_period=tuple(by_period.get(cell, ())),
        )
    return dict(result)


def period_starts_of(experiment: Experiment) -> list[datetime]:
    """When each allocation period after the first began (none: the split never changed)."""
    return [since for since, _ in experiment.allocation_periods()[1:] if since is not None]


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
