"""The ClickHouse server path (clickhouse-connect) sends the same SQL as chDB runs.

No current ClickHouse server can be installed here, so the server driver
(`ClickHouseConnectClient`) is given a stand-in for clickhouse-connect's client object that
records every statement and runs it in chDB's ClickHouse with the same server-side
parameters: the analytics projection, a rebuild, the scorecard and the MCP server's queries
then go through the server path, and every statement must run (and parse on its own), bind
only ``{name:Type}`` parameters, and use nothing chDB-specific. The cluster DDL
(ReplicatedMergeTree behind Distributed) parses in chDB; running it needs Keeper and a
cluster, which chDB has not, so only its local tables run here.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from clickhouse_connect.driver.binding import bind_query

from domain.participation.commands import RecordExposure, RecordMetric
from mcp_servers.clickhouse import queries as mcp_queries
from projections.analytics.client import ChdbClient, ClickHouseConnectClient
from projections.analytics.cluster import cluster_statements
from projections.analytics.model import AnalyticsModel
from projections.analytics.schema import TABLES
from projections.log import LogReader
from projections.rebuild import rebuild
from projections.runner import ProjectionRunner
from tests.projections.scenario import START, create_experiments

PARAMETER = re.compile(r"\{(\w+):[^}]+\}")


class _Result:
    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self.result_rows = rows


class ChdbAsServer:
    """clickhouse-connect's client surface (command, query, insert), run by chDB."""

    def __init__(self, engine: ChdbClient) -> None:
        self.engine = engine
        self.statements: list[tuple[str, str, dict[str, str]]] = []

    def _bind(self, sql: str, parameters: dict[str, Any] | None) -> tuple[str, dict[str, str]]:
        """What clickhouse-connect sends: the query and its ``param_*`` values (as text)."""
        final, bound = bind_query(sql, parameters)
        assert isinstance(final, str)
        self.statements.append((sql, final, bound))
        return final, {k.removeprefix("param_"): v for k, v in bound.items()}

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> None:
        final, bound = self._bind(sql, parameters)
        self.engine.command(final, bound or None)

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> _Result:
        final, bound = self._bind(sql, parameters)
        return _Result(self.engine.rows(final, bound or None))

    def insert(self, table: str, data: list[list[Any]], column_names: list[str],
               database: str, column_oriented: bool) -> None:  # fmt: skip
        assert column_oriented and len(data) == len(column_names)
        # what clickhouse-connect sends, followed by the Native-format block
        self._bind(
            f"INSERT INTO {database}.{table} ({', '.join(column_names)}) FORMAT Native", None
        )
        self.engine.insert(database, table, dict(zip(column_names, data, strict=True)))

    def close(self) -> None: ...


def _record_traffic(app) -> None:
    batch = []
    for i in range(300):
        at = START + timedelta(hours=i)
        segment = {"segment": {"device": "mobile" if i % 2 else "desktop"}}
        batch.append(RecordExposure("beta", f"u{i}", f"x{i}", at, context=segment))
        if i % 3 == 0:
            batch.append(RecordMetric("beta", f"u{i}", f"c{i}", at, "conversion"))
        batch.append(RecordMetric("beta", f"u{i}", f"r{i}", at, "revenue", float(i % 7)))
        batch.append(RecordMetric("beta", f"u{i}", f"s{i}", at, "sessions", 1.0 + i % 2))
    app.record(batch)


def test_the_server_path_sends_only_sql_chdb_runs(chdb_client: ChdbClient, prefix: str, sqlite_app):
    create_experiments(sqlite_app)
    _record_traffic(sqlite_app)
    server = ChdbAsServer(chdb_client)
    model = AnalyticsModel(sqlite_app, ClickHouseConnectClient(server), prefix)
    ProjectionRunner(LogReader(sqlite_app), model.projection(), 250).catch_up()
    report = rebuild(LogReader(sqlite_app), model, batch_size=400, verify=True)
    assert report.differences == {}
    experiment = sqlite_app.experiment("beta")
    card = model.scorecard(experiment)
    db = model.live_database()
    client = model.client
    daily = mcp_queries.daily_metric(client, db, "beta", "conversion", 100, 5)
    segments = mcp_queries.segment_sums(client, db, experiment, "device", "conversion", 5)
    dimensions = mcp_queries.segment_dimensions(client, db, "beta", 5)
    exposures = mcp_queries.daily_exposures(client, db, "beta", 5)

    # the same answers as through chDB's own driver
    direct = AnalyticsModel(sqlite_app, chdb_client, prefix)
    assert direct.live_database() == db
    assert direct.scorecard(experiment) == card and card.total_users == 300
    assert mcp_queries.daily_metric(chdb_client, db, "beta", "conversion", 100, 5) == daily
    assert (
        mcp_queries.segment_sums(chdb_client, db, experiment, "device", "conversion", 5) == segments
    )
    assert dimensions == ["device"] and segments and exposures

    sent = server.statements
    assert len(sent) > 30
    kinds = {sql.split()[0].upper() for sql, _, _ in sent}
    assert {"CREATE", "INSERT", "SELECT", "DROP", "TRUNCATE"} <= kinds
    for sql, final, bound in sent:
        assert "Python(" not in sql  # chDB's table function: never on the server path
        assert final == sql.rstrip(";")  # bound by the server, never rewritten client-side
        assert set(PARAMETER.findall(sql)) <= {k.removeprefix("param_") for k in bound}, sql
        chdb_client.rows(f"EXPLAIN AST {final}", {k[6:]: v for k, v in bound.items()} or None)


def test_cluster_ddl_parses_and_its_local_tables_run(chdb_client: ChdbClient, prefix: str):
    statements = cluster_statements(prefix, "neonblue_cluster")
    assert len(statements) == 2 + 2 * len(TABLES)
    engines = " ".join(statements)
    assert engines.count("ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/") == len(TABLES)
    assert engines.count("ENGINE = Distributed(neonblue_cluster") == len(TABLES)
    for statement in statements:
        chdb_client.rows(f"EXPLAIN AST {statement}")
    # chDB has neither Keeper nor clusters: say so rather than pretend
    chdb_client.command(f"CREATE DATABASE IF NOT EXISTS {prefix}")
    replicated = statements[1].replace(" ON CLUSTER neonblue_cluster", "")
    with pytest.raises(RuntimeError, match=r"NO_ZOOKEEPER"):  # with the macros filled in
        chdb_client.command(replicated.replace("{shard}", "01").replace("{replica}", "r1"))
    local = cluster_statements(prefix, "neonblue_cluster", replicated=False)
    for statement in local[1:]:
        if "ENGINE = ReplacingMergeTree" in statement:
            chdb_client.command(statement.replace(" ON CLUSTER neonblue_cluster", ""))
    tables = {row[0] for row in chdb_client.rows(f"SHOW TABLES FROM {prefix}")}
    assert tables == {f"{t}_local" for t in TABLES}
    with pytest.raises(RuntimeError, match=r"CLUSTER_DOESNT_EXIST"):
        chdb_client.command(statements[2].replace(" ON CLUSTER neonblue_cluster", ""))
