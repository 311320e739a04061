"""Tables of the ClickHouse analytics read model (``{db}`` is the model's database).

Every table is a ReplacingMergeTree whose sorting key identifies a row and whose
version is the log position that produced it, so re-inserting rows of a replayed batch
changes nothing; readers use ``FINAL``. Times are stored as epoch microseconds
(``*_us``, what both drivers insert) with a materialised ``DateTime64`` next to them.
Per-user sums are exact integers in millionths (``post_micros``, ``pre_micros``; see
`infrastructure.log_statistics`), with their float values materialised beside them.
"""

from __future__ import annotations


def _time(name: str) -> str:
    return (
        f"{name}_us Int64, "
        f"{name} DateTime64(6, 'UTC') MATERIALIZED fromUnixTimestamp64Micro({name}_us, 'UTC')"
    )


TABLES: dict[str, str] = {
    "experiments": f"""
        experiment_key String, experiment_id String, name String, status String,
        hypothesis String, description String, tags String, owner String,
        control_variant String, variants String, metrics String,
        {_time("started_at")}, {_time("stopped_at")}, decision String, winner String,
        version UInt64, position UInt64
    """,
    "assignments": f"""
        participation_id String, experiment_key String, user_id String, variant String,
        source String, {_time("enrolled_at")}, position UInt64
    """,
    "exposures": f"""
        experiment_key String, participation_id String, user_id String, variant String,
        {_time("exposed_at")}, segment String, position UInt64
    """,
    "metric_events": f"""
        experiment_key String, participation_id String, user_id String, variant String,
        metric String, value Float64, {_time("at")}, excluded String, position UInt64
    """,
    "user_metrics": f"""
        experiment_key String, participation_id String, user_id String, variant String,
        exposed UInt8, {_time("first_exposed_at")}, exposures UInt32, mismatched UInt8,
        metric_keys Array(String), post_micros Array(Int64), post_counts Array(UInt32),
        pre_micros Array(Int64), position UInt64,
        post_sums Array(Float64) MATERIALIZED arrayMap(x -> x / 1000000, post_micros),
        pre_sums Array(Float64) MATERIALIZED arrayMap(x -> x / 1000000, pre_micros)
    """,
    "state": "name String, position UInt64, updated_at_us Int64",
}

KEYS: dict[str, str] = {
    "experiments": "experiment_key",
    "assignments": "participation_id",
    "exposures": "(experiment_key, participation_id)",
    "metric_events": "(experiment_key, position)",
    "user_metrics": "(experiment_key, participation_id)",
    "state": "name",
}

DAILY_VIEW = """
CREATE VIEW IF NOT EXISTS {db}.experiment_daily_metrics AS
SELECT experiment_key, date, variant, metric, count() AS users,
       countIf(total > 0) AS conversions, sum(total) AS sum, sum(total * total) AS sum_squares
FROM (
    SELECT experiment_key, toDate(at) AS date, variant, metric, participation_id,
           sum(value) AS total
    FROM {db}.metric_events FINAL
    WHERE excluded = '' AND variant != ''
    GROUP BY experiment_key, date, variant, metric, participation_id
)
GROUP BY experiment_key, date, variant, metric
"""


def create_statements(db: str) -> list[str]:
    """DDL of the whole model in database ``db`` (idempotent)."""
    statements = [f"CREATE DATABASE IF NOT EXISTS {db}"]
    for table, columns in TABLES.items():
        version = "position" if "position" in columns else ""
        statements.append(
            f"CREATE TABLE IF NOT EXISTS {db}.{table} ({columns}) "
            f"ENGINE = ReplacingMergeTree({version}) ORDER BY {KEYS[table]}"
        )
    statements.append(DAILY_VIEW.format(db=db))
    return statements


def checksum_query(db: str, table: str) -> str:
    """count and an order-independent hash of every row (after deduplication)."""
    return (
        f"SELECT count(), toString(groupBitXor(cityHash64(*))) FROM {db}.{table} FINAL"
        if table != "state"
        else f"SELECT count(), '0' FROM {db}.{table} FINAL"
    )


REGISTRY = """
CREATE TABLE IF NOT EXISTS {meta}.registry (
    name String, database String, switched_at_us Int64
) ENGINE = ReplacingMergeTree(switched_at_us) ORDER BY name
"""

BUILDS = """
CREATE TABLE IF NOT EXISTS {meta}.builds (
    database String, owner String, started_at_us Int64
) ENGINE = ReplacingMergeTree(started_at_us) ORDER BY database
"""
