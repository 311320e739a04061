"""Reading the analytics model: one aggregate query per experiment -> the scorecard.

``variant_sums`` returns, for every variant, the sufficient statistics the statistics
engine needs (users, per-metric sums and sums of squares, ratio cross products, CUPED
pre-exposure sums and cross products) from a single ``GROUP BY variant`` over
``user_metrics``; ``experiment_scorecard`` feeds them to ``domain.analysis``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.analysis import DEFAULT_PLANNED_DAYS, Scorecard, VariantSums, build_scorecard
from domain.experiments.aggregate import Experiment
from domain.experiments.values import MetricKind
from domain.statistics import AnalysisOptions
from projections.analytics.client import ClickHouseClient


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


def variant_sums_query(
    database: str, experiment: Experiment
) -> tuple[str, dict[str, Any], list[str], list[tuple[str, str]]]:
    """The SQL (same for chDB and a server), its parameters, metric keys and ratio pairs."""
    metrics = raw_metrics(experiment)
    pairs = ratio_pairs(experiment)
    params: dict[str, Any] = {"key": experiment.key}
    inner, outer = ["variant", "mismatched"], ["variant", "count()", "sum(mismatched)"]
    for i, metric in enumerate(metrics):
        params[f"m{i}"] = metric
        at = f"indexOf(metric_keys, {{m{i}:String}})"
        inner += [f"post_sums[{at}] AS v{i}", f"pre_sums[{at}] AS p{i}"]
        outer += [
            f"sum(v{i})",
            f"sum(v{i} * v{i})",
            f"sum(p{i})",
            f"sum(p{i} * p{i})",
            f"sum(v{i} * p{i})",
            f"countIf(p{i} != 0)",
        ]
    for num, den in pairs:
        outer.append(f"sum(v{metrics.index(num)} * v{metrics.index(den)})")
    sql = (
        f"SELECT {', '.join(outer)} FROM (SELECT {', '.join(inner)} "
        f"FROM {database}.user_metrics FINAL "
        "WHERE experiment_key = {key:String} AND exposed = 1 AND variant != '') "
        "GROUP BY variant ORDER BY variant"
    )
    return sql, params, metrics, pairs


def variant_sums(
    client: ClickHouseClient, database: str, experiment: Experiment
) -> dict[str, VariantSums]:
    """variant -> sufficient statistics of its exposed users, in one query."""
    sql, params, metrics, pairs = variant_sums_query(database, experiment)
    rows = client.rows(sql, params)
    has_pre = {
        metric
        for i, metric in enumerate(metrics)
        if sum(int(row[3 + 6 * i + 5]) for row in rows) > 0
    }
    result = {}
    for row in rows:
        variant, users, mismatched = row[0], int(row[1]), int(row[2])
        sums, squares, pre, pre_squares, cross = {}, {}, {}, {}, {}
        for i, metric in enumerate(metrics):
            base = 3 + 6 * i
            sums[metric], squares[metric] = float(row[base]), float(row[base + 1])
            if metric in has_pre:
                pre[metric], pre_squares[metric] = float(row[base + 2]), float(row[base + 3])
                cross[metric] = float(row[base + 4])
        offset = 3 + 6 * len(metrics)
        products = {pair: float(row[offset + j]) for j, pair in enumerate(pairs)}
        result[variant] = VariantSums(
            users=users,
            sums=sums,
            sums_of_squares=squares,
            products=products,
            pre_sums=pre,
            pre_sums_of_squares=pre_squares,
            post_pre_products=cross,
            mismatched_users=mismatched,
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
