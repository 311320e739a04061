"""The relational read model on SQLite and on the real PostgreSQL cluster."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.participation.commands import RecordExposure, RecordMetric
from infrastructure.application import NeonBlue
from infrastructure.bootstrap import build_app
from infrastructure.settings import EventStoreSettings
from projections.log import LogReader
from projections.rebuild import rebuild
from projections.relational.model import RelationalModel
from projections.runner import ProjectionRunner
from tests.projections.scenario import START, chunks, commands, create_experiments
from tests.support.postgres import PostgresCluster

SEED_QUERY = """
SELECT e.id, v.key, count(DISTINCT a.user_id)
FROM experiments e JOIN variants v ON e.id = v.experiment_id
JOIN assignments a ON e.id = a.experiment_id JOIN users u ON a.user_id = u.user_id
WHERE a.variant = v.key GROUP BY e.id, v.key ORDER BY e.id, v.key
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> EventStoreSettings:
    if request.param == "sqlite":
        return EventStoreSettings(data_dir=tmp_path, event_store=f"sqlite:///{tmp_path / 'e.db'}")
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    return EventStoreSettings(data_dir=tmp_path, event_store=cluster.url(cluster.create_database()))


@pytest.fixture
def app(store: EventStoreSettings) -> Iterator[NeonBlue]:
    application = build_app(store)
    yield application
    application.close()


def _traffic(app: NeonBlue, users: int = 30) -> None:
    batch = []
    for i in range(users):
        batch.append(RecordExposure("alpha", f"u{i}", f"x{i}", START))
        batch.append(RecordExposure("beta", f"u{i}", f"y{i}", START))
        batch.append(RecordMetric("alpha", f"u{i}", f"m{i}", START, "revenue", float(i)))
    app.record(batch)


def test_seed_query_and_daily_counts(app: NeonBlue, store: EventStoreSettings):
    create_experiments(app)
    _traffic(app)
    model = RelationalModel(app, store)
    projection = model.projection()
    ProjectionRunner(LogReader(app), projection, batch_size=17).catch_up()
    db = projection.db
    if db.postgres:
        db.execute("SET search_path = read_model")
    rows = db.rows(SEED_QUERY)
    assert sum(n for _, _, n in rows) == 60
    assert {r[0] for r in rows} == {"alpha", "beta"}
    daily = db.rows(
        "SELECT sum(enrolled), sum(exposed), sum(metric_events) FROM daily_participation"
    )
    assert tuple(int(x) for x in daily[0]) == (60, 60, 30)
    users = db.rows("SELECT count(*), min(experiments), max(experiments) FROM users")
    assert tuple(users[0]) == (30, 2, 2)
    model.close()


def test_rebuild_verifies_and_switches(app: NeonBlue, store: EventStoreSettings):
    create_experiments(app)
    _traffic(app, 20)
    model = RelationalModel(app, store)
    live = model.projection()
    ProjectionRunner(LogReader(app), live, batch_size=9).catch_up()
    _traffic(app, 25)  # the live model lags; the rebuild catches it up to compare
    report = rebuild(LogReader(app), model, batch_size=7, verify=True)
    assert report.verified and report.differences == {}
    again = model.projection()
    assert again.position() == app.head()
    assert again.checksum() == live.checksum()
    model.close()


@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_incremental_equals_rebuild_on_postgres(postgres: PostgresCluster, data: st.DataObject):
    store = EventStoreSettings(event_store=postgres.url(postgres.create_database()))
    app = build_app(store)
    create_experiments(app)
    model = RelationalModel(app, store)
    runner = ProjectionRunner(LogReader(app), model.projection(), data.draw(st.integers(1, 30)))
    for chunk in chunks(data.draw, data.draw(commands(60))):
        app.record(chunk)
        if data.draw(st.booleans()):
            runner.catch_up()
    runner.catch_up()
    fresh = model.fresh_copy()
    ProjectionRunner(LogReader(app), fresh, 1000).catch_up()
    assert fresh.checksum() == runner.projection.checksum()
    model.close()
    app.close()


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_sums_equal_the_log_replay_whatever_the_batches(tmp_path_factory, data: st.DataObject):
    """One definition of "events -> per-user -> per-variant sums": the relational model's
    SQL agrees with the audit replay (the ClickHouse fold is held to the same replay in
    test_analytics), so the postgresql and clickhouse servers report the same numbers."""
    from infrastructure.log_statistics import variant_sums as replayed

    folder = tmp_path_factory.mktemp("sums")
    store = EventStoreSettings(data_dir=folder, event_store=f"sqlite:///{folder / 'e.db'}")
    app = build_app(store)
    create_experiments(app)
    model = RelationalModel(app, store)
    runner = ProjectionRunner(LogReader(app), model.projection(), data.draw(st.integers(1, 40)))
    for chunk in chunks(data.draw, data.draw(commands())):
        app.record(chunk)
        if data.draw(st.booleans()):
            runner.catch_up()
    runner.catch_up()
    expected_all = replayed(app)
    for key in ("alpha", "beta"):
        got = model.variant_sums(app.experiment(key))
        expected = expected_all.get(key, {})
        assert set(got) == set(expected)
        for variant, want in expected.items():
            have = got[variant]
            assert (have.users, have.mismatched_users) == (want.users, want.mismatched_users)
            assert set(have.sums) == set(want.sums)
            for metric, total in want.sums.items():
                assert have.sums[metric] == total  # bit for bit
                assert have.sums_of_squares[metric] == pytest.approx(
                    want.sums_of_squares[metric], rel=1e-9, abs=1e-9
                )
            assert set(have.products) == set(want.products)
            for pair, product in want.products.items():
                assert have.products[pair] == pytest.approx(product, rel=1e-9, abs=1e-9)
    model.close()
    app.close()
