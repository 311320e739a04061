"""Day-by-day series of one experiment from the ClickHouse read model (no log replay).

The analytics model keeps per-day sums of each metric and the day of each user's first
exposure. `daily_totals` reads them once (two queries) into running totals at the end of
each day; `cumulative_lift` puts those through the chosen statistics engine, so the three
engines' lift lines share one read.

The band is exact for binomial metrics (counts only). For mean metrics the read model keeps
sums of squares per user and day, not per user up to a day: a user with events on several
days adds a² + b² instead of (a + b)², so the band is a little narrow. It is drawn and
labelled as approximate; the scorecard above the chart (per-user sums) is exact.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from domain.analysis import VariantSums
from domain.experiments.aggregate import Experiment
from domain.experiments.values import MetricKind, MetricRole
from domain.statistics import (
    AnalysisOptions,
    analyze_experiment,
    sample_ratio_mismatch_over_periods,
)
from mcp_servers.clickhouse import queries
from projections.analytics.queries import period_starts

TIMEOUT = 10.0
MAX_DAYS = 366


@dataclass
class DailyTotals:
    """Running totals at the end of each day (per variant) and what does not depend on the
    engine: newly exposed users per day and the SRM p-value."""

    variants: list[str] = field(default_factory=list)
    days: list[date] = field(default_factory=list)
    exposed: dict[str, list[float]] = field(default_factory=dict)  # newly exposed, per day
    users: dict[str, list[int]] = field(default_factory=dict)  # cumulative
    sums: dict[str, list[float]] = field(default_factory=dict)  # cumulative
    squares: dict[str, list[float]] = field(default_factory=dict)  # cumulative, per day
    srm_p: list[float | None] = field(default_factory=list)
    primary: str = ""
    kind: MetricKind | None = None
    partial_last_day: bool = False

    @property
    def approximate_band(self) -> bool:
        """Whether the lift band understates the variance (mean metrics, see above)."""
        return self.kind == MetricKind.MEAN


@dataclass
class DailyLift:
    lift: dict[str, list[float | None]] = field(default_factory=dict)  # per treatment
    lower: dict[str, list[float | None]] = field(default_factory=dict)
    upper: dict[str, list[float | None]] = field(default_factory=dict)


def primary_metric(experiment: Experiment) -> str:
    primaries = [m.key for m in experiment.metrics if m.role == MetricRole.PRIMARY]
    return primaries[0] if primaries else (experiment.metrics[0].key if experiment.metrics else "")


def daily_totals(models: Any, experiment: Experiment, until: date | None = None) -> DailyTotals:
    """Exposures, running sums of the primary metric and SRM p-value per day up to ``until``."""
    analytics = models.analytics()
    database = analytics.live_database()
    key, variants = experiment.key, experiment.variant_keys()
    primary = primary_metric(experiment)
    totals = DailyTotals(variants=variants, primary=primary)
    if len(variants) < 2 or not primary:
        return totals
    totals.kind = experiment.metric(primary).kind
    starts = period_starts(experiment)  # the split changed while it ran: SRM per period
    exposures = queries.daily_exposures_by_period(analytics.client, database, key, starts, TIMEOUT)
    daily = queries.daily_metric(analytics.client, database, key, primary, 50_000, TIMEOUT)
    users: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    by_period: dict[date, dict[tuple[int, str], int]] = defaultdict(lambda: defaultdict(int))
    sums: dict[date, dict[str, tuple[float, float]]] = defaultdict(dict)
    for day, variant, period, count in exposures:
        users[day][variant] += int(count)
        by_period[day][(int(period), variant)] += int(count)
    for day, variant, _, _, total, squares in daily:
        sums[day][variant] = (float(total), float(squares))
    days = sorted(d for d in set(users) | set(sums) if until is None or d <= until)[-MAX_DAYS:]
    if not days:
        return totals
    totals.days = days
    totals.partial_last_day = _partial(experiment, days[-1], until)
    n: dict[str, int] = defaultdict(int)
    weights = [w for _, w in experiment.allocation_periods()]
    in_period: dict[tuple[int, str], int] = defaultdict(int)
    s: dict[str, float] = defaultdict(float)
    ss: dict[str, float] = defaultdict(float)
    for bucket in (totals.exposed, totals.users, totals.sums, totals.squares):
        bucket.update({v: [] for v in variants})  # type: ignore[attr-defined]
    for day in days:
        for variant in variants:
            n[variant] += users[day].get(variant, 0)
            total, squares = sums[day].get(variant, (0.0, 0.0))
            s[variant] += total
            ss[variant] += squares
            totals.exposed[variant].append(float(users[day].get(variant, 0)))
            totals.users[variant].append(n[variant])
            totals.sums[variant].append(s[variant])
            totals.squares[variant].append(ss[variant])
        for cell, count in by_period[day].items():
            in_period[cell] += count
        counts = [[in_period[(p, v)] for v in variants] for p in range(len(weights))]
        srm = sample_ratio_mismatch_over_periods(counts, weights)
        totals.srm_p.append(None if srm.error else srm.p_value)
    return totals


def cumulative_lift(totals: DailyTotals, experiment: Experiment, engine: str) -> DailyLift:
    """The primary metric's cumulative lift and interval per day, by ``engine``."""
    variants, primary = totals.variants, totals.primary
    found = DailyLift()
    for bucket in (found.lift, found.lower, found.upper):
        bucket.update({v: [] for v in variants[1:]})
    if not totals.days:
        return found
    metric = experiment.metric(primary)
    options = AnalysisOptions(engine=engine, inverse=not metric.higher_is_better)  # type: ignore[arg-type]
    for index in range(len(totals.days)):
        n = {v: totals.users[v][index] for v in variants}
        results = {}
        if metric.kind in (MetricKind.BINOMIAL, MetricKind.MEAN) and all(n.values()):
            stats = {
                v: VariantSums(
                    n[v], {primary: totals.sums[v][index]}, {primary: totals.squares[v][index]}
                ).statistic(metric, False)
                for v in variants
            }
            analysed = analyze_experiment(
                stats[variants[0]], {v: stats[v] for v in variants[1:]}, options
            )
            results = {r.variant: r for r in analysed if not r.error}
        for variant in variants[1:]:
            result = results.get(variant)
            found.lift[variant].append(result.estimate if result else None)
            found.lower[variant].append(result.ci_lower if result else None)
            found.upper[variant].append(result.ci_upper if result else None)
    return found


def _partial(experiment: Experiment, last: date, until: date | None) -> bool:
    """Whether the last day's counts are not final: still running (today), stopped mid-day,
    or cut by a replay."""
    if until is not None and last == until:
        return True
    stopped = getattr(experiment, "stopped_at", None)
    end = stopped if isinstance(stopped, datetime) else datetime.now(UTC)
    return end < datetime.combine(last + timedelta(days=1), datetime.min.time(), UTC)
