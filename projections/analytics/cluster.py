"""The analytics model's DDL for a ClickHouse cluster: the same tables (`schema.TABLES`,
`schema.KEYS`) as ``<table>_local`` ReplicatedReplacingMergeTree tables on every node,
each behind a Distributed table named like the single-server one, so every query of the
model runs unchanged.

Rows are sharded by the first column of their sorting key, so all versions of one row
land on one shard and ``FINAL`` deduplicates them there. ``{shard}`` and ``{replica}``
are the server's macros. An operator runs these statements once per model database
(``neonblue`` and each rebuild's ``neonblue_<n>``); NeonBlue itself creates and drops its
databases on one server only (deploy/README.md, "ClickHouse cluster").
"""

from __future__ import annotations

from projections.analytics.schema import DAILY_VIEW, KEYS, TABLES

ZOOKEEPER_PATH = "/clickhouse/tables/{shard}/{db}/{table}"


def cluster_statements(db: str, cluster: str, replicated: bool = True) -> list[str]:
    """DDL of the model in database ``db`` on ``cluster``. ``replicated=False`` gives
    plain ReplacingMergeTree local tables (a cluster without Keeper, or a test)."""
    on = f"ON CLUSTER {cluster}"
    statements = [f"CREATE DATABASE IF NOT EXISTS {db} {on}"]
    for table, columns in TABLES.items():
        version = "position" if "position" in columns else ""
        if replicated:
            path = ZOOKEEPER_PATH.replace("{db}", db).replace("{table}", table)
            arguments = ", ".join(a for a in (f"'{path}'", "'{replica}'", version) if a)
            engine = f"ReplicatedReplacingMergeTree({arguments})"
        else:
            engine = f"ReplacingMergeTree({version})"
        shard_by = KEYS[table].strip("()").split(",")[0].strip()
        statements += [
            f"CREATE TABLE IF NOT EXISTS {db}.{table}_local {on} ({columns}) "
            f"ENGINE = {engine} ORDER BY {KEYS[table]}",
            f"CREATE TABLE IF NOT EXISTS {db}.{table} {on} AS {db}.{table}_local "
            f"ENGINE = Distributed({cluster}, {db}, {table}_local, cityHash64({shard_by}))",
        ]
    view = DAILY_VIEW.format(db=db)
    statements.append(
        view.replace(f"{db}.experiment_daily_metrics AS", f"{db}.experiment_daily_metrics {on} AS")
    )
    return statements
