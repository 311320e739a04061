"""Tables that processes starting together create in one PostgreSQL database.

Two concurrent ``CREATE TABLE IF NOT EXISTS`` of one table can both pass the check, and
one then fails on the catalog (a unique violation on ``pg_type``, or "tuple concurrently
updated"): a consumer group, ingest and its prepare worker, or two agent runs starting on
a fresh store. The project's own tables are created under this one advisory lock.
"""

from __future__ import annotations

from typing import Any

_KEY = "hashtext('neonblue_ddl')"
TRANSACTION_LOCK = f"SELECT pg_advisory_xact_lock({_KEY})"
"""Held until the transaction ends: run it first in the transaction that creates tables."""
_LIBRARY_KEY = "hashtext('neonblue_library_ddl')"
SESSION_TRY_LOCK = f"SELECT pg_try_advisory_lock({_LIBRARY_KEY}) AS locked"
SESSION_UNLOCK = f"SELECT pg_advisory_unlock({_LIBRARY_KEY})"
"""For DDL run by a library on an autocommit connection (LangGraph's migrations): a lock of
its own, tried and retried rather than waited for, because a `CREATE INDEX CONCURRENTLY` in
that DDL waits for every other transaction, including one waiting for this lock (a
deadlock)."""


def lock_ddl(cursor: Any) -> None:
    """Takes the DDL lock for the rest of ``cursor``'s transaction."""
    cursor.execute(TRANSACTION_LOCK)
