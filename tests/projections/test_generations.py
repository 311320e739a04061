"""Generations of every read model: followers move to the new one, leftovers are listed
and collected, and a kill -9 at each step of a rebuild's switch leaves a consistent model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from domain.participation.commands import RecordExposure, RecordMetric
from infrastructure.application import NeonBlue
from infrastructure.bootstrap import bootstrap, build_app
from infrastructure.embeddings import HashingEmbedder
from infrastructure.settings import ChromaSettings, EventStoreSettings
from projections.analytics.client import ChdbClient
from projections.analytics.model import AnalyticsModel
from projections.generations import CRASH_AT, GenerationChanged
from projections.knowledge.model import KnowledgeModel, chroma_client
from projections.log import LogReader
from projections.rebuild import rebuild
from projections.runner import ProjectionRunner
from tests.projections.scenario import START, create_experiments
from tests.support.postgres import PostgresCluster

ROOT = Path(__file__).parents[2]
STEPS = ("registered", "built", "before-switch", "switched", "collected-one")


def _traffic(app: NeonBlue, first: int, users: int) -> None:
    batch = []
    for i in range(first, first + users):
        batch.append(RecordExposure("alpha", f"u{i}", f"x{i}", START))
        batch.append(RecordMetric("alpha", f"u{i}", f"m{i}", START, "revenue", i / 7))
    app.record(batch)


def test_analytics_follower_moves_to_the_rebuilt_database(
    chdb_client: ChdbClient, prefix: str, sqlite_app: NeonBlue
) -> None:
    create_experiments(sqlite_app)
    _traffic(sqlite_app, 0, 200)
    following = AnalyticsModel(sqlite_app, chdb_client, prefix)
    follower = ProjectionRunner(LogReader(sqlite_app), following.projection(), 100)
    follower.run_batch()
    rebuilding = AnalyticsModel(sqlite_app, chdb_client, prefix)  # another process's view
    rebuild(LogReader(sqlite_app), rebuilding, batch_size=150)
    _traffic(sqlite_app, 200, 200)
    follower.catch_up()
    assert follower.projection.database == rebuilding.live_database()
    fresh = rebuilding.fresh_copy()
    ProjectionRunner(LogReader(sqlite_app), fresh).catch_up()
    assert fresh.checksum() == follower.projection.checksum()
    assert [g.state for g in rebuilding.generations()] == ["live", "building"]
    assert [g.name for g in rebuilding.collect(force=True)] == [fresh.database]
    assert [g.state for g in rebuilding.generations()] == ["live"]


def test_a_batch_meeting_its_dropped_database_moves_to_the_live_one(
    chdb_client: ChdbClient, prefix: str, sqlite_app: NeonBlue
) -> None:
    """A rebuild's switch drops the follower's database between the follower reading its
    position and writing its batch (a race the threaded test below met once in CI)."""
    create_experiments(sqlite_app)
    _traffic(sqlite_app, 0, 100)
    projection = AnalyticsModel(sqlite_app, chdb_client, prefix).projection()
    follower = ProjectionRunner(LogReader(sqlite_app), projection, 50)
    follower.run_batch()
    dropped = projection.database
    rebuilding = AnalyticsModel(sqlite_app, chdb_client, prefix)
    rebuild(LogReader(sqlite_app), rebuilding, batch_size=150)
    assert rebuilding.live_database() != dropped
    events = LogReader(sqlite_app).read(1, 10)
    with pytest.raises(GenerationChanged):
        projection.process(events, events[-1].position)
    assert projection.database == rebuilding.live_database()
    follower.catch_up()
    fresh = rebuilding.fresh_copy()
    ProjectionRunner(LogReader(sqlite_app), fresh).catch_up()
    assert fresh.checksum() == projection.checksum()


def test_knowledge_follower_moves_to_the_rebuilt_collection(
    sqlite_app: NeonBlue, tmp_path: Path
) -> None:
    create_experiments(sqlite_app)
    client = chroma_client(ChromaSettings(data_dir=tmp_path))
    following = KnowledgeModel(sqlite_app, client, HashingEmbedder(), "kb")
    follower = ProjectionRunner(LogReader(sqlite_app), following.projection(), 3)
    follower.run_batch()
    rebuilding = KnowledgeModel(sqlite_app, client, HashingEmbedder(), "kb")
    rebuild(LogReader(sqlite_app), rebuilding, batch_size=5)
    sqlite_app.stop_experiment("alpha")
    follower.catch_up()
    assert follower.projection.collection.name == rebuilding.live_collection()
    assert [g.state for g in rebuilding.generations()] == ["live"]
    assert rebuilding.search("alpha improves conversion")[0].metadata["status"] == "stopped"


def _cli(env: dict[str, str], *args: str, crash: str | None = None) -> subprocess.CompletedProcess:
    run_env = {**env, CRASH_AT: crash} if crash else env
    return subprocess.run(
        [sys.executable, "-m", "infrastructure.cli", *args],
        cwd=ROOT, env=run_env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


READ_GENERATIONS = """
import json, sys
from infrastructure.bootstrap import bootstrap
for name in sys.stdin:
    with bootstrap(vector_index=False) as services:  # chDB opened and closed for each read
        models = services.read_models()
        models.status([name.strip()])
        print(json.dumps([g.as_dict() for g in models.generations([name.strip()])]), flush=True)
