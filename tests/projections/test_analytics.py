"""The ClickHouse analytics projection on chDB: incremental == rebuild, results == the log."""

from __future__ import annotations

import math
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infrastructure.bootstrap import build_app
from infrastructure.log_statistics import variant_sums as log_variant_sums
from infrastructure.settings import EventStoreSettings
from projections.analytics.client import ChdbClient, ClickHouseConnectClient
from projections.analytics.model import AnalyticsModel
from projections.analytics.queries import variant_sums, variant_sums_query
from projections.log import LogReader
from projections.runner import ProjectionRunner
from tests.projections.scenario import chunks, commands, create_experiments


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


# 6 examples: each builds two models in chDB (~2-4 s); the relational model and the replay
# are held to the same sums over random batchings in test_exact_sums
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_incremental_projection_equals_full_rebuild(chdb_client: ChdbClient, data: st.DataObject):
    app = build_app(EventStoreSettings(event_store="memory:"))
    prefix = f"h{uuid.uuid4().hex[:12]}"
    model = AnalyticsModel(app, chdb_client, prefix)
    incremental = model.projection()
    runner = ProjectionRunner(LogReader(app), incremental, batch_size=data.draw(st.integers(1, 40)))
    create_experiments(app)
    for chunk in chunks(data.draw, data.draw(commands())):
        app.record(chunk)
        if data.draw(st.booleans()):  # sometimes lag behind, sometimes catch up
            runner.catch_up()
    runner.catch_up()

    rebuilt = model.fresh_copy()
    ProjectionRunner(LogReader(app), rebuilt, batch_size=10_000).catch_up()
    assert rebuilt.position() == incremental.position() == app.head()
    assert rebuilt.checksum() == incremental.checksum()

    for key, by_variant in log_variant_sums(app).items():
        from_model = variant_sums(chdb_client, incremental.database, app.experiment(key))
        assert set(from_model) == set(by_variant)
        for variant, expected in by_variant.items():
            got = from_model[variant]
            assert got.users == expected.users
            assert got.mismatched_users == expected.mismatched_users
            for metric, total in expected.sums.items():
                assert _close(got.sums[metric], total)
                assert _close(got.sums_of_squares[metric], expected.sums_of_squares[metric])
            for pair, product in expected.products.items():
                assert _close(got.products[pair], product)
    app.close()


def test_replayed_batch_changes_nothing(chdb_client: ChdbClient, prefix: str, sqlite_app):
    """Rows written but position lost (a crash): replaying the batch double counts nothing."""
    create_experiments(sqlite_app)
    from domain.participation.commands import RecordExposure, RecordMetric
    from tests.projections.scenario import START

    sqlite_app.record(
        [RecordMetric("alpha", "u1", "m0", START, "revenue", 3.0)]  # before exposure: CUPED pre
        + [RecordExposure("alpha", f"u{i}", f"x{i}", START) for i in range(6)]
        + [RecordMetric("alpha", f"u{i}", f"r{i}", START, "revenue", 10.0 + i) for i in range(6)]
    )
    model = AnalyticsModel(sqlite_app, chdb_client, prefix)
    projection = model.projection()
    reader = LogReader(sqlite_app)
    events = reader.read(1, 10_000)
    projection.process(events, events[-1].position)
    before = projection.checksum()
    again = model.projection()  # a restarted process: state reloaded from the read model
    again.process(events, events[-1].position)
    assert again.checksum() == before
    sums = variant_sums(chdb_client, projection.database, sqlite_app.experiment("alpha"))
    assert sum(v.users for v in sums.values()) == 6
    assert sum(v.sums["revenue"] for v in sums.values()) == sum(10.0 + i for i in range(6))
    assert sum(v.pre_sums.get("revenue", 0.0) for v in sums.values()) == 3.0


def test_the_sql_fold_reads_participation_events_as_version_1():
    """The fold reads stored JSON by field name and does not upcast: giving a participation
    event an upcaster (class_version 2) needs projections/analytics/fold.py to follow."""
    from domain.participation.aggregate import Participation

    for cls in (
        Participation.Enrolled,
        Participation.Exposed,
        Participation.MetricRecorded,
        Participation.VariantMismatch,
    ):
        assert getattr(cls, "class_version", 1) == 1, cls


