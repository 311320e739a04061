"""LangGraph checkpointers next to the event store: SQLite embedded, Postgres with Postgres."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from infrastructure.settings import EventStoreSettings


@asynccontextmanager
async def open_checkpointer(settings: EventStoreSettings) -> AsyncIterator[Any]:
    """A checkpointer that survives the process, so runs can be resumed and inspected."""
    if settings.kind == "postgresql":
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

        from infrastructure.postgres_ddl import SESSION_UNLOCK

        async with AsyncPostgresSaver.from_conn_string(settings.event_store) as saver:
            # its migrations read the last one applied, then insert: two runs starting
            # together on a fresh store would both apply them (a unique violation)
            while not await _locked(saver.conn):
                await asyncio.sleep(0.05)
            try:
                await saver.setup()
            finally:
                await saver.conn.execute(SESSION_UNLOCK)
            yield saver
        return
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    if settings.kind == "memory":
        path = ":memory:"
    else:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        path = str(settings.data_dir / "agent_checkpoints.db")
    async with AsyncSqliteSaver.from_conn_string(path) as saver:
        yield saver


async def _locked(connection: Any) -> bool:
    from infrastructure.postgres_ddl import SESSION_TRY_LOCK

    row = await (await connection.execute(SESSION_TRY_LOCK)).fetchone()
    return bool(row["locked"] if isinstance(row, dict) else row[0])


_SQLITE_SEARCH = (
    "SELECT thread_id FROM checkpoints WHERE instr(checkpoint, ?1) > 0 "
    "OR instr(metadata, ?1) > 0 OR instr(thread_id, ?1) > 0 "
    "UNION SELECT thread_id FROM writes WHERE instr(value, ?1) > 0"
)
_POSTGRES_SEARCH = (
    "SELECT thread_id FROM checkpoints WHERE position(%(text)s IN checkpoint::text) > 0 "
    "OR position(%(text)s IN metadata::text) > 0 OR position(%(text)s IN thread_id) > 0 "
    "UNION SELECT thread_id FROM checkpoint_blobs WHERE position(%(raw)s IN blob) > 0 "
    "UNION SELECT thread_id FROM checkpoint_writes WHERE position(%(raw)s IN blob) > 0"
)


async def forget_in_checkpoints(settings: EventStoreSettings, needles: list[str]) -> int:
    """Deletes every agent run (thread) whose checkpoints mention one of ``needles`` (a
    forgotten user's id or pseudonym); returns how many threads were deleted."""
    needles = [n for n in needles if n]
    threads: set[str] = set()
    async with open_checkpointer(settings) as saver:
        await saver.setup()  # the SQLite saver creates its tables on first use
        for needle in needles:
            if settings.kind == "postgresql":
                async with saver.conn.cursor() as cursor:
                    await cursor.execute(_POSTGRES_SEARCH, {"text": needle, "raw": needle.encode()})
                    threads.update(row["thread_id"] for row in await cursor.fetchall())
            else:
                async with saver.conn.execute(_SQLITE_SEARCH, (needle.encode(),)) as cursor:
                    threads.update(str(row[0]) for row in await cursor.fetchall())
        if settings.kind != "postgresql":  # deleted rows leave no copy in free pages
            await saver.conn.execute("PRAGMA secure_delete = ON")
        for thread in sorted(threads):
            await saver.adelete_thread(thread)
        if settings.kind != "postgresql" and threads:
            await saver.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return len(threads)
