"""The prepare worker (`infrastructure/ingest/prepare.py`): a second process decodes and
protects the next batch while one is written. What is stored must not depend on it, and
ingest must go on without it when it dies."""

from __future__ import annotations

import errno
import logging
import multiprocessing
import os
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from infrastructure.application import NeonBlue
from infrastructure.bootstrap import build_app
from infrastructure.ingest.bus import InProcessBus
from infrastructure.ingest.loop import IngestStats
from infrastructure.ingest.prepare import PreparingWorker
from infrastructure.ingest.runtime import ingest_in_process
from infrastructure.ingest.simulate import TrafficPlan, wire_events
from infrastructure.ingest.tables import tables_for
from infrastructure.settings import EventStoreSettings, KafkaSettings
from tests.ingest.conftest import START, setup_portfolio
from tests.ingest.support import recorded_event_ids
from tests.support.stores import store_url

PLAN = TrafficPlan(experiments=3, users=300, sessions=3.0, unknown_fraction=0.1)
BATCH = 400


def publish_with_bad_input(bus: InProcessBus) -> int:
    """The plan's stream with retries (same event ids), malformed JSON, an unknown
    experiment and a schema error mixed in."""
    producer = bus.producer()
    count = 0
    for index, message in enumerate(wire_events(PLAN, START)):
        producer.produce(message.topic, message.value, message.key)
        count += 1
        if index % 97 == 0:  # a producer's retry
            producer.produce(message.topic, message.value, message.key)
            count += 1
        if index % 211 == 0:
            event = orjson.loads(message.value)
            for bad in (
                b"{not json",
                orjson.dumps({**event, "event_id": f"x{index}", "experiment_id": "nope"}),
                orjson.dumps({**event, "event_id": f"y{index}", "timestamp": "yesterday"}),
            ):
                producer.produce(message.topic, bad, message.key)
                count += 1
    producer.flush()
    return count


def ingest(store: EventStoreSettings, worker: bool) -> tuple[IngestStats, NeonBlue, int]:
    app = build_app(store)
    setup_portfolio(app, PLAN)
    bus = InProcessBus()
    published = publish_with_bad_input(bus)
    settings = KafkaSettings(bootstrap_servers="", batch_size=BATCH, prepare_worker=worker)
    return ingest_in_process(app, bus, settings), app, published


def outcome(stats: IngestStats, app: NeonBlue) -> dict[str, Any]:
    letters = tables_for(app).dead_letters(10_000)
    states = [n.state for n in app.recorder.select_notifications(start=1, limit=10**6)]
    return {
        "events with a raw user id": sum(b'"u0-0' in state for state in states),  # sealed
        "counts": (stats.consumed, stats.recorded, stats.duplicates, stats.unclassified),
        "stored_events": stats.stored_events,
        "dead_letters": Counter((d.coordinates, d.kind) for d in letters),
        "event_ids": recorded_event_ids(app),
    }


@pytest.fixture(autouse=True)
def start_on_small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker starts on this test's small batches and is waited for (it takes about a
    second, which the whole of this test's ingest takes)."""
    monkeypatch.setattr(PreparingWorker, "START_AT", BATCH // 2)
    monkeypatch.setattr(PreparingWorker, "READY_WAIT", 60.0)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_what_is_stored_does_not_depend_on_the_worker(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    stores = [
        EventStoreSettings(
            data_dir=tmp_path / arm, event_store=store_url(kind, tmp_path / arm, request)
        )
        for arm in ("alone", "worker")
    ]
    alone, alone_app, published = ingest(stores[0], worker=False)
    with_worker, worker_app, _ = ingest(stores[1], worker=True)
    try:
        assert "worker decode" not in alone.seconds
        assert with_worker.seconds["worker decode"] > 0  # the worker prepared batches
        assert with_worker.seconds["worker protect"] > 0
        assert alone.consumed == published
        expected = outcome(alone, alone_app)
        assert expected["dead_letters"] and expected["counts"][2] > 0  # bad input was there
        assert outcome(with_worker, worker_app) == expected
        assert multiprocessing.active_children() == []  # the worker ended with the loop
    finally:
        alone_app.close()
        worker_app.close()


def test_ingest_goes_on_without_a_worker_that_dies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    receive = PreparingWorker._receive
    killed: list[int] = []

    def receive_then_kill(self: PreparingWorker) -> None:
        receive(self)
        if not killed:  # after its first batch, as if the OOM killer took it
            killed.append(self._process.pid)
            os.kill(self._process.pid, signal.SIGKILL)

    reference, reference_app, published = ingest(
        EventStoreSettings(data_dir=tmp_path / "a", event_store=""), worker=False
    )
    monkeypatch.setattr(PreparingWorker, "_receive", receive_then_kill)
    with caplog.at_level(logging.WARNING, "infrastructure.ingest.prepare"):
        stats, app, _ = ingest(EventStoreSettings(data_dir=tmp_path / "b", event_store=""), True)
    try:
        assert killed, "the worker never prepared a batch"
        assert "ingest goes on without its prepare worker" in caplog.text
        assert "the worker process ended with exit code -9" in caplog.text
        assert stats.consumed == published
        assert outcome(stats, app) == outcome(reference, reference_app)
        assert multiprocessing.active_children() == []
    finally:
        reference_app.close()
        app.close()


def test_ingest_goes_on_when_the_worker_cannot_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def no_more_processes(self: Any) -> None:  # as fork/spawn fails at the process limit
        raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")

    reference, reference_app, _ = ingest(
        EventStoreSettings(data_dir=tmp_path / "a", event_store=""), worker=False
    )
    monkeypatch.setattr(multiprocessing.get_context("spawn").Process, "start", no_more_processes)
    with caplog.at_level(logging.WARNING, "infrastructure.ingest.prepare"):
        stats, app, _ = ingest(EventStoreSettings(data_dir=tmp_path / "b", event_store=""), True)
    try:
        assert (
            "without its prepare worker (tried again in 60 s): [Errno 11] Resource" in caplog.text
        )
        assert caplog.text.count("without its prepare worker") == 1  # not retried per batch
        assert "worker decode" not in stats.seconds
        assert outcome(stats, app) == outcome(reference, reference_app)
    finally:
        reference_app.close()
        app.close()


def test_a_worker_that_could_not_start_is_tried_again_after_the_pause(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    spawn = multiprocessing.get_context("spawn").Process
    start = spawn.start
    attempts: list[int] = []

    def fail_once(self: Any) -> None:  # e.g. the event store was down when it first started
        attempts.append(1)
        if len(attempts) == 1:
            raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")
        start(self)

    reference, reference_app, _ = ingest(
        EventStoreSettings(data_dir=tmp_path / "a", event_store=""), worker=False
    )
    monkeypatch.setattr(spawn, "start", fail_once)
    monkeypatch.setattr(PreparingWorker, "RETRY_AFTER", 0.0)
    with caplog.at_level(logging.WARNING, "infrastructure.ingest.prepare"):
        stats, app, _ = ingest(EventStoreSettings(data_dir=tmp_path / "b", event_store=""), True)
    try:
        assert len(attempts) == 2
        assert caplog.text.count("without its prepare worker") == 1
        assert stats.seconds["worker decode"] > 0  # the second worker prepared batches
        assert outcome(stats, app) == outcome(reference, reference_app)
        assert multiprocessing.active_children() == []
    finally:
        reference_app.close()
        app.close()
