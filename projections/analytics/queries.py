"""Reading the analytics model: one aggregate query per experiment -> the scorecard.

``variant_sums`` returns, for every variant, the sufficient statistics the statistics
engine needs (users, per-metric sums and sums of squares, ratio cross products, CUPED
pre-exposure sums and cross products) from a single ``GROUP BY variant`` over
``user_metrics``; ``quantile_statistics`` adds, per quantile metric, one query that sorts
each variant's values once and reads the quantile and its order-statistic interval
bounds (plus the per-user counts below the quantile that the cluster-robust variance of
event-level quantiles needs); ``experiment_scorecard`` feeds them to ``domain.analysis``.
Sums are exact (integers in millionths, squares in Int128) and become floats once, in Python.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.analysis import DEFAULT_PLANNED_DAYS, Scorecard, VariantSums, build_scorecard
from domain.experiments.aggregate import Experiment
from domain.experiments.values import MetricKind
from domain.statistics import (
    BOUND_Z,
    AnalysisOptions,
    QuantileClusteredStatistic,
    QuantileStatistic,
)
from infrastructure.log_statistics import MICROS, exact_float, period_starts_of
from projections.analytics.client import ClickHouseClient

SQUARED = MICROS**2
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def raw_metrics(experiment: Experiment) -> list[str]:
    """Metric keys whose events are recorded (ratio metrics name two of them)."""
    keys: list[str] = []
    for metric in experiment.metrics:
        parts = (
            [metric.numerator or "", metric.denominator or ""]
            if metric.kind == MetricKind.RATIO
            else [metric.key]
        )
        keys += [k for k in parts if k and k not in keys]
    return keys


def ratio_pairs(experiment: Experiment) -> list[tuple[str, str]]:
    return [
        (m.numerator, m.denominator)
        for m in experiment.metrics
        if m.kind == MetricKind.RATIO and m.numerator and m.denominator
    ]


SEGMENTS = """
    SELECT participation_id, kv.1 AS dim, kv.2 AS seg
    FROM (SELECT participation_id, arrayJoin(JSONExtractKeysAndValues(segment, 'String')) AS kv
          FROM {db}.exposures FINAL WHERE experiment_key = {key:String})
    WHERE {dim:String} = '' OR dim = {dim:String}
"""
"""Each exposed user's segment per dimension (device, country, ...) of their exposure: one
dimension, or every one (``dim = ''``)."""

SEGMENT_KEYS = ("dim", "seg")


def period_starts(experiment: Experiment) -> list[int]:
    """`period_starts_of` in µs since the epoch, as the model stores exposure times."""
    return [(since - EPOCH) // MICROSECOND for since in period_starts_of(experiment)]


def variant_sums_query(
    database: str, experiment: Experiment, segmented: bool = False
) -> tuple[str, dict[str, Any], list[str], list[tuple[str, str]]]:
    """The SQL (same for chDB and a server), its parameters, metric keys and ratio pairs.
    ``segmented``: grouped by segment (`SEGMENTS`, parameter ``dim``) before variant."""
    metrics = raw_metrics(experiment)
    pairs = ratio_pairs(experiment)
    params: dict[str, Any] = {"key": experiment.key}
    inner = ["participation_id", "variant", "mismatched"]
    outer = ["variant", "count()", "sum(mismatched)"]
    for i, metric in enumerate(metrics):
        params[f"m{i}"] = metric
        at = f"indexOf(metric_keys, {{m{i}:String}})"
        inner += [f"toInt128(post_micros[{at}]) AS v{i}", f"toInt128(pre_micros[{at}]) AS p{i}"]
        outer += [
            f"toString(sum(v{i}))",
            f"toString(sum(v{i} * v{i}))",
            f"toString(sum(p{i}))",
            f"toString(sum(p{i} * p{i}))",
            f"toString(sum(v{i} * p{i}))",
            f"countIf(p{i} != 0)",
        ]
    for num, den in pairs:
        outer.append(f"toString(sum(v{metrics.index(num)} * v{metrics.index(den)}))")
    periods = period_starts(experiment)
    if periods:  # users by the allocation period of their first exposure (last columns)
        params["periods"] = periods
        inner.append("arrayCount(s -> s <= first_exposed_at_us, {periods:Array(Int64)}) AS period")
        outer += [f"countIf(period = {p})" for p in range(len(periods) + 1)]
    source = (
        f"(SELECT {', '.join(inner)} FROM {database}.user_metrics FINAL "
        "WHERE experiment_key = {key:String} AND exposed = 1 AND variant != '')"
    )
    keys = ["variant"]
    if segmented:
        segments = SEGMENTS.replace("{db}", database)
        source = f"{source} AS u INNER JOIN ({segments}) AS s USING participation_id"
        keys = [*SEGMENT_KEYS, "variant"]
        outer = [*SEGMENT_KEYS, *outer]
    groups = ", ".join(keys)
    sql = f"SELECT {', '.join(outer)} FROM {source} GROUP BY {groups} ORDER BY {groups}"
    return sql, params, metrics, pairs


EVENT_VALUES = """
    SELECT u.variant AS variant, e.participation_id AS unit, e.value AS value
    FROM {db}.metric_events AS e FINAL
    INNER JOIN (
        SELECT participation_id, variant FROM {db}.user_metrics FINAL
        WHERE experiment_key = {key:String} AND exposed = 1 AND variant != ''
    ) AS u USING participation_id
    WHERE e.experiment_key = {key:String} AND e.metric = {metric:String} AND e.excluded = ''
