"""Which platform secret an event store's pseudonyms use."""

from __future__ import annotations

import secrets
import threading
import weakref
from pathlib import Path
from typing import Any

from eventsourcing.postgres import PostgresProcessRecorder
from eventsourcing.sqlite import SQLiteProcessRecorder

from infrastructure.application import NeonBlue
from infrastructure.settings.privacy import PrivacySettings

_secrets: weakref.WeakKeyDictionary[Any, bytes] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def platform_secret(app: NeonBlue, settings: PrivacySettings | None = None) -> bytes:
    """The setting; else, for SQLite, a generated file next to the database; for the
    in-memory store, a random secret that lives as long as the store."""
    settings = settings or PrivacySettings()
    recorder = app.recorder
    with _lock:
        found = _secrets.get(recorder)
        if found is None:
            if isinstance(recorder, PostgresProcessRecorder):
                found = settings.secret(None)
            elif isinstance(recorder, SQLiteProcessRecorder) and not (
                recorder.datastore.pool.is_sqlite_memory_mode  # type: ignore[attr-defined]
            ):
                database = Path(str(app.env.get("SQLITE_DBNAME")))
                found = settings.secret(database.parent)
            else:
                found = settings.privacy_secret.get_secret_value().encode() or (
                    secrets.token_hex(32).encode()
                )
            _secrets[recorder] = found
        return found
