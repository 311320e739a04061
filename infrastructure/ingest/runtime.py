"""Wiring of ingest for entry points: the Kafka form and the in-process (embedded) form."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from infrastructure.application import NeonBlue
from infrastructure.ingest.bus import Consumer, InProcessBus, Producer, Record
from infrastructure.ingest.cdc import ChangeFeed
from infrastructure.ingest.dead_letters import DeadLetter
from infrastructure.ingest.loop import IngestLoop, IngestStats, Published
from infrastructure.ingest.prepare import PreparingWorker, WorkerSpec
from infrastructure.ingest.protection import Protector, build_protector
from infrastructure.ingest.tables import Coordinates, tables_for
from infrastructure.ingest.wire import Limits
from infrastructure.settings import KafkaSettings


def build_loop(
    app: NeonBlue,
    settings: KafkaSettings,
    consumer: Consumer,
    producer: Producer,
    on_progress: Callable[[IngestStats], None] | None = None,
    published: Published | None = None,
) -> IngestLoop:
    protector = build_protector(app)
    feed = ChangeFeed.from_settings(settings) if settings.cdc_topics else None
    return IngestLoop(
        app,
        consumer,
        producer,
        [*settings.topics, *settings.cdc_topics],
        settings.dead_letter_topic,
        batch_size=settings.batch_size,
        linger=settings.batch_linger_s,
        cache_size=settings.cache_size,
        on_progress=on_progress,
        limits=Limits(settings.max_event_bytes, settings.max_event_depth),
        max_message_bytes=settings.max_message_bytes,
        published=published,
        protector=protector,
        feed=feed,
        worker=prepare_worker(app, settings, protector, feed),
    )


def prepare_worker(
    app: NeonBlue, settings: KafkaSettings, protector: Protector | None, feed: ChangeFeed | None
) -> PreparingWorker | None:
    """A worker for the loop (`prepare`), when enabled and another process can open the
    event store (not the in-memory one)."""
    if not settings.prepare_worker or app.env.get("PERSISTENCE_MODULE") == "eventsourcing.popo":
        return None
    limits = Limits(settings.max_event_bytes, settings.max_event_depth)
    secret = None if protector is None else protector.secret
    return PreparingWorker(WorkerSpec(dict(app.env), secret, limits, feed))


def kafka_loop(
    app: NeonBlue,
    settings: KafkaSettings,
    on_progress: Callable[[IngestStats], None] | None = None,
    **consumer_overrides: Any,
) -> IngestLoop:
    """An ingest loop on Kafka; creates the source and dead-letter topics if missing."""
    from infrastructure.ingest.kafka import KafkaConsumer, KafkaProducer, ensure_topics

    ensure_topics(settings, [*settings.topics, *settings.cdc_topics, settings.dead_letter_topic])
    return build_loop(
        app,
        settings,
        KafkaConsumer(settings, **consumer_overrides),
        KafkaProducer(settings),
        on_progress,
        lambda: _coordinates(topic_records(settings, None)),
    )


def ingest_in_process(
    app: NeonBlue,
    bus: InProcessBus,
    settings: KafkaSettings | None = None,
    on_progress: Callable[[IngestStats], None] | None = None,
) -> IngestStats:
    """Ingests everything published on ``bus`` so far (the embedded default, e.g. the demo).
    Nothing more will arrive, so a partial batch is written at once: no linger."""
    settings = settings or KafkaSettings(bootstrap_servers="")
    loop = build_loop(
        app,
        settings.model_copy(update={"batch_linger_s": 0.0}),
        bus.consumer(),
        bus.producer(),
        on_progress,
        lambda: _coordinates(topic_records(settings, bus)),
    )
    return loop.run(until_idle=0.0)


def topic_records(
    settings: KafkaSettings, bus: InProcessBus | None, limit: int = 10**9
) -> list[tuple[Record, DeadLetter]]:
    """Dead letters on the dead-letter topic (oldest first per partition)."""
    if bus is not None:
        records = [
            r
            for p in range(bus.topic_partitions(settings.dead_letter_topic))
            for r in bus.read(settings.dead_letter_topic, p, 0, limit)
        ]
    else:
        from infrastructure.ingest.kafka import read_topic

        records = read_topic(settings, settings.dead_letter_topic, limit)
    letters = []
    for record in records[:limit]:
        try:
            letters.append((record, DeadLetter.decode(record.value or b"")))
        except (ValueError, TypeError, KeyError, AttributeError):  # not an envelope
            continue
    return letters


def _coordinates(letters: list[tuple[Record, DeadLetter]]) -> set[Coordinates]:
    return {letter.coordinates for _, letter in letters}


def dead_letters(
    settings: KafkaSettings,
    limit: int,
    bus: InProcessBus | None = None,
    app: NeonBlue | None = None,
    kind: str | None = None,
) -> list[DeadLetter]:
    """Dead letters, oldest first per source partition: the event store's table (whole
    originals) and, with ``settings`` for a broker or a ``bus``, those on the dead-letter
    topic the table does not hold (e.g. from an older version); ``kind`` filters."""
    found: dict[Coordinates, DeadLetter] = {}
    if app is not None:
        found.update((d.coordinates, d) for d in tables_for(app).dead_letters(limit, kind))
    if bus is not None or not settings.embedded:
        for _, letter in topic_records(settings, bus, limit):
            if kind in (None, letter.kind):
                found.setdefault(letter.coordinates, letter)
    return [found[c] for c in sorted(found)][:limit]
