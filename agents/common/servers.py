"""Which MCP servers an agent connects to, launched against the same stores as the caller."""

from __future__ import annotations

from typing import Any

from agents.common.toolbox import stdio_server
from infrastructure.settings import EventStoreSettings

AVAILABLE = ("postgresql", "clickhouse", "chromadb")


def server_env(settings: EventStoreSettings) -> dict[str, str]:
    return {
        "NEONBLUE_DATA_DIR": str(settings.data_dir),
        "NEONBLUE_EVENT_STORE": settings.event_store,
    }


def stdio_servers(
    settings: EventStoreSettings, names: tuple[str, ...] = AVAILABLE
) -> dict[str, Any]:
    env = server_env(settings)
    return {name: stdio_server(name, env) for name in names}
