"""Ingest from a real Kafka-protocol broker into PostgreSQL: exactly-once effect."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

import pytest

from infrastructure.ingest.kafka import KafkaProducer
from infrastructure.ingest.runtime import dead_letters, kafka_loop
from infrastructure.ingest.simulate import TrafficPlan, wire_events
from tests.ingest.conftest import START, IngestEnv, setup_portfolio
from tests.ingest.support import (
    produce,
    recorded_event_ids,
    run_until_stored,
    stored_offsets,
    topic_for,
)


def test_stream_is_recorded_once_despite_duplicate_delivery(env: IngestEnv) -> None:
    plan = TrafficPlan(experiments=2, users=1500, unknown_fraction=0.02)
    app = env.app()
    setup_portfolio(app, plan)
    messages = list(wire_events(plan, START))
    ids = produce(env.kafka, messages)
    ids += produce(env.kafka, messages[::7])  # producer retries: same event ids again

    reader = env.app()
    first = run_until_stored(kafka_loop(app, env.kafka), reader, env.kafka, len(ids))
    reader.close()
    # A second group re-reads every message from the start: stored offsets say nothing new
    # for this group's tracking names, and participations drop repeated event ids.
    again = kafka_loop(app, env.kafka.model_copy(update={"group_id": "other"})).run(until_idle=3.0)

    recorded = recorded_event_ids(app)
    assert set(recorded) == set(ids)
    assert max(recorded.values()) == 1
    assert first.consumed == len(ids)
    assert first.duplicates == len(messages[::7])
    assert first.unclassified > 0
    assert again.recorded == 0 and again.consumed == 0  # resumed from the stored offsets
    app.close()


def test_offsets_are_stored_with_the_events_and_resumed(env: IngestEnv) -> None:
    plan = TrafficPlan(experiments=1, users=800)
    app = env.app()
    setup_portfolio(app, plan)
    messages = list(wire_events(plan, START))
    produce(env.kafka, messages[:1000])
    reader = env.app()
    run_until_stored(kafka_loop(app, env.kafka), reader, env.kafka, 1000)
    reader.close()
    user_topic = topic_for(env.kafka, "user_events")
    stored = [app.recorder.max_tracking_id(f"kafka:{user_topic}:{p}") for p in range(4)]
    assert sum(s + 1 for s in stored if s is not None) == sum(
        1 for m in messages[:1000] if m.topic == "user_events"
    )
    produce(env.kafka, messages[1000:])
    stats = kafka_loop(app, env.kafka).run(until_idle=3.0)
    assert stats.consumed == len(messages) - 1000  # nothing before the stored offsets
    assert len(recorded_event_ids(app)) == len(messages)
    app.close()


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


@pytest.mark.slow
def test_rebalance_between_two_consumers_loses_and_duplicates_nothing(env: IngestEnv) -> None:
    plan = TrafficPlan(experiments=2, users=4000)
    app_a, app_b = env.app(), env.app()
    setup_portfolio(app_a, plan)
    messages = list(wire_events(plan, START))
    half = len(messages) // 2
    ids = produce(env.kafka, messages[:half])
    loop_a = kafka_loop(app_a, env.kafka)
    thread_a = threading.Thread(target=loop_a.run)
    thread_a.start()
    time.sleep(1.5)
    loop_b = kafka_loop(app_b, env.kafka)
    thread_b = threading.Thread(target=loop_b.run, kwargs={"until_idle": 6.0})
    thread_b.start()  # joins the group mid-stream: partitions move from A to B
    ids += produce(env.kafka, messages[half:])
    wait_until(lambda: loop_b.stats.rebalances >= 1 and loop_a.stats.rebalances >= 2)
    loop_a.stop()  # A leaves: its partitions move back to B after a flush on revoke
    wait_until(lambda: loop_b.stats.rebalances >= 2)
    thread_a.join(30)
    # B is stopped once every offset is stored (idle, it would wait 6 s more); with any
    # offset missing it exits by itself, and the checks below fail
    wait_until(
        lambda: not thread_b.is_alive() or stored_offsets(app_a, env.kafka) == len(messages), 60
    )
    loop_b.stop()
    thread_b.join(60)
    assert not thread_a.is_alive() and not thread_b.is_alive()

    recorded = recorded_event_ids(app_a)
    assert set(recorded) == set(ids)
    assert max(recorded.values()) == 1
    assert loop_a.stats.consumed > 0 and loop_b.stats.consumed > 0
    assert loop_b.stats.rebalances >= 2
    app_a.close()
    app_b.close()


def test_lifecycle_events_and_bad_input_go_where_they_belong(env: IngestEnv) -> None:
    plan = TrafficPlan(experiments=1, users=10)
    app = env.app()
    setup_portfolio(app, plan)
    key = "checkout-cta-contrast"
    app.create_experiment("draft-only", "Draft")

    def event(event_id: str, event_type: str, experiment: str = key, **extra: object) -> bytes:
        body = {"event_id": event_id, "user_id": "ops", "experiment_id": experiment,
                "event_type": event_type, "timestamp": "2026-01-02T00:00:00Z", **extra}  # fmt: skip
        return json.dumps(body).encode()

    topic = topic_for(env.kafka, "experiments_events")
    producer = KafkaProducer(env.kafka)
    for value in (
        event("l1", "experiment_paused", properties={"reason": "incident"}),
        event("l1", "experiment_paused", properties={"reason": "incident"}),  # retry
        event("l2", "experiment_resumed"),
        event("l3", "experiment_started", experiment="draft-only"),  # not startable: 0 variants
        event("l4", "experiment_stopped", experiment="no-such-experiment"),
        b"\xff\xfe not json",
        json.dumps({"event_id": "l5", "event_type": "exposure"}).encode(),
    ):
        producer.produce(topic, value, key.encode())
    producer.close()

    stats = kafka_loop(app, env.kafka).run(until_idle=3.0)

    assert app.experiment(key).status == "running"  # paused then resumed, once each
    assert stats.duplicates == 1
    letters = {d.kind: d for d in dead_letters(env.kafka, 100)}
    assert set(letters) == {"rejected", "unknown_experiment", "not_json", "schema"}
    assert "InvalidVariants" in letters["rejected"].reason
    assert "no-such-experiment" in letters["unknown_experiment"].reason
    assert letters["not_json"].original == b"\xff\xfe not json"
    assert "timestamp" in letters["schema"].reason
    assert letters["schema"].source_topic == topic and letters["schema"].source_offset == 6
    app.close()
