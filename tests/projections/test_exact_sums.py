"""The same events give the same bits: the audit replay, the relational model and the
ClickHouse fold agree exactly, whatever the batch boundaries and merge order (issue 21)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.analysis import VariantSums
from domain.participation.commands import ParticipationCommand, RecordExposure, RecordMetric
from infrastructure.bootstrap import build_app
from infrastructure.log_statistics import variant_sums as replayed
from infrastructure.settings import EventStoreSettings
from projections.analytics.client import ChdbClient
from projections.analytics.model import AnalyticsModel
from projections.analytics.queries import variant_sums as analytics_sums
from projections.log import LogReader
from projections.relational.model import RelationalModel
from projections.runner import ProjectionRunner
from tests.projections.scenario import EXPERIMENTS, START, chunks, create_experiments

VALUES = st.one_of(
    st.floats(0, 1e6, allow_nan=False, allow_infinity=False),
    st.integers(0, 10**6).map(lambda n: n / 3),  # 1/3: never exact in binary or millionths
    st.sampled_from([0.1, 0.2, 0.3, 19.99, 1e-7, 5e-7, 2.5e-6, 123456.789]),  # ties, tiny
)


@st.composite
def traffic(draw: st.DrawFn) -> list[ParticipationCommand]:
    out: list[ParticipationCommand] = []
    for index in range(draw(st.integers(1, 80))):
        experiment = draw(st.sampled_from(EXPERIMENTS))
        user = f"u{draw(st.integers(0, 12))}"
        at = START + timedelta(minutes=draw(st.integers(0, 2000)))
        if draw(st.integers(0, 3)) == 0:
            out.append(RecordExposure(experiment, user, f"e{index}", at))
        else:
            metric = draw(st.sampled_from(["revenue", "sessions"]))
            out.append(RecordMetric(experiment, user, f"e{index}", at, metric, draw(VALUES)))
    return out


def _same(got: VariantSums, want: VariantSums) -> None:
    """Bit for bit on every statistic the replay has (the analytics model also lists
    metrics nobody recorded, as 0)."""
    assert (got.users, got.mismatched_users) == (want.users, want.mismatched_users)
    for metric, total in want.sums.items():
        assert got.sums[metric] == total
        assert got.sums_of_squares[metric] == want.sums_of_squares[metric]
    for metric, total in got.sums.items():
        assert total == want.sums.get(metric, 0.0)
    for pair, product in want.products.items():
        assert got.products.get(pair, 0.0) == product


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_replay_and_both_read_models_agree_bit_for_bit_whatever_the_batches(
    tmp_path_factory, chdb_client: ChdbClient, data: st.DataObject
) -> None:
    folder = tmp_path_factory.mktemp("exact")
    store = EventStoreSettings(data_dir=folder, event_store=f"sqlite:///{folder / 'e.db'}")
    app = build_app(store)
    create_experiments(app)
    relational = RelationalModel(app, store)
    analytics = AnalyticsModel(app, chdb_client, f"x{uuid.uuid4().hex[:10]}")
    runners = [
        ProjectionRunner(LogReader(app), model.projection(), data.draw(st.integers(1, 30)))
        for model in (relational, analytics)
    ]
    for chunk in chunks(data.draw, data.draw(traffic())):
        app.record(chunk)
        for runner in runners:
            if data.draw(st.booleans()):  # each model sees its own batch boundaries
                runner.catch_up()
    for runner in runners:
        runner.catch_up()
    expected = replayed(app)
    database = analytics.live_database()
    for key in EXPERIMENTS:
        experiment = app.experiment(key)
        want = expected.get(key, {})
        from_relational = relational.variant_sums(experiment)
        from_analytics = analytics_sums(chdb_client, database, experiment)
        assert set(from_relational) == set(from_analytics) == set(want)
        for variant, sums in want.items():
            _same(from_relational[variant], sums)
            _same(from_analytics[variant], sums)
    relational.close()
    app.close()