"""

USER_VALUES = """
    SELECT variant, participation_id AS unit,
           post_sums[indexOf(metric_keys, {metric:String})] AS value
    FROM {db}.user_metrics FINAL
    WHERE experiment_key = {key:String} AND exposed = 1 AND variant != ''
      AND post_counts[indexOf(metric_keys, {metric:String})] > 0
"""

# Ranks as in domain.statistics.quantiles.order_statistic_ranks (same float arithmetic).
QUANTILE = """
WITH
    picked AS ({values}),
    bounds AS (
        SELECT {keys}, length(sorted) AS n, toFloat64(n) AS size, size * {{level:Float64}} AS middle,
               {{z:Float64}} * sqrt(size * {{level:Float64}} * (1 - {{level:Float64}})) AS half,
               sorted[toUInt64(least(greatest(ceil(middle), 1.), size))] AS q,
               sorted[toUInt64(least(greatest(floor(middle - half), 1.), size))] AS lower,
               sorted[toUInt64(least(greatest(ceil(middle + half), 1.), size))] AS upper
        FROM (SELECT {keys}, arraySort(groupArray(value)) AS sorted FROM picked GROUP BY {keys})
    ),
    units AS (
        SELECT {picked_keys}, p.unit AS unit, countIf(p.value <= b.q) AS below,
               count() AS events
        FROM picked AS p INNER JOIN bounds AS b USING ({keys})
        GROUP BY {keys}, unit
    )
SELECT {bound_keys}, b.n, b.q, b.lower, b.upper, count(), sum(below), sum(below * below),
       sum(events), sum(events * events), sum(below * events)
FROM units AS s INNER JOIN bounds AS b USING ({keys})
GROUP BY {bound_keys}, b.n, b.q, b.lower, b.upper
ORDER BY {bound_keys}
"""

SEGMENTED_VALUES = """
    SELECT s.dim AS dim, s.seg AS seg, v.variant AS variant, v.unit AS unit, v.value AS value
    FROM ({values}) AS v INNER JOIN ({segments}) AS s ON v.unit = s.participation_id
