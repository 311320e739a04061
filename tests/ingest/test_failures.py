"""Crashes and outages: kill -9 of ingest processes, PostgreSQL stopped mid-stream."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from infrastructure.bootstrap import build_app
from infrastructure.ingest.bus import InProcessBus
from infrastructure.ingest.errors import NotAssigned
from infrastructure.ingest.loop import Backoff, IngestLoop
from infrastructure.ingest.runtime import kafka_loop, topic_records
from infrastructure.ingest.simulate import TrafficPlan, WireMessage, wire_events
from infrastructure.ingest.tables import tables_for
from infrastructure.settings import EventStoreSettings
from tests.ingest.conftest import START, IngestEnv, kafka_settings, setup_portfolio
from tests.ingest.support import produce, recorded_event_ids, stored_offsets, topic_for
from tests.support.kafka import KafkaBroker
from tests.support.postgres import running_cluster

ROOT = Path(__file__).resolve().parents[2]


def produce_slowly(env: IngestEnv, messages: list[WireMessage], seconds: float) -> list[str]:
    """Publishes in chunks spread over ``seconds`` (so crashes land mid-stream)."""
    ids: list[str] = []
    chunks = 20
    size = len(messages) // chunks + 1
    for start in range(0, len(messages), size):
        ids += produce(env.kafka, messages[start : start + size])
        time.sleep(seconds / chunks)
    return ids


def start_ingest(env: IngestEnv, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "infrastructure.cli", "ingest", *args],
        cwd=ROOT,
        env={**os.environ, **env.environ()},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@pytest.mark.slow
def test_kill_9_at_random_points_neither_loses_nor_duplicates(env: IngestEnv) -> None:
    plan = TrafficPlan(experiments=3, users=3_000, sessions=2.0, unknown_fraction=0.01)
    app = env.app()
    setup_portfolio(app, plan)
    messages = list(wire_events(plan, START))
    assert len(messages) >= 12_000
    for index in range(0, len(messages), 100):  # bad messages all along the stream
        poison = json.dumps({"event_id": f"poison-{index}", "note": "no user"}).encode()
        messages.insert(index, WireMessage("user_events", b"poison", poison))
    produced: list[str] = []
    producer = threading.Thread(
        target=lambda: produced.extend(produce_slowly(env, messages, 8.0)), daemon=True
    )
    producer.start()
    rng = random.Random(11)
    kills = mid_stream = 0
    while producer.is_alive() or kills < 4:
        process = start_ingest(env)
        committed = stored_offsets(app, env.kafka)
        deadline = time.monotonic() + 30
        while stored_offsets(app, env.kafka) == committed and time.monotonic() < deadline:
            time.sleep(0.05)  # wait until this process commits, then kill it mid-stream
        time.sleep(rng.uniform(0.0, 1.0))
        mid_stream += producer.is_alive()  # killed while events were still flowing
        process.send_signal(signal.SIGKILL)
        process.wait()
        kills += 1
    producer.join()
    before_final = sum(recorded_event_ids(app).values())
    # killed processes committed part of the stream, and at least one died mid-stream (on a
    # fast machine the later ones may already have caught up with everything)
    assert 0 < before_final <= len(produced) and mid_stream >= 1
    # restarted after a kill -9, the group's rebalance waits for the dead member's session
    # to time out (2 s): --until-idle counts from the assignment (it left at once before)
    final = start_ingest(env, "--until-idle", "1")
    _, stderr = final.communicate(timeout=180)
    assert final.returncode == 0, stderr.decode()[-2000:]

    recorded = recorded_event_ids(app)
    assert set(recorded) == {i for i in produced if not i.startswith("poison-")}
    assert max(recorded.values()) == 1
    poisons = sum(1 for i in produced if i.startswith("poison-"))
    on_topic = Counter(letter.coordinates for _, letter in topic_records(env.kafka, None))
    assert len(on_topic) == poisons and set(on_topic.values()) == {1}  # one each, whatever
    assert {topic for topic, _, _ in on_topic} == {topic_for(env.kafka, "user_events")}
    assert len(tables_for(app).dead_letters(10 * poisons)) == poisons
    app.close()


@pytest.mark.slow
def test_postgres_stopped_and_restarted_mid_stream_loses_nothing(
    kafka_broker: KafkaBroker,
) -> None:
    with running_cluster() as cluster:
        store = EventStoreSettings(
            event_store=cluster.url(cluster.create_database("outage")),
            postgres_connect_timeout=2,
        )
        env = IngestEnv(kafka_settings(kafka_broker), store)
        app = build_app(store)
        plan = TrafficPlan(experiments=2, users=2500)
        setup_portfolio(app, plan)
        messages = list(wire_events(plan, START))
        ingest_app = build_app(store)
        loop = kafka_loop(ingest_app, env.kafka)
        loop.backoff = Backoff(initial=0.1, maximum=1.0)
        runner = threading.Thread(target=loop.run, kwargs={"until_idle": 6.0})
        runner.start()
        ids = produce(env.kafka, messages[: len(messages) // 2])
        time.sleep(1.0)
        cluster.stop()
        ids += produce(env.kafka, messages[len(messages) // 2 :])
        deadline = time.monotonic() + 60  # each try waits out the 2 s connect timeout
        while loop.stats.retries == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        outage_retries = loop.stats.retries
        cluster.start()
        # stopped once every offset is stored (idle, it would wait 6 s more); with any
        # offset missing it exits by itself, and the checks below fail
        reader = build_app(store)
        deadline = time.monotonic() + 120
        while runner.is_alive() and time.monotonic() < deadline:
            if stored_offsets(reader, env.kafka) == len(messages):
                loop.stop()
            time.sleep(0.1)
        runner.join(120)
        assert not runner.is_alive()
        reader.close()

        app.close()  # its pooled connections died with the server
        recorded = recorded_event_ids(ingest_app)
        assert set(recorded) == set(ids)
        assert max(recorded.values()) == 1
        assert outage_retries > 0  # the batch was retried, not dropped
        ingest_app.close()


def test_until_idle_without_partitions_ends_with_a_clear_error(tmp_path: Path) -> None:
    """A group that never assigns this process any partitions is an error, not a silent
    exit with nothing ingested (a consumer that is never assigned, as such a broker leaves it)."""

    class NeverAssigned:
        def subscribe(self, *_: object) -> None:
            return None

        def consume(self, max_records: int, timeout: float) -> list[object]:
            time.sleep(timeout)
            return []

        def high_watermarks(self) -> dict[object, int]:
            return {}

        def close(self) -> None:
            return None

    app = build_app(EventStoreSettings(data_dir=tmp_path, event_store=""))
    producer = InProcessBus().producer()
    loop = IngestLoop(app, NeverAssigned(), producer, ["t"], "dead", join_timeout=0.3)  # type: ignore[arg-type]
    began = time.monotonic()
    with pytest.raises(NotAssigned, match="assigned no partitions in 0 s"):
        loop.run(until_idle=0.2)
    assert 0.5 <= time.monotonic() - began < 5
    app.close()
