"""Series for the experiment report, computed from the event log alone.

Days are the UTC dates of the users' own event times (``at``: when they were exposed or
converted), so a backfilled log still shows the experiment's real timeline. At the end of
each day the cumulative per-variant sums go through the statistics engine: the sequential
engine gives the lift of the primary metric with its confidence sequence (valid however
often the chart is looked at), and the SRM check its p-value.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from domain.analysis import Scorecard, VariantSums, build_scorecard
from domain.analysis.quantile_values import metric_quantile
from domain.experiments.aggregate import Experiment
from domain.experiments.values import MetricKind, MetricRole
from domain.participation.aggregate import Participation
from domain.statistics import AnalysisOptions
from infrastructure.application import NeonBlue
from infrastructure.log_statistics import period_starts_of

MAX_DAYS = 120
MAX_SEGMENTS = 8
SEQUENTIAL = AnalysisOptions(engine="sequential")
FIXED = AnalysisOptions(engine="frequentist")


@dataclass
class _User:
    variant: str
    segment: str
    exposed_on: date | None = None
    exposed_at: datetime | None = None
    values: list[tuple[date, str, float]] = field(default_factory=list)


@dataclass(frozen=True)
class Interval:
    estimate: float
    lower: float
    upper: float


@dataclass(frozen=True)
class SegmentRow:
    segment: str
    variant: str
    users: dict[str, int]
    control_mean: float
    variant_mean: float
    lift: Interval


@dataclass
class ReportData:
    experiment: Experiment
    position: int
    primary: str
    days: list[date] = field(default_factory=list)
    exposed_per_day: dict[str, list[int]] = field(default_factory=dict)
    means: dict[str, dict[str, list[float | None]]] = field(default_factory=dict)
    lift: dict[str, list[Interval | None]] = field(default_factory=dict)  # primary, per variant
    srm_p_values: list[float | None] = field(default_factory=list)
    scorecard: Scorecard | None = None
    segments: list[SegmentRow] = field(default_factory=list)
    segment_key: str = "source"
    last_event_at: datetime | None = None  # the latest exposure or metric time of its users

    @property
    def partial_last_day(self) -> bool:
        """Whether the data stops before the end of the last day (its counts are not final)."""
        if not self.days or self.last_event_at is None:
            return False
        end = datetime.combine(self.days[-1] + timedelta(days=1), time.min, UTC)
        return self.last_event_at < end - timedelta(minutes=1)


def _collect(
    app: NeonBlue, key: str, segment_key: str
) -> tuple[dict[Any, _User], int, datetime | None]:
    users: dict[Any, _User] = {}
    position = 0
    last_at: datetime | None = None
    for entry in app.log():
        position = entry.position
        event: Any = entry.event
        if isinstance(event, Participation.Enrolled):
            if event.experiment_key == key and event.variant is not None:
                users[entry.originator_id] = _User(event.variant, event.source)
            continue
        user = users.get(entry.originator_id)
        if user is None:
            continue
        at = getattr(event, "at", None)
        if isinstance(at, datetime) and (last_at is None or at > last_at):
            last_at = at
        if isinstance(event, Participation.Exposed) and user.exposed_on is None:
            user.exposed_on, user.exposed_at = event.at.date(), event.at
            if segment_key != "source":
                user.segment = _segment_of(event.context, segment_key)
        elif isinstance(event, Participation.MetricRecorded) and event.excluded is None:
            user.values.append((event.at.date(), event.metric, event.value))
    return users, position, last_at


def _segment_of(context: dict[str, Any], key: str) -> str:
    """The exposure's value of dimension ``key``: in its ``segment`` (device, country, ...:
    what ingest, the simulation and `segments --by` use), else a top-level context key."""
    segment = context.get("segment")
    if isinstance(segment, dict) and key in segment:
        return str(segment[key])
    return str(context.get(key, "(none)"))


def _sums(
    experiment: Experiment, users: list[tuple[_User, dict[str, float]]], day: date | None = None
) -> dict[str, VariantSums]:
    pairs = [(m.numerator, m.denominator) for m in experiment.metrics if m.kind == MetricKind.RATIO]
    counts: dict[str, int] = defaultdict(int)
    starts = period_starts_of(experiment)
    by_period: dict[str, list[int]] = defaultdict(lambda: [0] * (len(starts) + 1))
    sums: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    squares: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    products: dict[str, dict[tuple[str, str], float]] = defaultdict(lambda: defaultdict(float))
    for user, totals in users:
        counts[user.variant] += 1
        if starts and user.exposed_at is not None:
            by_period[user.variant][bisect_right(starts, user.exposed_at)] += 1
        for metric, value in totals.items():
            sums[user.variant][metric] += value
            squares[user.variant][metric] += value * value
        for num, den in pairs:
            if num and den:
                products[user.variant][(num, den)] += totals.get(num, 0.0) * totals.get(den, 0.0)
    quantiles = [m for m in experiment.metrics if m.kind == MetricKind.QUANTILE]
    values: dict[str, dict[str, dict[int, list[float]]]] = defaultdict(lambda: defaultdict(dict))
    for index, (user, _) in enumerate(users):
        for metric in quantiles:
            values[user.variant][metric.key][index] = [
                value
                for on, name, value in user.values
                if name == metric.key and (day is None or on <= day)
            ]
    return {
        v: VariantSums(
            n,
            dict(sums[v]),
            dict(squares[v]),
            dict(products[v]),
            quantiles={m.key: metric_quantile(m, values[v][m.key]) for m in quantiles},
            users_by_period=tuple(by_period[v]) if starts else (),
        )
        for v, n in counts.items()
    }


def _mean(experiment: Experiment, metric: str, sums: VariantSums | None) -> float | None:
    if sums is None or not sums.users:
        return None
    definition = experiment.metric(metric)
    if definition.kind == MetricKind.RATIO:
        den = sums.sums.get(definition.denominator or "", 0.0)
        return sums.sums.get(definition.numerator or "", 0.0) / den if den else None
    if definition.kind == MetricKind.QUANTILE:
        quantile = sums.quantiles.get(metric)
        return quantile.quantile if quantile is not None and quantile.n else None
    return sums.sums.get(metric, 0.0) / sums.users


def report_data(
    app: NeonBlue, key: str, segment_key: str = "source", engine: str = "sequential"
) -> ReportData:
    """Everything the report plots, from one pass over the log; the scorecard under
    ``engine`` (the daily lift stays sequential: only it is valid read day after day)."""
    experiment = app.experiment(key)
    users, position, last_at = _collect(app, key, segment_key)
    primaries = [m.key for m in experiment.metrics if m.role == MetricRole.PRIMARY]
    data = ReportData(
        experiment, position, primaries[0] if primaries else "", segment_key=segment_key
    )
    exposed = [u for u in users.values() if u.exposed_on is not None]
    data.last_event_at = last_at
    if not exposed or len(experiment.variants) < 2:
        return data
    first = min(u.exposed_on for u in exposed if u.exposed_on)
    last = max(
        [u.exposed_on for u in exposed if u.exposed_on]
        + [d for u in exposed for d, _, _ in u.values]
    )
    data_last = last  # the scorecard and the segments count every day; the chart the first
    last = min(last, first + timedelta(days=MAX_DAYS - 1))
    data.days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    variants = experiment.variant_keys()
    data.exposed_per_day = {v: [0] * len(data.days) for v in variants}
    data.means = {m.key: {v: [] for v in variants} for m in experiment.metrics}
    data.lift = {v: [] for v in variants[1:]}
    for user in exposed:
        index = (user.exposed_on - first).days if user.exposed_on else -1
        if 0 <= index < len(data.days) and user.variant in data.exposed_per_day:
            data.exposed_per_day[user.variant][index] += 1
    for day in data.days:
        scorecard = _scorecard_on(experiment, exposed, day, SEQUENTIAL)
        for metric, per_variant in data.means.items():
            for variant, values in per_variant.items():
                values.append(_mean(experiment, metric, scorecard[1].get(variant)))
        card = scorecard[0]
        data.srm_p_values.append(card.srm.p_value if not card.srm.error else None)
        for variant in variants[1:]:
            row = next(
                (r for r in card.rows if r.metric == data.primary and r.variant == variant), None
            )
            interval = (
                None if row is None or row.error else Interval(row.lift, row.ci_lower, row.ci_upper)
            )
            data.lift[variant].append(interval)
    final = AnalysisOptions(engine=engine)  # type: ignore[arg-type]
    now = datetime.now(UTC)  # as `results`: a running experiment's impact is up to now
    data.scorecard = _scorecard_on(experiment, exposed, data_last, final, now)[0]
    data.segments = _segments(experiment, exposed, data_last, data.primary)
    return data


def _scorecard_on(
    experiment: Experiment,
    exposed: list[_User],
    day: date,
    options: AnalysisOptions,
    as_of: datetime | None = None,
) -> tuple[Scorecard, dict[str, VariantSums]]:
    """The scorecard of the users exposed by the end of ``day``, with their values until
    then; ``as_of`` (default: the end of ``day``) is when the impact is projected to."""
    included = []
    for user in exposed:
        if user.exposed_on is None or user.exposed_on > day:
            continue
        totals: dict[str, float] = defaultdict(float)
        for on, metric, value in user.values:
            if on <= day:
                totals[metric] += value
        included.append((user, totals))
    sums = _sums(experiment, included, day)
    as_of = as_of or datetime.combine(day + timedelta(days=1), time.min, UTC)
    return build_scorecard(experiment, sums, options, cuped=False, as_of=as_of), sums


def _segments(
    experiment: Experiment, exposed: list[_User], day: date, primary: str
) -> list[SegmentRow]:
    sizes: dict[str, int] = defaultdict(int)
    for user in exposed:
        sizes[user.segment] += 1
    rows = []
    for segment in sorted(sizes, key=lambda s: -sizes[s])[:MAX_SEGMENTS]:
        members = [u for u in exposed if u.segment == segment]
        card, _ = _scorecard_on(experiment, members, day, FIXED)
        for row in card.rows:
            if row.metric == primary:
                rows.append(SegmentRow(
                    segment, row.variant, dict(card.users), row.control_mean, row.variant_mean,
                    Interval(row.lift, row.ci_lower, row.ci_upper),
                ))  # fmt: skip
    return rows
