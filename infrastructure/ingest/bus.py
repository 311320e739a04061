"""What ingest needs from a log: records, a consumer and a producer, and an in-process bus.

`KafkaConsumer`/`KafkaProducer` (in `kafka.py`) and `InProcessBus` implement the same
protocols, so `neonblue demo` runs the same ingest path without a broker.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

Partition = tuple[str, int]
OnAssign = Callable[[list[Partition]], dict[Partition, int]]
"""Called with newly assigned partitions; returns the offset to resume from for each."""
OnRevoke = Callable[[list[Partition]], None]
"""Called before partitions are taken away: flush pending work for them."""


@dataclass(frozen=True, slots=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None

    @property
    def source(self) -> Partition:
        return (self.topic, self.partition)


class Consumer(Protocol):
    def subscribe(
        self, topics: Sequence[str], on_assign: OnAssign, on_revoke: OnRevoke
    ) -> None: ...
    def consume(self, max_records: int, timeout: float) -> list[Record]: ...
    def assignment(self) -> list[Partition]: ...
    def high_watermarks(self) -> dict[Partition, int]: ...
    def close(self) -> None: ...


class Producer(Protocol):
    def produce(self, topic: str, value: bytes, key: bytes | None = None) -> None: ...
    def flush(self, timeout: float = 30.0) -> None: ...
    def close(self) -> None: ...


def partition_for(key: bytes | None, partitions: int) -> int:
    return zlib.crc32(key or b"") % partitions


@dataclass
class _Topic:
    partitions: list[list[tuple[bytes | None, bytes]]]


@dataclass
class InProcessBus:
    """Topics with partitions in memory; thread-safe; one consumer per group.

    The bus lives as long as its process, but the offsets ingest stored with the events
    outlive it: the first time a partition is assigned, its offsets are made to start at
    the stored one (`start_at`), so what this process published is ingested after what
    earlier buses delivered instead of being taken as already consumed.
    """

    partitions: int = 4
    _topics: dict[str, _Topic] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _base: dict[Partition, int] = field(default_factory=dict)  # offset of each first entry

    def start_at(self, topic: str, partition: int, offset: int) -> None:
        """Numbers the partition's entries from ``offset`` (once: at its first assignment)."""
        with self._lock:
            self._base.setdefault((topic, partition), max(0, offset))

    def create_topic(self, topic: str, partitions: int | None = None) -> None:
        with self._lock:
            self._topics.setdefault(
                topic, _Topic([[] for _ in range(partitions or self.partitions)])
            )

    def topic_partitions(self, topic: str) -> int:
        self.create_topic(topic)
        return len(self._topics[topic].partitions)

    def append(self, topic: str, value: bytes, key: bytes | None) -> None:
        self.create_topic(topic)
        with self._lock:
            log = self._topics[topic].partitions
            log[partition_for(key, len(log))].append((key, value))

    def read(self, topic: str, partition: int, offset: int, limit: int) -> list[Record]:
        self.create_topic(topic)
        with self._lock:
            # the first numbering used wins: once read, offsets are this bus's own
            base = self._base.setdefault((topic, partition), 0)
            offset = max(offset, base)
            entries = self._topics[topic].partitions[partition][
                offset - base : offset - base + limit
            ]
        return [Record(topic, partition, offset + i, k, v) for i, (k, v) in enumerate(entries)]

    def end(self, topic: str, partition: int) -> int:
        self.create_topic(topic)
        with self._lock:
            base = self._base.get((topic, partition), 0)
            return base + len(self._topics[topic].partitions[partition])

    def producer(self) -> InProcessProducer:
        return InProcessProducer(self)

    def consumer(self) -> InProcessConsumer:
        return InProcessConsumer(self)


@dataclass
class InProcessProducer:
    bus: InProcessBus

    def produce(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        self.bus.append(topic, value, key)

    def flush(self, timeout: float = 30.0) -> None:
        return None

    def close(self) -> None:
        return None


@dataclass
class InProcessConsumer:
    """Owns every partition of its topics; resumes where `on_assign` says."""

    bus: InProcessBus
    _positions: dict[Partition, int] = field(default_factory=dict)
    _on_revoke: OnRevoke | None = None

    def subscribe(self, topics: Sequence[str], on_assign: OnAssign, on_revoke: OnRevoke) -> None:
        partitions = [(t, p) for t in topics for p in range(self.bus.topic_partitions(t))]
        self._positions = dict(on_assign(partitions))
        for (topic, partition), offset in self._positions.items():
            self.bus.start_at(topic, partition, offset)
        self._on_revoke = on_revoke

    def consume(self, max_records: int, timeout: float) -> list[Record]:
        records: list[Record] = []
        for (topic, partition), position in self._positions.items():
            if len(records) >= max_records:
                break
            chunk = self.bus.read(topic, partition, position, max_records - len(records))
            if chunk:
                self._positions[(topic, partition)] = chunk[-1].offset + 1
                records.extend(chunk)
        if not records and timeout > 0:
            time.sleep(min(timeout, 0.05))
        return records

    def assignment(self) -> list[Partition]:
        return list(self._positions)

    def high_watermarks(self) -> dict[Partition, int]:
        return {tp: self.bus.end(*tp) for tp in self._positions}

    def close(self) -> None:
        if self._on_revoke is not None and self._positions:
            self._on_revoke(list(self._positions))
        self._positions = {}
