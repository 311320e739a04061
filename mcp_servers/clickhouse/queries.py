"""Parameterised, read-only queries of the ClickHouse analytics read model for the tools.

Every query binds its values as parameters (no string interpolation of input), caps its
rows and carries a per-query execution-time limit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from projections.analytics import queries as analytics
from projections.analytics.client import ClickHouseClient

if TYPE_CHECKING:
    from domain.analysis import VariantSums
    from domain.experiments.aggregate import Experiment


def _settings(timeout: float) -> str:
    return f" SETTINGS max_execution_time = {max(1, int(timeout))}, readonly = 1"


def daily_exposures(
    client: ClickHouseClient, db: str, key: str, timeout: float
) -> list[tuple[Any, ...]]:
    """(date, variant, newly exposed users) by day of first exposure."""
    return client.rows(
        f"SELECT toDate(exposed_at) AS d, variant, count() FROM {db}.exposures FINAL "
        "WHERE experiment_key = {key:String} AND variant != '' GROUP BY d, variant ORDER BY d"
        + _settings(timeout),
        {"key": key},
    )


def daily_exposures_by_period(
    client: ClickHouseClient, db: str, key: str, starts: list[int], timeout: float
) -> list[tuple[Any, ...]]:
    """(date, variant, allocation period, newly exposed users) by day of first exposure;
    period ``p`` began at ``starts[p - 1]`` (µs since the epoch; period 0 at the start)."""
    return client.rows(
        "SELECT toDate(exposed_at) AS d, variant, "
        "arrayCount(s -> s <= exposed_at_us, {starts:Array(Int64)}) AS period, count() "
        f"FROM {db}.exposures FINAL WHERE experiment_key = {{key:String}} AND variant != '' "
        "GROUP BY d, variant, period ORDER BY d" + _settings(timeout),
        {"key": key, "starts": starts},
    )


def daily_metric(
    client: ClickHouseClient, db: str, key: str, metric: str, limit: int, timeout: float
) -> list[tuple[Any, ...]]:
    """(date, variant, users with events, conversions, sum, sum of squares) by event day
    (``users`` counts only users with an event that day: rates need the exposures)."""
    return client.rows(
        f"SELECT date, variant, users, conversions, sum, sum_squares "
        f"FROM {db}.experiment_daily_metrics "
        "WHERE experiment_key = {key:String} AND metric = {metric:String} "
        "ORDER BY date, variant LIMIT {limit:UInt32}" + _settings(timeout),
        {"key": key, "metric": metric, "limit": limit},
    )


def segment_sums(
    client: ClickHouseClient,
    db: str,
    experiment: Experiment,
    dimension: str,
    metric: str,
    timeout: float,
) -> dict[tuple[str, str], dict[str, VariantSums]]:
    """(dimension, segment) -> variant -> the scorecard's statistics of the exposed users in
    that segment, for one dimension or (``dimension=""``) every one their exposures carry
    (quantiles only of ``metric``: each sorts the metric's values)."""
    return analytics.segment_sums(
        client, db, experiment, dimension, _settings(timeout), quantiles=[metric]
    )


def segment_dimensions(client: ClickHouseClient, db: str, key: str, timeout: float) -> list[str]:
    """The segment dimensions (keys of the exposure's segment) seen in one experiment."""
    rows = client.rows(
        "SELECT DISTINCT arrayJoin(JSONExtractKeys(segment)) AS dim "
        f"FROM {db}.exposures FINAL WHERE experiment_key = {{key:String}} ORDER BY dim"
        + _settings(timeout),
        {"key": key},
    )
    return [row[0] for row in rows]


def experiments_with_tag(
    client: ClickHouseClient, db: str, tag: str, since_us: int, until_us: int, timeout: float
) -> list[str]:
    """Keys of experiments tagged ``tag`` that started within [since, until]."""
    rows = client.rows(
        f"SELECT experiment_key FROM {db}.experiments FINAL "
        "WHERE has(JSONExtract(tags, 'Array(String)'), {tag:String}) "
        "AND started_at_us BETWEEN {since:Int64} AND {until:Int64} ORDER BY experiment_key"
        + _settings(timeout),
        {"tag": tag, "since": since_us, "until": until_us},
    )
    return [row[0] for row in rows]
