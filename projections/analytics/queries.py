"""Reading the analytics model: one aggregate query per experiment -> the scorecard.

``variant_sums`` returns, for every variant, the sufficient statistics the statistics
engine needs (users, per-metric sums and sums of squares, ratio cross products, CUPED
pre-exposure sums and cross products) from a single ``GROUP BY variant`` over
``user_metrics``; ``experiment_scorecard`` feeds them to ``domain.analysis``. Sums are
exact (integers in millionths, squares in Int128) and become floats once, in Python.
"""

from __future__ import annotations

from typing import Any

from domain.analysis import Scorecard, VariantSums, build_scorecard
from domain.experiments.aggregate import Experiment
from domain.experiments.values import MetricKind
from domain.statistics import AnalysisOptions
from infrastructure.log_statistics import MICROS, exact_float
from projections.analytics.client import ClickHouseClient

SQUARED = MICROS**2


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
) -> Scorecard:
    """The full analysis of one experiment over the analytics read model."""
    return build_scorecard(experiment, variant_sums(client, database, experiment), options, cuped)