"""


def quantile_query(database: str, per_user: bool, segmented: bool = False) -> str:
    """One query: a quantile metric's statistic per variant (events, or users' totals);
    ``segmented``: per segment and variant (`SEGMENTS`, parameter ``dim``)."""
    values = (USER_VALUES if per_user else EVENT_VALUES).strip()
    keys = ["variant"]
    if segmented:
        values = SEGMENTED_VALUES.format(values=values, segments=SEGMENTS.strip()).strip()
        keys = [*SEGMENT_KEYS, "variant"]
    return QUANTILE.format(
        values=values,
        keys=", ".join(keys),
        picked_keys=", ".join(f"p.{k} AS {k}" for k in keys),
        bound_keys=", ".join(f"b.{k}" for k in keys),
    ).replace("{db}", database)


Group = tuple[str, ...]
"""(variant,), or (dimension, segment, variant) when segmented."""


def _split(row: tuple[Any, ...], dimension: str | None) -> tuple[Group, tuple[Any, ...]]:
    """A result row's group, and the row from its variant on (the layout of an unsegmented
    row): segmented queries lead with `SEGMENT_KEYS`."""
    width = 1 if dimension is None else 1 + len(SEGMENT_KEYS)
    return tuple(map(str, row[:width])), tuple(row[width - 1 :])


def _parameters(dimension: str | None) -> dict[str, Any]:
    return {} if dimension is None else {"dim": dimension}


def quantile_statistics(
    client: ClickHouseClient, database: str, experiment: Experiment
) -> dict[str, dict[str, QuantileStatistic]]:
    """variant -> quantile metric -> its statistic, one query per quantile metric."""
    return {group[0]: found for group, found in _quantiles(client, database, experiment).items()}


def _quantiles(
    client: ClickHouseClient,
    database: str,
    experiment: Experiment,
    dimension: str | None = None,
    settings: str = "",
    wanted: Collection[str] | None = None,
) -> dict[Group, dict[str, QuantileStatistic]]:
    """(variant,) -> quantile metric -> its statistic, one query per quantile metric (of
    ``wanted`` only, if given); with a ``dimension`` ("": every one) keyed (dimension,
    segment, variant); ``settings``: a ``SETTINGS`` clause for each query."""
    result: dict[Group, dict[str, QuantileStatistic]] = {}
    for metric in experiment.metrics:
        if metric.kind != MetricKind.QUANTILE or metric.quantile is None:
            continue
        if wanted is not None and metric.key not in wanted:
            continue
        params = {"key": experiment.key, "metric": metric.key, "level": metric.quantile}
        sql = quantile_query(database, metric.quantile_per_user, dimension is not None) + settings
        for found in client.rows(sql, {**params, **_parameters(dimension), "z": BOUND_Z}):
            group, row = _split(found, dimension)
            n, q, lower, upper = int(row[1]), *map(float, row[2:5])
            base = (n, metric.quantile, q, lower, upper)
            result.setdefault(group, {})[metric.key] = (
                QuantileStatistic(*base)
                if metric.quantile_per_user
                else QuantileClusteredStatistic(*base, int(row[5]), *map(float, row[6:11]))
            )
    return result


def variant_sums(
    client: ClickHouseClient, database: str, experiment: Experiment
) -> dict[str, VariantSums]:
    """variant -> sufficient statistics of its exposed users, in one query (and one per
    quantile metric)."""
    return {group[0]: sums for group, sums in _grouped_sums(client, database, experiment).items()}


def segment_sums(
    client: ClickHouseClient,
    database: str,
    experiment: Experiment,
    dimension: str = "",
    settings: str = "",
    quantiles: Collection[str] | None = None,
) -> dict[tuple[str, str], dict[str, VariantSums]]:
    """(dimension, segment) -> variant -> sufficient statistics of the exposed users in that
    segment of their exposure, for one dimension or (``""``) every one: the same statistics
    as `variant_sums` (ratios and quantiles included), in one query (and one per quantile
    metric, or per one of ``quantiles``: each sorts the metric's values). ``settings``: a
    ``SETTINGS`` clause for each query (limits)."""
    found: dict[tuple[str, str], dict[str, VariantSums]] = {}
    grouped = _grouped_sums(client, database, experiment, dimension, settings, quantiles)
    for (dimension_, segment, variant), sums in grouped.items():
        found.setdefault((dimension_, segment), {})[variant] = sums
    return found


def _grouped_sums(
    client: ClickHouseClient,
    database: str,
    experiment: Experiment,
    dimension: str | None = None,
    settings: str = "",
    wanted: Collection[str] | None = None,
) -> dict[Group, VariantSums]:
    sql, params, metrics, pairs = variant_sums_query(database, experiment, dimension is not None)
    found = client.rows(sql + settings, {**params, **_parameters(dimension)})
    quantiles = _quantiles(client, database, experiment, dimension, settings, wanted)
    rows = [_split(row, dimension) for row in found]
    has_pre = {
        metric
        for i, metric in enumerate(metrics)
        if sum(int(row[3 + 6 * i + 5]) for _, row in rows) > 0
    }
    result = {}
    for group, row in rows:
        users, mismatched = int(row[1]), int(row[2])
        sums, squares, pre, pre_squares, cross = {}, {}, {}, {}, {}
        for i, metric in enumerate(metrics):
            base = 3 + 6 * i
            sums[metric] = exact_float(int(row[base]))
            squares[metric] = exact_float(int(row[base + 1]), SQUARED)
            if metric in has_pre:
                pre[metric] = exact_float(int(row[base + 2]))
                pre_squares[metric] = exact_float(int(row[base + 3]), SQUARED)
                cross[metric] = exact_float(int(row[base + 4]), SQUARED)
        offset = 3 + 6 * len(metrics)
        products = {
            pair: exact_float(int(row[offset + j]), SQUARED) for j, pair in enumerate(pairs)
        }
        by_period = tuple(int(n) for n in row[offset + len(pairs) :])
        result[group] = VariantSums(
            users=users,
            sums=sums,
            sums_of_squares=squares,
            products=products,
            pre_sums=pre,
            pre_sums_of_squares=pre_squares,
            post_pre_products=cross,
            mismatched_users=mismatched,
            quantiles=quantiles.get(group, {}),
            users_by_period=by_period,
        )
    return result


def experiment_scorecard(
    client: ClickHouseClient,
    database: str,
    experiment: Experiment,
    options: AnalysisOptions | None = None,
    cuped: bool = True,
    as_of: datetime | None = None,
    planned_days: float = DEFAULT_PLANNED_DAYS,
) -> Scorecard:
    """The full analysis of one experiment over the analytics read model (projected impact
    up to ``as_of`` while it runs)."""
    sums = variant_sums(client, database, experiment)
    return build_scorecard(experiment, sums, options, cuped, as_of=as_of, planned_days=planned_days)
