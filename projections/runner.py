"""Following the notification log: batches, stored positions, status, rebuilds.

A :class:`Projection` stores its position in the same system as its rows (one
transaction, or writes that are idempotent by event position), so a runner can be
killed at any moment and resumed from ``projection.position()`` without gaps or
double counting. A projection whose generation was switched away (a rebuild elsewhere)
raises `GenerationChanged` having written nothing; the runner resumes from the position
of the generation it now points at.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

from infrastructure.gc_pause import no_cyclic_gc
from projections.generations import GenerationChanged
from projections.log import LogBatch, LogEvent, LogReader

DEFAULT_BATCH = 50_000  # catch-up pays a fixed cost per batch (the analytics fold: ~10 statements)

Progress = Callable[[int, int], None]
"""Called after each batch with (position, head)."""


class Projection(Protocol):
    """A read model built from the log; see the module docstring for the contract."""

    name: str
    topics: Sequence[str]
    """Topics to read (empty: all)."""

    def setup(self) -> None:
        """Creates the read model's tables if missing (idempotent)."""

    def position(self) -> int:
        """The last log position whose effects are stored (0 when empty)."""

    def process(self, events: Sequence[LogEvent], position: int) -> None:
        """Applies ``events`` and stores ``position`` (>= every event's position)."""

    def checksum(self) -> dict[str, str]:
        """A checksum per table, equal for equal read models."""


@runtime_checkable
class PreparesBatches(Protocol):
    """A projection with work on a batch that does not touch its read model (e.g. building
    Arrow arrays): the runner calls `prepare` in its read-ahead thread, so that work
    overlaps with the processing of the previous batch."""

    def prepare(self, events: LogBatch) -> None:
        """Keeps what it makes in ``events.prepared``; `process` then uses it."""


@dataclass(frozen=True)
class ProjectionStatus:
    """Where a projection is relative to the head of the log."""

    name: str
    position: int
    head: int
    lag_events: int
    lag_seconds: float

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "position": self.position,
            "head": self.head,
            "lag_events": self.lag_events,
            "lag_seconds": round(self.lag_seconds, 3),
        }


MOVES = 10
"""Generation switches one batch follows before it fails (each is a completed rebuild)."""


class ProjectionRunner:
    """Runs one projection over the log in batches."""

    def __init__(
        self, reader: LogReader, projection: Projection, batch_size: int = DEFAULT_BATCH
    ) -> None:
        self.reader = reader
        self.projection = projection
        self.batch_size = batch_size
        # One batch at a time per runner: tool calls of one question run in threads and
        # each catches up first; two threads reading the same position would apply the
        # same events twice (the read model's sums double-counted).
        self._running = threading.RLock()

    def run_batch(self, head: int | None = None) -> int:
        """Processes the next batch; returns how many positions it advanced."""
        with self._running:
            for _ in range(MOVES - 1):
                try:
                    return self._run_batch(head)
                except GenerationChanged:  # nothing written; now on the live generation
                    continue  # which rebuilds one after another may switch again
            return max(0, self._run_batch(head))

    def _run_batch(self, head: int | None) -> int:
        start = self.projection.position()
        head = self.reader.head() if head is None else head
        if start >= head:
            return 0
        with no_cyclic_gc():
            events, position = self._read(start, head)
            self.projection.process(events, position)
        return position - start

    def _read(self, start: int, head: int) -> tuple[LogBatch, int]:
        """The batch after ``start`` and the position processing it reaches."""
        events = self.reader.read(start + 1, self.batch_size, self.projection.topics, stop=head)
        # an unfiltered short page, or a filtered read, covers everything up to head
        full_page = len(events) == self.batch_size
        if isinstance(self.projection, PreparesBatches):
            self.projection.prepare(events)
        return events, events[-1].position if events and full_page else head

    def catch_up(self, until: int | None = None, progress: Progress | None = None) -> int:
        """Processes batches until the projection reaches ``until`` (default: the head now).

        The next batch is read (in a thread) while the current one is processed: reading
        and writing overlap, as both release the GIL for most of their work.
        """
        target = self.reader.head() if until is None else until
        with self._running:
            first = self.projection.position()
            while True:
                try:
                    self._catch_up(target, progress)
                except GenerationChanged:
                    continue  # resume from the position of the generation it moved to
                return max(0, self.projection.position() - first)

    def _catch_up(self, target: int, progress: Progress | None) -> None:
        start = self.projection.position()
        if start >= target:
            return
        with no_cyclic_gc(), ThreadPoolExecutor(1, "log-read-ahead") as pool:
            pending: Future[tuple[LogBatch, int]] | None = pool.submit(self._read, start, target)
            while pending is not None:
                events, position = pending.result()
                pending = pool.submit(self._read, position, target) if position < target else None
                self.projection.process(events, position)
                if progress is not None:
                    progress(position, target)

    def follow(self, stop: threading.Event, poll_seconds: float = 0.2) -> None:
        """Keeps catching up until ``stop`` is set (polls when idle)."""
        while not stop.is_set():
            if self.run_batch() == 0:
                stop.wait(poll_seconds)

    def status(self) -> ProjectionStatus:
        position = self.projection.position()
        head = self.reader.head()
        waiting_since = self.reader.timestamp_after(position) if position < head else None
        lag_seconds = (
            max(0.0, (datetime.now(UTC) - waiting_since).total_seconds()) if waiting_since else 0.0
        )
        return ProjectionStatus(
            self.projection.name, position, head, max(0, head - position), lag_seconds
        )


class RateMeter:
    """Events per second and time remaining for progress reports."""

    def __init__(self, start_position: int) -> None:
        self.start_position = start_position
        self.started = time.perf_counter()

    def rate(self, position: int) -> float:
        elapsed = time.perf_counter() - self.started
        return (position - self.start_position) / elapsed if elapsed > 0 else 0.0

    def eta(self, position: int, head: int) -> float:
        rate = self.rate(position)
        return (head - position) / rate if rate > 0 else float("inf")
