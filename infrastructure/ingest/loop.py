"""The ingest loop: poll a batch, write it with its offsets, repeat.

Rebalances flush the pending batch before partitions go (and drop the writer's cache);
assignments seek to the offsets stored in the event store. When the event store is down
the batch is kept and retried with exponential backoff; SIGTERM/SIGINT stop the loop after
the current batch. No message can stop the loop (see `writer`).

Dead letters are committed with the batch (the event store's dead-letter table), then
published to the dead-letter topic and marked published. A process killed in between
leaves rows unpublished: whoever is assigned their partitions next publishes those that
``published`` (what the topic already holds) does not list, so each bad message has exactly
one dead letter on the topic too. A broker that refuses dead letters delays their
publication, never the batch.

Garbage collection: the writer's aggregate cache holds millions of long-lived objects, and
CPython's cyclic collector would rescan them again and again (a quarter of ingest time). So
after each committed batch the surviving heap is frozen (`gc.freeze`): collections see only
young objects. While a batch is written the collector is off: a batch allocates hundreds of
thousands of objects, almost all freed by reference counting, and collecting them as they
accumulate took a fifth of ingest's CPU. A full collection every `FULL_GC_SECONDS` reclaims
the rare cycles (e.g. a cached exception's traceback).
"""

from __future__ import annotations

import gc
import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from eventsourcing.persistence import IntegrityError, InterfaceError, OperationalError

from infrastructure.application import NeonBlue
from infrastructure.gc_pause import no_cyclic_gc
from infrastructure.ingest.bus import Consumer, Partition, Producer, Record
from infrastructure.ingest.cdc import ChangeFeed
from infrastructure.ingest.dead_letters import DeadLetter
from infrastructure.ingest.errors import IngestError, NotAssigned
from infrastructure.ingest.prepare import PreparingWorker
from infrastructure.ingest.protection import Protector
from infrastructure.ingest.tables import Coordinates
from infrastructure.ingest.wire import DEFAULT_LIMITS, Limits
from infrastructure.ingest.writer import BatchResult, BatchWriter, add_seconds

log = logging.getLogger(__name__)
UNAVAILABLE = (OperationalError, InterfaceError)
FULL_GC_SECONDS = 60.0
PUBLISH_RETRY_SECONDS = 5.0
Published = Callable[[], set[Coordinates]]
"""Reads the dead-letter topic: the source coordinates of the dead letters it holds."""


@dataclass
class IngestStats:
    consumed: int = 0
    recorded: int = 0
    duplicates: int = 0
    unclassified: int = 0
    forgotten: int = 0  # events of subjects erased before they arrived: dropped
    dead_lettered: int = 0
    skipped: int = 0
    stored_events: int = 0
    batches: int = 0
    retries: int = 0
    rebalances: int = 0
    lag: int | None = None
    last_error: str = ""
    started: float = field(default_factory=time.monotonic)
    seconds: dict[str, float] = field(default_factory=dict)  # per writer stage (benchmarks)

    def add(self, result: BatchResult) -> None:
        self.consumed += result.records
        self.recorded += result.recorded
        self.duplicates += result.duplicates
        self.unclassified += result.unclassified
        self.forgotten += result.forgotten
        self.dead_lettered += len(result.dead_letters)
        self.skipped += result.skipped
        self.stored_events += result.stored_events
        self.batches += 1
        add_seconds(self.seconds, result.seconds)

    @property
    def rate(self) -> float:
        return self.consumed / max(time.monotonic() - self.started, 1e-9)


@dataclass
class Backoff:
    initial: float = 0.2
    maximum: float = 5.0


