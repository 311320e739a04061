"""The application on each event store (memory, SQLite, PostgreSQL): written once, run thrice."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from freezegun import freeze_time

from domain.experiments.errors import ExperimentAlreadyExists, ExperimentNotFound
from domain.experiments.values import Status, Variant
from domain.participation.commands import RecordExposure, RecordMetric
from domain.participation.errors import NotCollecting, UnknownMetric
from infrastructure.application import NeonBlue
from infrastructure.bootstrap import build_app
from infrastructure.settings import EventStoreSettings
from tests.factories import conversion_metrics, create_in_namespace, two_variants

T0 = datetime(2026, 2, 2, 10, 0, tzinfo=UTC)


@contextmanager
def reopened(app: NeonBlue, store: EventStoreSettings) -> Iterator[NeonBlue]:
    """A second application on the same store, as another process would open it."""
    if store.kind == "memory":
        yield app
        return
    other = build_app(store)
    try:
        yield other
    finally:
        other.close()


def create(app: NeonBlue, key: str = "checkout", start: bool = True) -> None:
    app.create_experiment(
        key, key.title(), variants=two_variants(), metrics=conversion_metrics(), tags=["web"]
    )
    if start:
        app.start_experiment(key, at=T0)


def test_experiment_round_trip(app: NeonBlue, store):
    create(app)
    app.pause_experiment("checkout", "incident", at=T0)
    with reopened(app, store) as other:
        experiment = other.experiment("checkout")
        assert experiment.status == Status.PAUSED
        assert experiment.variants == two_variants()
        assert experiment.metrics == conversion_metrics()
        assert experiment.started_at == T0
        assert other.experiment_keys() == ["checkout"]


def test_keys_are_unique(app: NeonBlue):
    create(app)
    with pytest.raises(ExperimentAlreadyExists, match="already exists"):
        create(app)


def test_unknown_experiment(app: NeonBlue):
    with pytest.raises(ExperimentNotFound, match="experiments list"):
        app.start_experiment("nope")


def test_snapshots_of_long_lived_experiments(app: NeonBlue, store):
    create(app)
    for i in range(60):  # enough traffic changes to pass the snapshot interval
        weight = 0.5 + (i % 2) / 10
        app.change_traffic("checkout", weights={"control": weight, "treatment": 1 - weight})
    snapshots = list(app.snapshots.get(app.experiment("checkout").id))
    assert [s.originator_version for s in snapshots] == [50]
    with reopened(app, store) as other:
        experiment = other.experiment("checkout")
        assert experiment.weights() == pytest.approx([0.6, 0.4])  # the last change (i = 59)
        assert experiment.version == 61  # the first "change", to 0.5/0.5, records nothing
        # the split in force from each time on survives the snapshot: start + 59 changes
        periods = experiment.allocation_periods()
        assert len(periods) == 60 and periods[-1][1] == pytest.approx([0.6, 0.4])
        assert periods[0] == (experiment.started_at, [0.5, 0.5])
        assert [since for since, _ in periods] == sorted(since for since, _ in periods)


def test_record_batch_with_duplicates_and_rejections(app: NeonBlue):
    create(app)
    create(app, "draft-only", start=False)
    commands = [RecordExposure("checkout", f"u{i}", f"x{i}", T0) for i in range(300)]
    commands += [
        RecordMetric("checkout", f"u{i}", f"c{i}", T0 + timedelta(minutes=1), "conversion")
        for i in range(0, 300, 3)
    ]
    commands += [RecordExposure("checkout", "u1", "x1", T0)]  # producer retry
    commands += [RecordMetric("checkout", "u2", "bad", T0, "nope")]
    commands += [RecordExposure("draft-only", "u1", "d1", T0)]
    outcome = app.record(commands)
    assert outcome.recorded == 400
    assert outcome.duplicates == 1
    assert [type(error) for _, error in outcome.rejected] == [UnknownMetric, NotCollecting]

    again = app.record(commands[:10])  # redelivered batch, in a later save
    assert again.recorded == 0 and again.duplicates == 10

    participation = app.participation("checkout", "u0")
    assert participation.exposures == 1 and participation.first_exposed_at == T0
    expected_variant, _ = app.experiment("checkout").assignment_for("u0")
    assert participation.variant == expected_variant


def test_variant_named_by_client_is_sticky(app: NeonBlue):
    create(app)
    app.record([RecordExposure("checkout", "u1", "e1", T0, variant="treatment")])
    app.record([RecordExposure("checkout", "u1", "e2", T0, variant="control")])
    participation = app.participation("checkout", "u1")
    assert participation.variant == "treatment"
    assert participation.mismatches == 1


def test_log_is_ordered_and_paged(app: NeonBlue):
    create(app)
    app.record([RecordExposure("checkout", f"u{i}", f"e{i}", T0) for i in range(5)])
    entries = list(app.log(page_size=3))
    assert [e.name for e in entries[:2]] == ["Experiment.Created", "Experiment.Started"]
    assert len(entries) == 2 + 5 * 2
    positions = [e.position for e in entries]
    assert positions == sorted(positions) and positions[-1] == app.head()
    assert [e.position for e in app.log(start=positions[4], limit=2)] == positions[4:6]


def test_event_timestamps_follow_the_clock(app: NeonBlue):
    with freeze_time("2026-04-01 12:00:00"):
        create(app, start=False)
        app.start_experiment("checkout")
    experiment = app.experiment("checkout")
    assert experiment.started_at == datetime(2026, 4, 1, 12, tzinfo=UTC)
    assert experiment.created_on == datetime(2026, 4, 1, 12, tzinfo=UTC)


def test_add_variant_persists(app: NeonBlue):
    create(app, start=False)
    app.add_variant("checkout", Variant("v3", "Third", 0.0))
    assert app.experiment("checkout").variant_keys() == ["control", "treatment", "v3"]


def test_tracked_batch_commits_with_its_position(app: NeonBlue):
    from eventsourcing.persistence import IntegrityError, Tracking

    create(app)
    batch = [RecordExposure("checkout", f"u{i}", f"e{i}", T0) for i in range(10)]
    app.record(batch, tracking=Tracking("kafka:user_events:0", 41))
    assert app.recorder.max_tracking_id("kafka:user_events:0") == 41
    head = app.head()
    with pytest.raises(IntegrityError):  # the same offset again writes nothing
        app.record(
            [*batch[:5], RecordExposure("checkout", "new", "n1", T0)],
            tracking=Tracking("kafka:user_events:0", 41),
        )
    assert app.head() == head
    assert app.participation("checkout", "new") is None


def test_command_context_is_stored_with_the_event(app: NeonBlue):
    create(app)
    context = {"source": {"topic": "user_events", "partition": 3, "offset": 17}}
    app.record([RecordExposure("checkout", "u1", "e1", T0, context=context)])
    stored = [e.event for e in app.log() if e.name == "Participation.Exposed"]
    assert stored[0].context == context


def test_experiments_of_a_namespace_start_only_on_disjoint_slices(app: NeonBlue):
    """Namespaces make experiments mutually exclusive: a start or resume onto a slice a
    running or paused experiment holds is refused, naming it; a freed slice can be taken."""
    from domain.experiments.errors import NamespaceTaken

    create_in_namespace(app, "first", 0.0, 0.5)
    create_in_namespace(app, "overlapping", 0.4, 0.9)
    create_in_namespace(app, "beside", 0.5, 1.0)  # [0, 0.5) and [0.5, 1) share no user
    app.start_experiment("first", at=T0)
    app.start_experiment("beside", at=T0)
    with pytest.raises(
        NamespaceTaken, match=r"overlaps checkout \[0, 0.5\) of 'first' \(running\)"
    ):
        app.start_experiment("overlapping", at=T0)
    app.pause_experiment("beside", at=T0)
    app.stop_experiment("first", at=T0)
    with pytest.raises(NamespaceTaken, match="'beside' \\(paused\\)"):
        app.start_experiment("overlapping", at=T0)  # a paused one still holds its slice
    app.stop_experiment("beside", at=T0)
    app.start_experiment("overlapping", at=T0)
    assert app.experiment("overlapping").status == Status.RUNNING


def test_simulated_experiments_name_the_simulation_as_who_made_them(app: NeonBlue):
    from infrastructure.audit.history import history
    from infrastructure.ingest.simulate import SIMULATION, TrafficPlan, ensure_experiments, planned

    (plan,) = planned(TrafficPlan(experiments=1, users=10))
    ensure_experiments(app, [plan], T0)
    actors = [(e.event, e.actor) for e in history(app, plan.key)]
    assert actors == [("Created", SIMULATION), ("Started", SIMULATION)]
