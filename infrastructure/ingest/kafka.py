"""confluent-kafka adapters implementing the `bus` protocols, and topic creation.

librdkafka's own log lines (e.g. a refused connection, retried every 50 ms) go to the
``neonblue.kafka`` logger, each distinct line at most once a minute; errors that matter reach
the caller as `BrokerUnavailable` or `DeliveryFailed`, so short commands silence it.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Sequence
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer
from confluent_kafka import TopicPartition as KafkaTopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from infrastructure.ingest.bus import OnAssign, OnRevoke, Partition, Record
from infrastructure.ingest.errors import BrokerUnavailable, DeliveryFailed
from infrastructure.settings import KafkaSettings

CLIENT_LOG = logging.getLogger("neonblue.kafka")
REPEAT_SECONDS = 60.0


class _OncePerMinute(logging.Filter):
    """Lets each distinct message through at most once per `REPEAT_SECONDS`."""

    def __init__(self) -> None:
        super().__init__()
        self.last: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        text, now = record.getMessage(), time.monotonic()
        if now - self.last.get(text, -REPEAT_SECONDS) < REPEAT_SECONDS:
            return False
        if len(self.last) > 1000:
            self.last.clear()
        self.last[text] = now
        return True


if not CLIENT_LOG.filters:
    CLIENT_LOG.addFilter(_OncePerMinute())


def _config(config: dict[str, Any]) -> dict[str, Any]:
    return {**config, "logger": CLIENT_LOG}


def bootstrap_addresses(servers: str) -> list[tuple[str, int]]:
    """(host, port) of each entry of ``host:port[,host:port]`` (``[v6]:port``, an optional
    ``scheme://``); entries that do not parse are left to the client."""
    found = []
    for entry in servers.split(","):
        host, _, port = entry.strip().rpartition("://")[2].rpartition(":")
        if host and port.isdigit():
            found.append((host.strip("[]"), int(port)))
    return found


def require_reachable(servers: str, timeout: float = 2.0) -> None:
    """Raises `BrokerUnavailable` at once when no bootstrap address accepts a connection: the
    client would wait its whole metadata timeout (10 s) to say the same."""
    addresses = bootstrap_addresses(servers)
    errors = []
    for host, port in addresses:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            return
        except OSError as error:
            errors.append(f"{host}:{port}: {error.strerror or error}")
    if addresses:
        raise BrokerUnavailable(
            f"Kafka at {servers!r} is not reachable ({'; '.join(errors)}); "
            "check NEONBLUE_KAFKA_BOOTSTRAP_SERVERS."
        )


def ensure_topics(
    settings: KafkaSettings, topics: Sequence[str], partitions: int | None = None
) -> None:
    """Creates missing topics with ``partitions`` partitions (existing ones are left alone)."""
    require_reachable(settings.bootstrap_servers)
    admin = AdminClient(_config({"bootstrap.servers": settings.bootstrap_servers}))
    try:
        existing = set(admin.list_topics(timeout=10).topics)
    except KafkaException as error:
        raise BrokerUnavailable(
            f"Kafka at {settings.bootstrap_servers!r} is not reachable ({error}); "
            "check NEONBLUE_KAFKA_BOOTSTRAP_SERVERS."
        ) from None
    missing = [t for t in topics if t not in existing]
    if not missing:
        return
    futures = admin.create_topics(
        [NewTopic(t, num_partitions=partitions or settings.partitions) for t in missing]
    )
    for topic, future in futures.items():
        try:
            future.result(timeout=10)
        except KafkaException as error:
            if error.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise BrokerUnavailable(f"Cannot create topic {topic!r}: {error}") from None


class KafkaConsumer:
    """A group consumer that never commits to Kafka: positions come from the event store."""

    def __init__(self, settings: KafkaSettings, **overrides: Any) -> None:
        self._consumer = Consumer(_config(settings.consumer_config(**overrides)))
        self._assignment: list[Partition] = []

    def subscribe(self, topics: Sequence[str], on_assign: OnAssign, on_revoke: OnRevoke) -> None:
        def assigned(consumer: Consumer, partitions: list[KafkaTopicPartition]) -> None:
            wanted = [(tp.topic, tp.partition) for tp in partitions]
            offsets = on_assign(wanted)
            for tp in partitions:
                offset = offsets.get((tp.topic, tp.partition), 0)
                tp.offset = offset if offset > 0 else OFFSET_BEGINNING
            self._assignment = wanted
            consumer.assign(partitions)

        def revoked(consumer: Consumer, partitions: list[KafkaTopicPartition]) -> None:
            on_revoke([(tp.topic, tp.partition) for tp in partitions])
            self._assignment = []
            consumer.unassign()

        self._consumer.subscribe(
            list(topics), on_assign=assigned, on_revoke=revoked, on_lost=revoked
        )

    def consume(self, max_records: int, timeout: float) -> list[Record]:
        records = []
        for message in self._consumer.consume(num_messages=max_records, timeout=timeout):
            error = message.error()
            if error is not None:
                if error.fatal():
                    raise BrokerUnavailable(f"Kafka consumer failed: {error}")
                continue
            records.append(
                Record(
                    message.topic(),
                    message.partition(),
                    message.offset(),
                    message.key(),
                    message.value(),
                )
            )
        return records

    def assignment(self) -> list[Partition]:
        return list(self._assignment)

    def high_watermarks(self) -> dict[Partition, int]:
        marks = {}
        for topic, partition in self._assignment:
            _, high = self._consumer.get_watermark_offsets(
                KafkaTopicPartition(topic, partition), cached=True
            )
            if high >= 0:
                marks[(topic, partition)] = high
        return marks

    def close(self) -> None:
        self._consumer.close()


class KafkaProducer:
    """An idempotent producer; `flush` raises if any message was not acknowledged."""

    def __init__(self, settings: KafkaSettings, **overrides: Any) -> None:
        self._producer = Producer(_config(settings.producer_config(**overrides)))
        self._failures: list[str] = []

    def _delivered(self, error: KafkaError | None, message: Any) -> None:
        if error is not None:
            self._failures.append(f"{message.topic()}: {error}")

    def produce(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        """Queues one message; raises `DeliveryFailed` (one line) when the client refuses it,
        e.g. a message larger than ``message.max.bytes``."""
        while True:
            try:
                self._producer.produce(topic, value, key, on_delivery=self._delivered)
                return
            except BufferError:
                self._producer.poll(0.05)
            except KafkaException as error:
                size = len(value) + len(key or b"")
                raise DeliveryFailed(
                    f"cannot publish a message of {size:,} bytes to {topic!r}: {_one_line(error)}"
                ) from None

    def flush(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while self._producer.flush(max(0.0, deadline - time.monotonic())) > 0:
            if time.monotonic() >= deadline:
                raise DeliveryFailed(
                    f"{len(self._producer)} message(s) still undelivered after {timeout:.0f}s; "
                    "is the broker reachable?"
                )
        if self._failures:
            failures, self._failures = self._failures, []
            raise DeliveryFailed(f"{len(failures)} message(s) failed: {failures[0]}")

    def close(self, timeout: float = 5.0) -> None:
        """Delivers what is queued (up to ``timeout``) and disconnects."""
        self._producer.flush(timeout)
        self._producer.close()


def _one_line(error: KafkaException) -> str:
    detail = error.args[0] if error.args else error
    if isinstance(detail, KafkaError):
        return f"{detail.name()}: {detail.str()}"
    return str(detail).splitlines()[0]


def read_topic(settings: KafkaSettings, topic: str, limit: int, idle: float = 1.5) -> list[Record]:
    """Reads a topic from the beginning (all partitions) until ``limit`` records or ``idle``
    seconds without a record; commits nothing."""
    consumer = Consumer(
        _config(settings.consumer_config(**{"group.id": f"neonblue-reader-{time.time_ns()}"}))
    )
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if metadata is None or metadata.error is not None:
            return []
        consumer.assign(
            [KafkaTopicPartition(topic, p, OFFSET_BEGINNING) for p in metadata.partitions]
        )
        records: list[Record] = []
        last = time.monotonic()
        while len(records) < limit and time.monotonic() - last < idle:
            for message in consumer.consume(
                num_messages=min(1000, limit - len(records)), timeout=0.2
            ):
                if message.error() is None:
                    records.append(
                        Record(message.topic(), message.partition(), message.offset(),
                               message.key(), message.value())
                    )  # fmt: skip
                    last = time.monotonic()
        return sorted(records, key=lambda r: (r.partition, r.offset))
    except KafkaException as error:
        raise BrokerUnavailable(f"Cannot read {topic!r}: {error}") from None
    finally:
        consumer.close()
