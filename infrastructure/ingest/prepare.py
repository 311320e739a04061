"""Preparing records for the writer: wire bytes to items, protected, or dead letters.

Preparation (decoding, validation, classification, pseudonyms and sealing) needs no
aggregate, so it can run ahead of the writer in a second process (`PreparingWorker`): while
the writer applies and commits one batch, the worker prepares the next. That takes about
half of ingest's CPU (and all of privacy's) off the writer. The worker is started only under
load (a full batch), is used once it reports ready, and is optional throughout: whatever it
has not prepared the writer prepares itself, and if the worker dies (or cannot start, e.g.
while the event store is down) ingest goes on without it and tries it again after a pause.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import multiprocessing
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from eventsourcing.persistence import DataError, PersistenceError

from domain.ingestion.classification import Classification
from infrastructure.audit.chain import ChainError
from infrastructure.ingest.bus import Record
from infrastructure.ingest.cdc import ChangeFeed
from infrastructure.ingest.dead_letters import DeadLetter
from infrastructure.ingest.protection import Forgotten, Protector
from infrastructure.ingest.translate import Item, translate
from infrastructure.ingest.wire import DEFAULT_LIMITS, InvalidMessage, Limits

log = logging.getLogger(__name__)

Prepared = Item | DeadLetter | Forgotten
"""What the writer applies (an item), records as bad input (a dead letter) or drops (an
erased subject's event)."""


def is_systemic(error: BaseException) -> bool:
    """True for failures of the event store or the process, not of one message: the batch
    is retried. Other exceptions (RecursionError, ValueError, ...) are blamed on a message."""
    if isinstance(error, PersistenceError):
        return not isinstance(error, DataError)
    return not isinstance(error, Exception) or isinstance(error, MemoryError | ChainError)


@dataclass
class Preparer:
    """Translates records and protects the items of a batch (`protection`)."""

    learned: Callable[[], Mapping[str, Classification]]
    limits: Limits = DEFAULT_LIMITS
    protector: Protector | None = None
    feed: ChangeFeed | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    """Time spent per stage ("decode", "protect") since the last `take_seconds`."""
    sealed_under: int | None = None
    """The erasure count the last `prepare` sealed under (None: it sealed nothing)."""

    def prepare(self, records: Sequence[Record]) -> list[Prepared]:
        """One result per record, in order. Raises only what `translate` and protection
        raise beyond bad input (the writer isolates such a record, or retries if systemic)."""
        started = time.perf_counter()
        learned = self.learned()
        results: list[Prepared] = []
        items: list[tuple[int, Item]] = []
        for record in records:
            try:
                item = translate(record, learned, self.limits, self.feed)
            except InvalidMessage as error:
                results.append(DeadLetter.of(record, error.kind, error.reason))
                continue
            except Exception as error:  # translation is pure: blame the message at once
                if is_systemic(error):
                    raise
                results.append(DeadLetter.of_error(record, error))
                continue
            items.append((len(results), item))
            results.append(item)
        decoded = time.perf_counter()
        self.sealed_under = None
        if self.protector is not None and items:
            for index, item in self.protector.protect(items):
                results[index] = item
            self.sealed_under = self.protector.seen
        self._add("decode", decoded - started)
        self._add("protect", time.perf_counter() - decoded)
        return results

    def take_seconds(self) -> dict[str, float]:
        seconds, self.seconds = self.seconds, {}
        return {stage: seconds.get(stage, 0.0) for stage in ("decode", "protect")}

    def _add(self, stage: str, seconds: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker process needs to build its own `Preparer` (all picklable)."""

    env: dict[str, str]  # the event store's (`NeonBlue.env`): keys, learned rules
    secret: bytes | None  # the platform secret; None when privacy is off
    limits: Limits = DEFAULT_LIMITS
    feed: ChangeFeed | None = None


Wire = tuple[str, int, int, bytes | None, bytes | None]
"""A record as sent to the worker (a tuple pickles ten times faster than the dataclass)."""


def wire(record: Record) -> Wire:
    return (record.topic, record.partition, record.offset, record.key, record.value)


class PreparingWorker:
    """A second process that prepares submitted batches in order (module docstring).

    One batch is in flight at a time: a submission first receives the previous result (which
    the writer needs next anyway), so the two processes never both wait to send.

    Results are kept per record (by identity, the record held alongside) until the writer
    takes them or `discard`s them; the writer never gets a result for a record it did not
    submit.
    """

    START_AT = 1_000
    """Records in one submission that start the worker: ingest is under load."""
    READY_WAIT = 0.0
    """Seconds a submission waits for a starting worker (tests); else the writer goes on."""
    RETRY_AFTER = 60.0
    """Seconds ingest goes on alone after the worker failed, before it starts one again
    (doubled after each failure, up to `RETRY_AFTER_MAX`): a start costs a second of CPU."""
    RETRY_AFTER_MAX = 900.0

    def __init__(self, spec: WorkerSpec) -> None:
        self.spec = spec
        self._process: Any = None
        self._connection: Connection | None = None
        self._ready = False
        self._retry_at: float | None = None
        """While set, the worker failed and is not started again before this monotonic time."""
        self._pause = self.RETRY_AFTER
        self._in_flight: deque[list[Record]] = deque()
        self._results: dict[int, tuple[Record, Prepared, int | None]] = {}
        self.seconds: dict[str, float] = {}
        """Time receiving results ("receive") and the worker's own stage times ("worker
        decode", "worker protect")."""

    def submit(self, records: Sequence[Record]) -> None:
        """Starts preparing ``records`` in the worker, if it runs (else does nothing)."""
        if not records:
            return
        if self._process is None:
            if len(records) >= self.START_AT and self._may_start():
                self._start()
            return
        if not self._ready and not self._poll_ready():
            return
        started = time.perf_counter()
        while self._in_flight:  # both ends sending big messages at once would deadlock
            self._receive()
        self._add("receive", time.perf_counter() - started)
        if self._connection is None:  # it died meanwhile
            return
        batch = list(records)
        try:
            self._connection.send([wire(record) for record in batch])
        except (OSError, ValueError) as error:
            self._fail(error)
            return
        self._in_flight.append(batch)

    def take(self, records: Sequence[Record]) -> list[Prepared | None]:
        """The prepared result of each record (None where there is none), waiting for the
        submissions that hold any of them."""
        wanted = {id(r) for r in records}
        while self._in_flight and any(id(r) in wanted for r in self._in_flight[0]):
            self._receive()
        results = self._results
        found: list[Prepared | None] = []
        for record in records:
            entry = results.get(id(record))
            found.append(entry[1] if entry is not None and entry[0] is record else None)
        return found

    def sealed_under(self, records: Sequence[Record]) -> int | None:
        """The lowest erasure count the worker sealed any of ``records`` under (None: it
        prepared none of them, or privacy is off)."""
        results = self._results
        counts = [
            entry[2]
            for record in records
            if (entry := results.get(id(record))) is not None and entry[0] is record
        ]
        return min((c for c in counts if c is not None), default=None)

    def discard(self, records: Sequence[Record]) -> None:
        """Forgets the results of ``records`` (written, or to be prepared again)."""
        for record in records:
            self._results.pop(id(record), None)

    def clear(self) -> None:
        """Forgets every result, received or still to come (e.g. after a rebalance)."""
        while self._in_flight:
            self._receive()
        self._results.clear()

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        if self._process is not None:
            self._process.join(timeout=5)
            if self._process.is_alive():
                self._process.kill()
                self._process.join()
            self._process = None
        self._in_flight.clear()
        self._results.clear()

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def _may_start(self) -> bool:
        if self._retry_at is None:
            return True
        if time.monotonic() < self._retry_at:
            return False
        self._retry_at = None
        return True

    def _start(self) -> None:
        # spawn, not fork: the parent may run threads (progress display, store pools)
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        process = context.Process(
            target=serve, args=(child, self.spec), name="neonblue-prepare", daemon=True
        )
        try:
            process.start()  # e.g. no process left to fork, or a script without a main guard
        except Exception as error:
            parent.close()
            self._fail(error)
            return
        finally:
            child.close()
        self._process, self._connection = process, parent

    def _poll_ready(self) -> bool:
        assert self._connection is not None
        try:
            if self._connection.poll(self.READY_WAIT):
                message = self._connection.recv()
                if message != "ready":
                    raise RuntimeError(f"the prepare worker failed to start: {message}")
                self._ready = True
                self._pause = self.RETRY_AFTER
        except (OSError, EOFError, RuntimeError) as error:
            self._fail(error)
        return self._ready

    def _receive(self) -> None:
        batch = self._in_flight.popleft()
        try:
            assert self._connection is not None
            outcome, payload, seconds, sealed_under = self._connection.recv()
        except (OSError, EOFError, ValueError) as error:
            self._fail(error)
            return
        for stage, value in seconds.items():
            self._add(f"worker {stage}", value)
        if outcome == "error":  # the writer prepares this batch itself and meets the error
            return
        for record, prepared in zip(batch, payload, strict=True):
            self._results[id(record)] = (record, prepared, sealed_under)

    def _add(self, stage: str, seconds: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds

    def _fail(self, error: BaseException) -> None:
        reason = str(error) or type(error).__name__
        if isinstance(error, EOFError | OSError) and self._process is not None:
            self._process.join(timeout=1)  # its exit code says more than a closed pipe
            if self._process.exitcode is not None:
                reason += f" (the worker process ended with exit code {self._process.exitcode})"
        log.warning(
            "ingest goes on without its prepare worker (tried again in %.0f s): %s",
            self._pause,
            reason,
        )
        self._retry_at = time.monotonic() + self._pause
        self._pause = min(2 * self._pause, self.RETRY_AFTER_MAX)
        self._ready = False
        self.close()


def serve(connection: Connection, spec: WorkerSpec) -> None:
    """The worker: builds its `Preparer`, says ready, prepares batches until the pipe closes."""
    try:
        preparer = worker_preparer(spec)
    except Exception as error:  # e.g. the event store is unreachable from here
        with contextlib.suppress(OSError):
            connection.send(f"{type(error).__name__}: {error}")
        return
    try:
        connection.send("ready")
    except OSError:  # closed before it was ready: ingest ended, or went on without it
        return
    gc.disable()  # as the ingest loop: a batch's garbage goes by reference counting
    while True:
        try:
            sent: list[Wire] = connection.recv()
        except (EOFError, OSError):
            return
        records = [Record(*fields) for fields in sent]
        try:
            prepared = preparer.prepare(records)
            reply: tuple[str, Any, dict[str, float], int | None] = (
                "ok", prepared, preparer.take_seconds(), preparer.sealed_under
            )  # fmt: skip
        except Exception as error:
            message = f"{type(error).__name__}: {error}"
            reply = ("error", message, preparer.take_seconds(), None)
        try:
            connection.send(reply)
        except (OSError, ValueError):
            return
        gc.freeze()  # what survived (the protector's caches) is never scanned again


def worker_preparer(spec: WorkerSpec) -> Preparer:
    from infrastructure.application import NeonBlue
    from infrastructure.privacy.keys import key_store_for
    from infrastructure.triage import LearnedRules

    app = NeonBlue(env=spec.env)
    protector = None if spec.secret is None else Protector(spec.secret, key_store_for(app))
    return Preparer(LearnedRules(app).current, spec.limits, protector, spec.feed)
