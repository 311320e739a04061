"""LangGraph checkpointers next to the event store: SQLite embedded, Postgres with Postgres."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from infrastructure.settings import EventStoreSettings


@asynccontextmanager
async def open_checkpointer(settings: EventStoreSettings) -> AsyncIterator[Any]:
    """A checkpointer that survives the process, so runs can be resumed and inspected."""
    if settings.kind == "postgresql":
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

        async with AsyncPostgresSaver.from_conn_string(settings.event_store) as saver:
            await saver.setup()
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
