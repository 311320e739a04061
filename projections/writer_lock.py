"""One writer at a time per read-model copy, across the processes that share an event store.

A read model without transactions (ClickHouse) cannot check, as the SQL one does inside
its transaction, that nobody else moved its position; and its fold stages each batch in
tables of the copy's database, which a second writer would empty under the first. So a
writer holds this lock for each batch: a PostgreSQL advisory lock when the event store is
PostgreSQL (processes on any host), a file lock beside the SQLite store (processes of one
host: the SQLite store is a file), a lock of this process for an in-memory store.
"""

from __future__ import annotations

import contextlib
import hashlib
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from eventsourcing.sqlite import SQLiteApplicationRecorder

from infrastructure.application import NeonBlue
from projections.generations import GenerationChanged

try:
    import fcntl
except ImportError:  # not POSIX: the lock of this process only
    fcntl = None  # type: ignore[assignment]

_LOCAL: dict[str, threading.Lock] = {}
_LOCAL_GUARD = threading.Lock()


@contextlib.contextmanager
def writer_lock(app: NeonBlue, name: str) -> Iterator[None]:
    """Held by one writer of ``name`` at a time (released when the process dies)."""
    recorder = app.recorder
    if isinstance(recorder, SQLiteApplicationRecorder):
        pool = recorder.datastore.pool
        if fcntl is not None and not pool.is_sqlite_memory_mode:
            digest = hashlib.sha256(name.encode()).hexdigest()[:16]
            path = Path(pool.db_name).with_name(f".{Path(pool.db_name).name}.{digest}.lock")
            with path.open("a+b") as file:  # closing it (or dying) releases the lock
                fcntl.flock(file, fcntl.LOCK_EX)
                yield
            return
    module = sys.modules.get("eventsourcing.postgres")
    if module is not None and isinstance(recorder, module.PostgresApplicationRecorder):
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        with recorder.datastore.get_connection() as connection:  # autocommit: a session lock
            connection.execute("SELECT pg_advisory_lock(%s)", (key,))
            try:
                yield
            finally:
                connection.execute("SELECT pg_advisory_unlock(%s)", (key,))
        return
    with _LOCAL_GUARD:
        lock = _LOCAL.setdefault(name, threading.Lock())
    with lock:
        yield


@contextlib.contextmanager
def sole_writer(
    app: NeonBlue,
    name: str,
    expected: int | None,
    stored_position: Callable[[], int],
    forget_position: Callable[[], None],
    relocate: Callable[[], None],
) -> Iterator[None]:
    """One batch into a read-model copy that cannot check its position in a transaction
    (ClickHouse, Chroma): under `writer_lock`, and only from ``expected``, the position this
    writer last saw. When another writer moved it, nothing is written: the position is
    forgotten (read again) and `GenerationChanged` makes the runner resume from it. Any
    other error relocates the copy (it may have been switched and dropped mid-batch)."""
    with writer_lock(app, name):
        try:  # the position too: the copy may have been dropped since this writer read it
            if expected is not None and stored_position() != expected:
                forget_position()
                raise GenerationChanged(f"{name}: moved on under this writer")
            yield
        except GenerationChanged:
            raise
        except Exception:
            relocate()
            raise
