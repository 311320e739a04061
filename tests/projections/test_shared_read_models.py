"""Two processes following the log into one ClickHouse or Chroma server (serve and a CLI
command catching up by itself, two analysts' `neonblue results`, `projections run` on two
hosts): every event counts once and the newest state wins, whatever the interleaving.

Each process has its own model and projection over the same database or collection; here
they share one chDB or Chroma client (the same calls a server gets), and one writer's batch
is interleaved with the other's at a point a server allows: between two of its calls.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from infrastructure.application import NeonBlue
from infrastructure.bootstrap import build_app
from infrastructure.log_statistics import variant_sums as log_variant_sums
from infrastructure.settings import EventStoreSettings
from projections.analytics.client import ChdbClient
from projections.analytics.model import AnalyticsModel
from projections.analytics.queries import variant_sums
from projections.log import LogReader
from projections.runner import ProjectionRunner
from tests.projections.scenario import create_experiments
from tests.projections.test_resilience import _traffic
from tests.support.postgres import PostgresCluster


class Interleaved:
    """A writer's connection that starts ``meanwhile`` (another process's work) once, right
    after this writer handed its batch's events to ClickHouse, and gives it a second to
    run before going on."""

    def __init__(self, client: ChdbClient, meanwhile: Callable[[], Any]) -> None:
        self.client = client
        self.meanwhile: Callable[[], Any] | None = meanwhile
        self.other: threading.Thread | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def insert_prepared(self, prepared: Any) -> None:
        self.client.insert_prepared(prepared)
        if self.meanwhile is not None:
            self.other = threading.Thread(target=self.meanwhile)
            self.meanwhile = None
            self.other.start()
            self.other.join(timeout=1.0)  # done unless it waits for this writer


@pytest.fixture(params=["sqlite", "postgres"])
def shared_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NeonBlue]:
    """The event store the writers share (their lock lives there: a file beside SQLite, an
    advisory lock in PostgreSQL)."""
    if request.param == "sqlite":
        settings = EventStoreSettings(data_dir=tmp_path, event_store="")
    else:
        cluster: PostgresCluster = request.getfixturevalue("postgres")
        settings = EventStoreSettings(event_store=cluster.url(cluster.create_database()))
    app = build_app(settings)
    yield app
    app.close()


def test_two_writers_on_one_database_count_every_event_once(
    chdb_client: ChdbClient, shared_store: NeonBlue
):
    app = shared_store
    create_experiments(app)
    _traffic(app, 0, 400)  # 1,200 participation events after the experiments' own
    head = app.head()
    prefix = f"s{uuid.uuid4().hex[:10]}"
    reference = AnalyticsModel(app, chdb_client, f"{prefix}ref")
    ProjectionRunner(LogReader(app), reference.projection()).catch_up()

    # the other process: its own model and projection over the same database
    other = ProjectionRunner(
        LogReader(app), AnalyticsModel(app, chdb_client, prefix).projection(), batch_size=300
    )
    connection = Interleaved(chdb_client, other.run_batch)
    mine = AnalyticsModel(app, connection, prefix)  # type: ignore[arg-type]
    ProjectionRunner(LogReader(app), mine.projection(), batch_size=700).run_batch()
    assert connection.other is not None
    connection.other.join(timeout=30)
    assert other.projection.position() > 0  # the other writer did run in between
    for runner in (other, ProjectionRunner(LogReader(app), mine.projection())):
        runner.catch_up()
        assert runner.projection.position() == head

    shared = AnalyticsModel(app, chdb_client, prefix)
    alpha = app.experiment("alpha")
    expected = log_variant_sums(app, "alpha")["alpha"]
    assert shared.projection().checksum() == reference.projection().checksum()
    found = variant_sums(chdb_client, shared.live_database(), alpha)
    for variant, sums in expected.items():  # (interleaved, revenue counted 747 for 631)
        assert found[variant].users == sums.users, variant
        for metric in ("revenue", "sessions"):
            assert found[variant].sums[metric] == sums.sums[metric], (variant, metric)


class Hooked:
    """A Chroma collection whose ``upsert`` first runs ``before`` (once)."""

    def __init__(self, collection: Any, before: Callable[[], Any]) -> None:
        self.collection = collection
        self.before: Callable[[], Any] | None = before

    def __getattr__(self, name: str) -> Any:
        return getattr(self.collection, name)

    def upsert(self, **kwargs: Any) -> Any:
        if self.before is not None:
            before, self.before = self.before, None
            before()
        return self.collection.upsert(**kwargs)


def test_two_knowledge_writers_leave_the_newest_document(shared_store: NeonBlue, tmp_path: Path):
    """The same on a shared Chroma server: a writer with an older batch must not overwrite
    the newer document and leave the position past it (the document would stay stale)."""
    from infrastructure.embeddings import HashingEmbedder
    from infrastructure.settings import ChromaSettings
    from projections.knowledge.model import KnowledgeModel, chroma_client

    app = shared_store
    create_experiments(app)
    running = app.head()
    app.stop_experiment("alpha")
    client = chroma_client(ChromaSettings(data_dir=tmp_path / "chroma"))
    mine, theirs = (KnowledgeModel(app, client, HashingEmbedder(), "kb").projection() for _ in "ab")
    other = ProjectionRunner(LogReader(app), theirs)
    done = threading.Event()
    theirs.meta = Hooked(theirs.meta, lambda: done.wait(30))  # its position lands last

    def meanwhile() -> None:
        thread = threading.Thread(target=other.run_batch)
        thread.start()
        thread.join(timeout=1.0)  # it wrote its document unless it waits for this writer
        meanwhile.thread = thread  # type: ignore[attr-defined]

    mine.collection = Hooked(mine.collection, meanwhile)
    ProjectionRunner(LogReader(app), mine).run_batch(head=running)  # alpha still running
    done.set()
    meanwhile.thread.join(timeout=30)  # type: ignore[attr-defined]
    ProjectionRunner(LogReader(app), mine).catch_up()

    assert mine.position() == app.head()
    stored = mine.collection.get(ids=["alpha"], include=["metadatas"])
    assert stored["metadatas"][0]["status"] == "stopped"
