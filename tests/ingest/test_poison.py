"""The poison messages of issue 20, each between two valid events, on a real broker.

Each used to crash `neonblue ingest` for good (the offset never advanced). Now ingest stays
up, both neighbours are stored, and the poison is dead-lettered once: by the decode bounds
(``too_deep``/``too_large``) and, with the bounds lifted, by the writer's per-message guard
(``unprocessable`` with the exception's class), so input the bounds miss cannot stop it.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from infrastructure.ingest.kafka import KafkaProducer
from infrastructure.ingest.runtime import dead_letters, kafka_loop, topic_records
from infrastructure.ingest.simulate import TrafficPlan, planned
from infrastructure.ingest.tables import tables_for
from tests.ingest.conftest import IngestEnv, setup_portfolio
from tests.ingest.support import deep, dumps, recorded_event_ids, topic_for

PLAN = TrafficPlan(experiments=1, users=10)
KEY = planned(PLAN)[0].key
BASE = {"user_id": "probe", "experiment_id": KEY, "timestamp": "2026-01-02T00:00:00Z"}
POISONS = [
    dumps({**BASE, "event_id": "p1", "event_type": "mystery", "properties": deep(300, False)}),
    dumps({**BASE, "event_id": "p2", "event_type": "exposure",
           "properties": {"segment": deep(1000, False)}}),
    dumps({**BASE, "event_id": "p3", "event_type": "exposure",
           "routing_metadata": deep(1000, False)}),
    b"z" * 800_000,
    json.dumps({**BASE, "event_id": "x" * 1_000_000, "event_type": "exposure"}).encode(),
]  # fmt: skip
BOUNDED = ["too_deep", "too_deep", "too_deep", "too_large", "too_large"]
UNBOUNDED = [
    ("unprocessable", "ValueError"),  # pydantic's serialization depth, in translate
    ("unprocessable", "RecursionError"),  # str() of the segment, in translate
    ("unprocessable", "TypeError"),  # orjson's depth limit, sealing the routing (privacy)
    ("not_json", "not JSON"),
    ("schema", "event_id"),
]


def valid(event_id: str) -> bytes:
    return json.dumps({**BASE, "event_id": event_id, "event_type": "exposure"}).encode()


@pytest.mark.parametrize("bounded", [True, False], ids=["bounded", "bounds-lifted"])
def test_each_poison_between_two_valid_events_is_dead_lettered(
    env: IngestEnv, bounded: bool
) -> None:
    settings = env.kafka
    if not bounded:
        settings = settings.model_copy(
            update={"max_event_depth": 100_000, "max_event_bytes": 10_000_000}
        )
    app = env.app()
    setup_portfolio(app, PLAN)
    topic = topic_for(settings, "user_events")
    producer = KafkaProducer(settings, **{"message.max.bytes": 2_000_000})
    for index, poison in enumerate(POISONS):
        for value in (valid(f"v{index}-before"), poison, valid(f"v{index}-after")):
            producer.produce(topic, value, b"probe")  # one partition: poison in the middle
    producer.close()

    stats = kafka_loop(app, settings).run(until_idle=3.0)

    assert stats.consumed == 3 * len(POISONS) and stats.dead_lettered == len(POISONS)
    expected_ids = {f"v{i}-{side}" for i in range(len(POISONS)) for side in ("before", "after")}
    assert recorded_event_ids(app) == dict.fromkeys(expected_ids, 1)
    letters = dead_letters(settings, 100, app=app)
    assert [d.source_offset % 3 for d in letters] == [1] * len(POISONS)  # the middle ones
    assert [d.original for d in letters] == POISONS  # whole, from the event store's table
    if bounded:
        assert [d.kind for d in letters] == BOUNDED
    else:
        assert [(d.kind, d.reason.split(":")[0]) for d in letters][:3] == UNBOUNDED[:3]
        assert [d.kind for d in letters][3:] == [kind for kind, _ in UNBOUNDED[3:]]
        assert "event_id" in letters[4].reason
    on_topic = [letter for _, letter in topic_records(settings, None)]
    assert sorted(d.coordinates for d in on_topic) == [d.coordinates for d in letters]
    for letter, poison in zip(sorted(on_topic, key=lambda d: d.coordinates), POISONS, strict=True):
        assert letter.original_length == len(poison)
        assert letter.original_sha256 == hashlib.sha256(poison).hexdigest()
        assert letter.truncated == (len(poison) > 700_000)
        assert poison.startswith(letter.original or b"")
    assert not tables_for(app).unpublished()
    app.close()