class IngestLoop:
    """Consumes ``topics`` into the event store of ``app``; dead letters go to ``producer``."""

    def __init__(
        self,
        app: NeonBlue,
        consumer: Consumer,
        producer: Producer,
        topics: Sequence[str],
        dead_letter_topic: str,
        *,
        batch_size: int = 5000,
        linger: float = 0.2,
        cache_size: int = 500_000,
        backoff: Backoff | None = None,
        on_progress: Callable[[IngestStats], None] | None = None,
        limits: Limits = DEFAULT_LIMITS,
        max_message_bytes: int = 1_000_000,
        published: Published | None = None,
        protector: Protector | None = None,
        feed: ChangeFeed | None = None,
        worker: PreparingWorker | None = None,
        join_timeout: float = 60.0,
    ) -> None:
        self.consumer = consumer
        self.join_timeout = join_timeout
        self.producer = producer
        self.topics = list(topics)
        self.dead_letter_topic = dead_letter_topic
        self.batch_size = batch_size
        self.linger = linger
        self.backoff = backoff or Backoff()
        self.on_progress = on_progress
        self.writer = BatchWriter(app, cache_size, limits, protector, feed, worker)
        self.worker = worker
        self.tables = self.writer.tables
        self.max_message_bytes = max_message_bytes
        self.published = published
        self._unpublished_check_at: float | None = 0.0  # None: nothing left to publish
        self.stats = IngestStats()
        self._pending: list[Record] = []
        self._ahead: list[Record] = []  # the next batch, being prepared by the worker
        self._stop = threading.Event()
        self._full_gc_at = time.monotonic() + FULL_GC_SECONDS
        self._assigned_at: float | None = None  # the last (re)assignment of partitions

    def stop(self, *_: object) -> None:
        """Asks the loop to finish its current batch and return (signal-handler safe)."""
        self._stop.set()

    def install_signal_handlers(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self.stop)

    def run(self, until_idle: float | None = None) -> IngestStats:
        """Runs until `stop()` or, with ``until_idle``, until nothing arrived for that long
        while this process held its partitions: a group's (re)balance can take a crashed
        member's session timeout, and nothing can arrive before it ends. `NotAssigned` when
        no partitions come within ``until_idle`` + ``join_timeout``."""
        started = time.monotonic()
        self.consumer.subscribe(self.topics, self._on_assign, self._on_revoke)
        last_record = started
        last_progress = 0.0
        try:
            while not self._stop.is_set():
                with no_cyclic_gc():  # polling allocates the batch's records
                    got = self._fill()
                    if self._pending:
                        self.writer.prepare_ahead(self._ahead)
                        self._flush()
                now = time.monotonic()
                check_at = self._unpublished_check_at
                if check_at is not None and now >= check_at and self.writer.positions:
                    self._publish_unpublished()
                if got:
                    last_record = now
                if self.on_progress and now - last_progress >= 0.5:
                    last_progress = now
                    self._report()
                if (
                    until_idle is not None
                    and not got
                    and self._idle(now, started, last_record, until_idle)
                ):
                    break
        finally:
            if not self._stop.is_set():
                self._pending.extend(self._ahead)
                self._ahead = []
                if self._pending:
                    self._flush()
            self.consumer.close()
            self.producer.close()
            if self.worker is not None:
                add_seconds(self.stats.seconds, self.worker.seconds)
                self.worker.close()
            self._report()
        return self.stats

    def _idle(self, now: float, started: float, last_record: float, until_idle: float) -> bool:
        """Whether nothing arrived for ``until_idle`` since the partitions were assigned."""
        if self._assigned_at is None:
            waited = until_idle + self.join_timeout
            if now - started >= waited:
                raise NotAssigned(
                    f"the consumer group assigned no partitions in {waited:.0f} s "
                    "(another member may still hold them, or the broker is not coordinating "
                    "the group); nothing was ingested by this process"
                )
            return False
        return now - max(last_record, self._assigned_at) >= until_idle

    def _fill(self) -> bool:
        """Polls until the batch is full or the linger time is over; True if anything came.
        With a prepare worker, a full batch is followed by the next one, if already there,
        for the worker to prepare while this one is written."""
        deadline = time.monotonic() + self.linger
        got = bool(self._ahead)
        self._pending.extend(self._ahead)
        self._ahead = []
        while len(self._pending) < self.batch_size and not self._stop.is_set():
            remaining = deadline - time.monotonic()  # one poll even with no linger
            records = self.consumer.consume(
                self.batch_size - len(self._pending), max(0.0, min(remaining, 0.1))
            )
            if records:
                got = True
                self._pending.extend(records)
            if remaining <= 0:
                break
        if self.worker is not None and len(self._pending) >= self.batch_size:
            self._ahead = self.consumer.consume(self.batch_size, 0.0)
        return got

    def _flush(self) -> None:
        """Writes the pending batch, retrying until it is committed (or the loop is stopped)."""
        with no_cyclic_gc():
            self._flush_batch()
        self._settle_heap()

    def _flush_batch(self) -> None:
        batch = self._pending
        delay = self.backoff.initial
        while batch:
            try:
                result = self._write(batch)
            except IntegrityError as error:
                # Another writer got there first (rebalance race) or offsets were replayed:
                # re-read the stored positions and redo the batch against fresh state.
                self._note_retry(error)
                self._retry_positions({r.source for r in batch})
                continue
            except UNAVAILABLE as error:
                self._note_retry(error)
                if self._stop.wait(delay):
                    self._pending = []  # not committed: replayed from the stored offsets
                    return
                delay = min(delay * 2, self.backoff.maximum)
                continue
            self.stats.add(result)
            self.stats.last_error = ""
            self._publish(result.dead_letters)
            break
        self._pending = []

    def _write(self, batch: list[Record]) -> BatchResult:
        try:
            return self.writer.write(batch)
        except BaseException:
            # part of the batch may have committed, with dead letters not yet published
            self._unpublished_check_at = 0.0
            raise

    def _settle_heap(self) -> None:
        """Freezes what survived the batch; a full collection now and then (module docstring)."""
        if time.monotonic() >= self._full_gc_at:
            gc.unfreeze()
            gc.collect()
            self._full_gc_at = time.monotonic() + FULL_GC_SECONDS
        gc.freeze()

    def _note_retry(self, error: Exception) -> None:
        self.stats.retries += 1
        self.stats.last_error = f"{type(error).__name__}: {error}".splitlines()[0][:200]
        log.warning("ingest batch not committed, retrying: %s", self.stats.last_error)

    def _retry_positions(self, partitions: set[Partition]) -> None:
        delay = self.backoff.initial
        while True:
            try:
                self.writer.forget(partitions)
                self.writer.assign(partitions)
                return
            except UNAVAILABLE as error:
                self._note_retry(error)
                if self._stop.wait(delay):
                    raise
                delay = min(delay * 2, self.backoff.maximum)

    def _on_assign(self, partitions: list[Partition]) -> dict[Partition, int]:
        self._assigned_at = time.monotonic()
        self.stats.rebalances += 1
        self._retry_positions(set(partitions))
        self._unpublished_check_at = 0.0  # a crashed owner may have left some
        return {tp: self.writer.positions[tp] for tp in partitions}

    def _on_revoke(self, partitions: list[Partition]) -> None:
        if self._pending and not self._stop.is_set():
            self._flush()
        revoked = set(partitions)
        self._pending = [r for r in self._pending if r.source not in revoked]
        self._ahead = [r for r in self._ahead if r.source not in revoked]
        self.writer.forget(partitions)

    def _publish(self, letters: list[DeadLetter]) -> bool:
        """Publishes committed dead letters and marks them; False (retried later) on failure."""
        if not letters:
            return True
        try:
            for letter in letters:
                key, value = letter.message(self.max_message_bytes)
                self.producer.produce(self.dead_letter_topic, value, key)
            self.producer.flush()
            self.tables.mark_published(d.coordinates for d in letters)
        except (IngestError, *UNAVAILABLE) as error:
            self._note_retry(error)
            # some may have reached the topic: the next attempt checks it first
            self._unpublished_check_at = time.monotonic() + PUBLISH_RETRY_SECONDS
            return False
        return True

    def _publish_unpublished(self) -> None:
        """Publishes the dead letters of this process's partitions a previous attempt (or
        process) committed but did not mark published, unless the topic already has them."""
        try:
            letters = self.tables.unpublished(set(self.writer.positions))
            if letters and self.published is not None:
                present = self.published()
                self.tables.mark_published(
                    d.coordinates for d in letters if d.coordinates in present
                )
                letters = [d for d in letters if d.coordinates not in present]
        except (IngestError, *UNAVAILABLE) as error:
            self._note_retry(error)
            self._unpublished_check_at = time.monotonic() + PUBLISH_RETRY_SECONDS
            return
        self._unpublished_check_at = None
        self._publish(letters)

    def _report(self) -> None:
        marks = self.consumer.high_watermarks()
        positions = self.writer.positions
        if marks:
            self.stats.lag = sum(max(0, high - positions.get(tp, 0)) for tp, high in marks.items())
        if self.on_progress:
            self.on_progress(self.stats)