def test_free_form_context_cannot_shadow_event_fields(
    chdb_client: ChdbClient, prefix: str, sqlite_app
):
    """The SQL fold reads top-level fields by name; a context (which carries wire data)
    holding the same names, even nested datetimes, must not be read instead."""
    from domain.participation.commands import RecordExposure, RecordMetric
    from tests.projections.scenario import START

    create_experiments(sqlite_app)
    decoy = {
        "at": {"_type_": "datetime_iso", "_data_": "1999-01-01T00:00:00+00:00"},
        "metric": "decoy", "value": 1e9, "excluded": "after_stop", "experiment_key": "x",
        "user_id": "x", "variant": "x", "source": "x", "segment": {"device": "decoy"},
    }  # fmt: skip
    exposure = {"routing": decoy, "segment": {"device": "mobile"}}
    sqlite_app.record(
        [
            RecordExposure("alpha", "u1", "x1", START, "treatment", exposure),
            RecordMetric("alpha", "u1", "r1", START, "revenue", 4.5, {"routing": decoy}),
        ]
    )
    model = AnalyticsModel(sqlite_app, chdb_client, prefix)
    ProjectionRunner(LogReader(sqlite_app), model.projection()).catch_up()
    db = model.live_database()
    start_us = int(START.timestamp() * 1_000_000)
    assert chdb_client.rows(
        f"SELECT user_id, variant, exposed_at_us, segment FROM {db}.exposures FINAL"
    ) == [("u1", "treatment", start_us, '{"device":"mobile"}')]
    assert chdb_client.rows(
        f"SELECT metric, value, at_us, excluded FROM {db}.metric_events FINAL"
    ) == [("revenue", 4.5, start_us, "")]
    assert chdb_client.rows(
        f"SELECT experiment_key, user_id, variant, source FROM {db}.assignments FINAL"
    ) == [("alpha", "u1", "treatment", "sdk")]


def test_scorecard_and_daily_metrics(chdb_client: ChdbClient, prefix: str, sqlite_app):
    create_experiments(sqlite_app)
    from domain.participation.commands import RecordExposure, RecordMetric
    from tests.projections.scenario import START

    batch = []
    for i in range(400):
        batch.append(RecordExposure("beta", f"u{i}", f"x{i}", START))
        if i % 3 == 0:
            batch.append(RecordMetric("beta", f"u{i}", f"c{i}", START, "conversion"))
    sqlite_app.record(batch)
    model = AnalyticsModel(sqlite_app, chdb_client, prefix)
    ProjectionRunner(LogReader(sqlite_app), model.projection(), 100).catch_up()
    card = model.scorecard(sqlite_app.experiment("beta"))
    assert card.total_users == 400
    primary = card.primary()[0]
    assert primary.metric == "conversion" and not primary.error
    database = model.live_database()
    daily = chdb_client.rows(
        f"SELECT sum(users), sum(conversions) FROM {database}.experiment_daily_metrics "
        "WHERE experiment_key = 'beta' AND metric = 'conversion'"
    )
    assert daily == [(134, 134)]


def test_rebuild_switches_live_database(chdb_client: ChdbClient, prefix: str, sqlite_app):
    create_experiments(sqlite_app)
    model = AnalyticsModel(sqlite_app, chdb_client, prefix)
    old = model.projection()
    ProjectionRunner(LogReader(sqlite_app), old).catch_up()
    fresh = model.fresh_copy()
    ProjectionRunner(LogReader(sqlite_app), fresh).catch_up()
    assert model.live_database() == old.database
    model.switch(fresh)
    assert model.live_database() == fresh.database
    databases = {row[0] for row in chdb_client.rows("SELECT name FROM system.databases")}
    assert old.database not in databases


class _RecordingClient:
    """Stands in for a clickhouse-connect client object to capture what the driver sends."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object, object]] = []

    def command(self, sql: str, parameters: object = None) -> None:
        self.calls.append(("command", sql, parameters))

    def insert(self, table: str, data: object, **kwargs: object) -> None:
        self.calls.append(("insert", table, {"data": data, **kwargs}))

    def close(self) -> None: ...


def test_clickhouse_connect_driver_sends_the_same_sql(sqlite_app, prefix: str):
    create_experiments(sqlite_app)
    recorder = _RecordingClient()
    driver = ClickHouseConnectClient(recorder)
    driver.insert("db", "state", {"name": ["analytics"], "position": [7], "updated_at_us": [1]})
    driver.command("SELECT 1 WHERE 1 = {x:UInt8}", {"x": 1})
    kind, table, kwargs = recorder.calls[0]
    assert (kind, table) == ("insert", "state")
    assert kwargs == {
        "data": [["analytics"], [7], [1]],
        "column_names": ["name", "position", "updated_at_us"],
        "database": "db",
        "column_oriented": True,
    }
    assert recorder.calls[1] == ("command", "SELECT 1 WHERE 1 = {x:UInt8}", {"x": 1})
    sql, params, metrics, pairs = variant_sums_query("db", sqlite_app.experiment("alpha"))
    assert "{key:String}" in sql and params["key"] == "alpha"
    assert metrics == ["conversion", "revenue", "sessions"] and pairs == [("revenue", "sessions")]


@pytest.mark.parametrize("batch_size", [1, 7])
def test_status_reports_lag(chdb_client: ChdbClient, prefix: str, sqlite_app, batch_size: int):
    create_experiments(sqlite_app)
    model = AnalyticsModel(sqlite_app, chdb_client, prefix)
    runner = ProjectionRunner(LogReader(sqlite_app), model.projection(), batch_size)
    status = runner.status()
    assert (status.position, status.lag_events) == (0, sqlite_app.head())
    assert status.lag_seconds >= 0
    runner.catch_up()
    status = runner.status()
    assert (status.lag_events, status.lag_seconds) == (0, 0.0)