"""


@contextmanager
def _generations_of(
    env: dict[str, str], model: str, store: EventStoreSettings
) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """Reads the model's generations as `projections status --json` lists them, by the
    command's code (the positions first: reading one opens the live generation), without a
    cold start each time: in this process, or for the analytics model in one warm helper
    process (chDB admits one data directory per process, and this one holds another)."""
    if model != "analytics":

        def here() -> list[dict[str, Any]]:
            with bootstrap(store, vector_index=False) as services:
                models = services.read_models()
                models.status([model])
                return [g.as_dict() for g in models.generations([model])]

        yield here
        return
    helper = subprocess.Popen(
        [sys.executable, "-c", READ_GENERATIONS],
        cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert helper.stdin is not None and helper.stdout is not None

    def there() -> list[dict[str, Any]]:
        helper.stdin.write(model + "\n")
        helper.stdin.flush()
        line = helper.stdout.readline()
        assert line, "the generations reader exited"
        return json.loads(line)

    try:
        yield there
    finally:
        helper.communicate(timeout=60)
        assert helper.returncode == 0


@pytest.mark.slow
@pytest.mark.parametrize("model", ["relational", "analytics", "knowledge"])
def test_kill_9_at_each_step_of_a_rebuild(
    model: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = EventStoreSettings(data_dir=tmp_path, event_store=f"sqlite:///{tmp_path / 'e.db'}")
    app = build_app(store)
    create_experiments(app)
    _traffic(app, 0, 300)
    app.close()
    env = {**os.environ, "NEONBLUE_EVENT_STORE": store.event_store}
    env |= {"NEONBLUE_DATA_DIR": str(tmp_path), "NEONBLUE_EMBEDDINGS": "hashing"}
    monkeypatch.setenv("NEONBLUE_EMBEDDINGS", "hashing")  # the knowledge base read in process
    with _generations_of(env, model, store) as generations_now:
        _kill_at_each_step(env, model, generations_now)


def _kill_at_each_step(
    env: dict[str, str], model: str, generations_now: Callable[[], list[dict[str, Any]]]
) -> None:
    for step in STEPS:
        killed = _cli(env, "projections", "rebuild", model, crash=f"{model}:{step}")
        assert killed.returncode == -signal.SIGKILL, (step, killed.stdout, killed.stderr)
        generations = generations_now()
        assert [g["state"] for g in generations].count("live") == 1, (step, generations)
        live = next(g for g in generations if g["state"] == "live")
        if step in ("built", "before-switch"):
            assert any(g["leftover"] and g["state"] == "building" for g in generations), step
        if step == "switched":
            assert any(g["leftover"] for g in generations), (step, generations)
        assert all(g["leftover"] for g in generations if g is not live), generations
    assert any(g["leftover"] for g in generations)  # after the last kill (status reads only)
    collected = _cli(env, "projections", "gc")
    assert collected.returncode == 0 and "removed" in collected.stdout, collected.stdout
    assert [g["state"] for g in generations_now()] == ["live"]
    verified = _cli(env, "projections", "rebuild", model, "--verify")
    assert "verified: old and new read models are identical." in verified.stdout, (
        verified.stdout + verified.stderr
    )
    assert [g["state"] for g in generations_now()] == ["live"]


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> EventStoreSettings:
    if request.param == "sqlite":
        return EventStoreSettings(data_dir=tmp_path, event_store=f"sqlite:///{tmp_path / 'e.db'}")
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    return EventStoreSettings(data_dir=tmp_path, event_store=cluster.url(cluster.create_database()))


@pytest.mark.slow
def test_rebuilds_while_a_follower_and_a_reader_run(
    store: EventStoreSettings, chdb_client: ChdbClient, prefix: str, tmp_path: Path
) -> None:
    """chDB admits one process, so the follower and the reader are threads with their own
    model objects (what another process would hold); the relational model is tested across
    processes in test_relational_switch."""
    app = build_app(store)
    create_experiments(app)
    _traffic(app, 0, 300)
    chroma = chroma_client(ChromaSettings(data_dir=tmp_path))

    def models() -> tuple[AnalyticsModel, KnowledgeModel]:
        return (
            AnalyticsModel(app, chdb_client, prefix),
            KnowledgeModel(app, chroma, HashingEmbedder(), f"kb{prefix}"),
        )

    stop, failures = threading.Event(), []
    followers = [ProjectionRunner(LogReader(app), m.projection(), 90) for m in models()]

    def follow() -> None:
        try:
            while not stop.is_set():
                for runner in followers:
                    runner.run_batch()
        except Exception as error:  # pragma: no cover - reported below
            failures.append(repr(error))

    def read() -> None:
        analytics, knowledge = models()
        try:
            while not stop.is_set():
                analytics.scorecard(app.experiment("alpha"))
                knowledge.search("alpha improves conversion")
        except Exception as error:  # pragma: no cover - reported below
            failures.append(repr(error))

    threads = [threading.Thread(target=follow), threading.Thread(target=read)]
    for thread in threads:
        thread.start()
    try:
        for round_ in range(2):
            _traffic(app, 300 + 200 * round_, 200)
            for model in models():
                rebuild(LogReader(app), model, batch_size=120, verify=round_ == 1)
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    assert failures == []
    for runner, model in zip(followers, models(), strict=True):
        runner.catch_up()
        fresh = model.fresh_copy()
        ProjectionRunner(LogReader(app), fresh).catch_up()
        assert runner.projection.position() == fresh.position() == app.head()
        assert runner.projection.checksum() == fresh.checksum()
        assert [g.state for g in model.collect(force=True)] == ["building"]
        assert [g.state for g in model.generations()] == ["live"]
    app.close()


def test_knowledge_copies_collected_by_another_process_meanwhile(
    sqlite_app: NeonBlue, tmp_path: Path
) -> None:
    """A listing (the dashboard's, `projections status`) or a collect that meets a copy
    another process has just dropped skips it: no error, and the copy is not recreated."""
    create_experiments(sqlite_app)
    client = chroma_client(ChromaSettings(data_dir=tmp_path))
    model = KnowledgeModel(sqlite_app, client, HashingEmbedder(), "kb")
    ProjectionRunner(LogReader(sqlite_app), model.projection(), 10).catch_up()
    leftover = f"kb_{model.embedder.name}_9"
    client.create_collection(leftover)
    listed = model._numbers()
    assert leftover in listed

    def dropped_after_listing() -> dict[str, int]:
        client.delete_collection(leftover)  # the other process's collect, in between
        return listed

    model._numbers = dropped_after_listing  # type: ignore[method-assign]
    assert [g.state for g in model.generations()] == ["live"]
    assert leftover not in KnowledgeModel(sqlite_app, client, HashingEmbedder(), "kb")._numbers()

    client.create_collection(leftover)
    model._numbers = lambda: listed  # type: ignore[method-assign]
    stale = model.generations()  # listed by this process, then collected by another
    client.delete_collection(leftover)
    model.generations = lambda: stale  # type: ignore[method-assign]
    assert [g.name for g in model.collect()] == [leftover]
