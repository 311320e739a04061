"""Helpers of the ingest tests: topic mapping, producing, and reading back what was stored."""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Iterable

from eventsourcing.utils import get_topic

from domain.ingestion.aggregates import ExperimentInbox, UnclassifiedEvents
from domain.participation.aggregate import Participation
from infrastructure.application import NeonBlue
from infrastructure.ingest.kafka import KafkaProducer
from infrastructure.ingest.loop import IngestLoop, IngestStats
from infrastructure.ingest.simulate import WireMessage
from infrastructure.settings import KafkaSettings
from tests.support.privacy import Opener

RECORDED = [
    get_topic(cls)
    for cls in (
        Participation.Exposed,
        Participation.MetricRecorded,
        Participation.VariantMismatch,
        ExperimentInbox.Accepted,
        UnclassifiedEvents.Received,
    )
]
ENROLLED = get_topic(Participation.Enrolled)  # who each participation's subject is


def topic_for(settings: KafkaSettings, logical: str) -> str:
    """The test's unique topic standing for a logical one (user_events -> user_events-<tag>)."""
    return next(t for t in settings.topics if t.startswith(logical + "-"))


def produce(settings: KafkaSettings, messages: Iterable[WireMessage]) -> list[str]:
    """Publishes the messages; returns their event ids (in order)."""
    producer = KafkaProducer(settings)
    ids = []
    for message in messages:
        producer.produce(topic_for(settings, message.topic), message.value, message.key)
        ids.append(json.loads(message.value)["event_id"])
    producer.close()
    return ids


def stored_offsets(app: NeonBlue, settings: KafkaSettings) -> int:
    """How many records of the source topics have their offset stored with the events."""
    names = [f"kafka:{t}:{p}" for t in settings.topics for p in range(settings.partitions)]
    stored = [app.recorder.max_tracking_id(name) for name in names]
    return sum(0 if offset is None else offset + 1 for offset in stored)


def run_until_stored(
    loop: IngestLoop, reader: NeonBlue, settings: KafkaSettings, records: int
) -> IngestStats:
    """Runs ``loop`` until the offsets of ``records`` source records are stored, then stops
    it (idle for 3 s, it would stop by itself that much later); with some never stored, it
    stops after those 3 s without records and the caller's checks fail."""
    runner = threading.Thread(target=loop.run, kwargs={"until_idle": 3.0})
    runner.start()
    while runner.is_alive() and stored_offsets(reader, settings) < records:
        time.sleep(0.05)
    loop.stop()
    runner.join(60)
    assert not runner.is_alive()
    return loop.stats


def recorded_event_ids(app: NeonBlue) -> Counter[str]:
    """How many times each wire event id was recorded in the event store (the raw ids:
    ingest stores keyed hashes of them and seals the raw ones)."""
    opened = Opener(app)
    entries = list(app.log(topics=[*RECORDED, ENROLLED]))
    opened.learn(entries)
    return Counter(
        opened(entry.originator_id, entry.event).get("event_id", entry.event.event_id)  # type: ignore[attr-defined]
        for entry in entries
        if entry.topic != ENROLLED
    )


DEEP_TOKEN = re.compile(r'"@@deep:(\d+):(\d)@@"')


def deep(depth: int, arrays: bool = True) -> str:
    """A placeholder that `dumps` replaces by JSON nested ``depth`` levels (objects, and
    arrays at every other level with ``arrays``): the standard encoder cannot write that."""
    return f"@@deep:{depth}:{int(arrays)}@@"


def nested_json(depth: int, arrays: bool = True) -> str:
    def array(level: int) -> bool:
        return arrays and level % 2 == 0

    opening = "".join("[" if array(level) else '{"n":' for level in range(depth))
    closing = "".join("]" if array(level) else "}" for level in reversed(range(depth)))
    return opening + '"leaf"' + closing


def dumps(value: object) -> bytes:
    """JSON bytes of ``value`` with every `deep` placeholder expanded."""
    text = json.dumps(value)
    return DEEP_TOKEN.sub(lambda m: nested_json(int(m[1]), m[2] == "1"), text).encode()
