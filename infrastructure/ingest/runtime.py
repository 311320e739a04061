"""Wiring of ingest for entry points: the Kafka form and the in-process (embedded) form."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from infrastructure.application import NeonBlue
from infrastructure.ingest.bus import Consumer, InProcessBus, Producer, Record
from infrastructure.ingest.dead_letters import DeadLetter
from infrastructure.ingest.loop import IngestLoop, IngestStats
from infrastructure.settings import KafkaSettings


def build_loop(
    app: NeonBlue,
    settings: KafkaSettings,
    consumer: Consumer,
    producer: Producer,
    on_progress: Callable[[IngestStats], None] | None = None,
) -> IngestLoop:
    return IngestLoop(
        app,
        consumer,
        producer,
        settings.topics,
        settings.dead_letter_topic,
        batch_size=settings.batch_size,
        linger=settings.batch_linger_s,
        cache_size=settings.cache_size,
        on_progress=on_progress,
    )


def kafka_loop(
    app: NeonBlue,
    settings: KafkaSettings,
    on_progress: Callable[[IngestStats], None] | None = None,
    **consumer_overrides: Any,
) -> IngestLoop:
    """An ingest loop on Kafka; creates the source and dead-letter topics if missing."""
    from infrastructure.ingest.kafka import KafkaConsumer, KafkaProducer, ensure_topics

    ensure_topics(settings, [*settings.topics, settings.dead_letter_topic])
    return build_loop(
        app,
        settings,
        KafkaConsumer(settings, **consumer_overrides),
        KafkaProducer(settings),
        on_progress,
    )


def ingest_in_process(
    app: NeonBlue,
    bus: InProcessBus,
    settings: KafkaSettings | None = None,
    on_progress: Callable[[IngestStats], None] | None = None,
) -> IngestStats:
    """Ingests everything published on ``bus`` so far (the embedded default, e.g. the demo)."""
    settings = settings or KafkaSettings(bootstrap_servers="")
    loop = build_loop(app, settings, bus.consumer(), bus.producer(), on_progress)
    return loop.run(until_idle=0.0)


def dead_letters(
    settings: KafkaSettings, limit: int, bus: InProcessBus | None = None
) -> list[tuple[Record, DeadLetter]]:
    """Dead letters from the dead-letter topic (oldest first per partition)."""
    if bus is not None:
        records = [
            r
            for p in range(bus.topic_partitions(settings.dead_letter_topic))
            for r in bus.read(settings.dead_letter_topic, p, 0, limit)
        ]
    else:
        from infrastructure.ingest.kafka import read_topic

        records = read_topic(settings, settings.dead_letter_topic, limit)
    return [(r, DeadLetter.decode(r.value)) for r in records[:limit] if r.value is not None]
