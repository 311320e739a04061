"""One object per event store, built for the store's kind on first use.

Ingest's tables and the privacy key table live in the event store's own database; every
`NeonBlue` on the same store (recorder) shares one instance, across threads. Keyed weakly:
a closed store's object goes with it.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from eventsourcing.postgres import PostgresProcessRecorder
from eventsourcing.sqlite import SQLiteProcessRecorder

from infrastructure.application import NeonBlue

T = TypeVar("T")


class PerStore(Generic[T]):
    def __init__(
        self,
        postgres: Callable[[PostgresProcessRecorder], T],
        sqlite: Callable[[SQLiteProcessRecorder], T],
        memory: Callable[[NeonBlue], T],
    ) -> None:
        self._postgres, self._sqlite, self._memory = postgres, sqlite, memory
        self._built: weakref.WeakKeyDictionary[Any, T] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def __call__(self, app: NeonBlue) -> T:
        recorder = app.recorder
        with self._lock:
            found = self._built.get(recorder)
            if found is None:
                if isinstance(recorder, PostgresProcessRecorder):
                    found = self._postgres(recorder)
                elif isinstance(recorder, SQLiteProcessRecorder):
                    found = self._sqlite(recorder)
                else:
                    found = self._memory(app)
                self._built[recorder] = found
            return found
