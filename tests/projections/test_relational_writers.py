"""Two writers of one relational copy take turns (PostgreSQL, READ COMMITTED).

Seen in CI: a rebuild's --verify caught the live model up while `projections run
relational` followed the log in another process; both read the same stored position and
wrote the same batch, and the second failed on a duplicate key in ``assignments``.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from infrastructure.bootstrap import build_app
from infrastructure.settings import EventStoreSettings
from projections.generations import GenerationChanged
from projections.log import LogReader
from projections.relational.model import RelationalModel
from projections.runner import ProjectionRunner
from tests.projections.scenario import create_experiments, traffic
from tests.support.postgres import PostgresCluster


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_second_writer_waits_and_writes_nothing_twice(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'e.db'}"
    else:
        cluster: PostgresCluster = request.getfixturevalue("postgres")
        url = cluster.url(cluster.create_database())
    store = EventStoreSettings(data_dir=tmp_path, event_store=url)
    app = build_app(store)
    create_experiments(app)
    traffic(app, 0, 200)
    first_model, second_model = RelationalModel(app, store), RelationalModel(app, store)
    first, second = first_model.projection(), second_model.projection()
    reader = LogReader(app)
    head = app.head()
    batch = reader.read(1, head, (), stop=head)
    assert first.position() == second.position() == 0  # both expect to write from 0

    inside, go_on = threading.Event(), threading.Event()
    write = first._process

    def paused(events: Any, position: int) -> None:
        write(events, position)
        inside.set()  # rows written, not committed
        assert go_on.wait(30)

    first._process = paused  # type: ignore[method-assign]
    outcome: list[BaseException | None] = []

    def second_writes() -> None:
        try:
            second.process(batch, head)
            outcome.append(None)
        except BaseException as error:  # the outcome is the assertion
            outcome.append(error)

    thread = threading.Thread(target=first.process, args=(batch, head))
    thread.start()
    assert inside.wait(30)
    other = threading.Thread(target=second_writes)
    other.start()
    other.join(1.0)  # the second writer now waits for the first's transaction
    assert other.is_alive(), outcome
    go_on.set()
    thread.join(30)
    other.join(30)
    assert len(outcome) == 1 and isinstance(outcome[0], GenerationChanged), outcome

    ProjectionRunner(reader, second).catch_up()  # resumes from the stored position
    assert second.position() == first.position() == head
    sums = second_model.variant_sums(app.experiment("alpha"))
    assert sum(v.users for v in sums.values()) == 200
    first_model.close()
    second_model.close()
    app.close()
