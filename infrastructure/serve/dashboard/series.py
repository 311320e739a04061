"""Day-by-day series of one experiment from the ClickHouse read model (no log replay).

The analytics model keeps per-day sums of each metric and the day of each user's first
exposure; the running totals at the end of each day go through the statistics engine
(the chosen one) for the primary metric's lift and interval, and through the SRM check.
Sums of squares are per day, so for a user with events on several days the variance is
slightly understated on mean metrics (binomial metrics use counts only); the scorecard
above the chart is exact.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from domain.analysis import VariantSums
from domain.experiments.aggregate import Experiment
from domain.experiments.values import MetricKind, MetricRole
from domain.statistics import AnalysisOptions, analyze_experiment, sample_ratio_mismatch
from mcp_servers.clickhouse import queries

TIMEOUT = 10.0
MAX_DAYS = 366


@dataclass
class DailySeries:
    days: list[date] = field(default_factory=list)
    exposed: dict[str, list[float]] = field(default_factory=dict)  # newly exposed, per day
    lift: dict[str, list[float | None]] = field(default_factory=dict)  # per treatment
    lower: dict[str, list[float | None]] = field(default_factory=dict)
    upper: dict[str, list[float | None]] = field(default_factory=dict)
    srm_p: list[float | None] = field(default_factory=list)
    primary: str = ""
    partial_last_day: bool = False


def primary_metric(experiment: Experiment) -> str:
    primaries = [m.key for m in experiment.metrics if m.role == MetricRole.PRIMARY]
    return primaries[0] if primaries else (experiment.metrics[0].key if experiment.metrics else "")


def daily_series(
    models: Any, experiment: Experiment, engine: str, until: date | None = None
) -> DailySeries:
    """Exposures, cumulative lift with its interval and SRM p-value, per day up to ``until``."""
    analytics = models.analytics()
    database = analytics.live_database()
    key, variants = experiment.key, experiment.variant_keys()
    primary = primary_metric(experiment)
    series = DailySeries(primary=primary)
    if len(variants) < 2 or not primary:
        return series
    exposures = queries.daily_exposures(analytics.client, database, key, TIMEOUT)
    daily = queries.daily_metric(analytics.client, database, key, primary, 50_000, TIMEOUT)
    users: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    sums: dict[date, dict[str, tuple[float, float]]] = defaultdict(dict)
    for day, variant, count in exposures:
        users[day][variant] += int(count)
    for day, variant, _, _, total, squares in daily:
        sums[day][variant] = (float(total), float(squares))
    days = sorted(d for d in set(users) | set(sums) if until is None or d <= until)[-MAX_DAYS:]
    if not days:
        return series
    series.days = days
    series.partial_last_day = _partial(experiment, days[-1], until)
    metric = experiment.metric(primary)
    options = AnalysisOptions(engine=engine, inverse=not metric.higher_is_better)  # type: ignore[arg-type]
    n: dict[str, int] = defaultdict(int)
    s: dict[str, float] = defaultdict(float)
    ss: dict[str, float] = defaultdict(float)
    series.exposed = {v: [] for v in variants}
    for bucket in (series.lift, series.lower, series.upper):
        bucket.update({v: [] for v in variants[1:]})
    for day in days:
        for variant in variants:
            n[variant] += users[day].get(variant, 0)
            total, squares = sums[day].get(variant, (0.0, 0.0))
            s[variant] += total
            ss[variant] += squares
            series.exposed[variant].append(float(users[day].get(variant, 0)))
        srm = sample_ratio_mismatch([n[v] for v in variants], experiment.weights())
        series.srm_p.append(None if srm.error else srm.p_value)
        results = {}
        if metric.kind in (MetricKind.BINOMIAL, MetricKind.MEAN) and all(n[v] for v in variants):
            stats = {
                v: VariantSums(n[v], {primary: s[v]}, {primary: ss[v]}).statistic(metric, False)
                for v in variants
            }
            found = analyze_experiment(
                stats[variants[0]], {v: stats[v] for v in variants[1:]}, options
            )
            results = {r.variant: r for r in found if not r.error}
        for variant in variants[1:]:
            result = results.get(variant)
            series.lift[variant].append(result.estimate if result else None)
            series.lower[variant].append(result.ci_lower if result else None)
            series.upper[variant].append(result.ci_upper if result else None)
    return series


def _partial(experiment: Experiment, last: date, until: date | None) -> bool:
    """Whether the last day's counts are not final: still running (today), stopped mid-day,
    or cut by a replay."""
    if until is not None and last == until:
        return True
    stopped = getattr(experiment, "stopped_at", None)
    end = stopped if isinstance(stopped, datetime) else datetime.now(UTC)
    return end < datetime.combine(last + timedelta(days=1), datetime.min.time(), UTC)
