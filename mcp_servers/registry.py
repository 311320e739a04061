"""The servers `neonblue mcp serve NAME` can run, each built from wired services."""

from __future__ import annotations

from collections.abc import Callable

from mcp.server.mcpserver import MCPServer

from infrastructure.bootstrap import Services
from mcp_servers.common.settings import McpSettings
from mcp_servers.common.sources import EventLogSource


def _postgresql(services: Services, settings: McpSettings) -> MCPServer:
    from mcp_servers.postgresql.server import build_server

    return build_server(services.app, EventLogSource(services.app), settings.max_rows)


def _clickhouse(services: Services, settings: McpSettings) -> MCPServer:
    from mcp_servers.clickhouse.server import build_server

    return build_server(services, settings)


def _chromadb(services: Services, settings: McpSettings) -> MCPServer:
    from mcp_servers.chromadb.server import build_server

    return build_server(services, settings)


def _experiment_intelligence(services: Services, settings: McpSettings) -> MCPServer:
    from mcp_servers.experiment_intelligence.server import build_server

    return build_server(services)


BUILDERS: dict[str, Callable[[Services, McpSettings], MCPServer]] = {
    "postgresql": _postgresql,
    "clickhouse": _clickhouse,
    "chromadb": _chromadb,
    "experiment_intelligence": _experiment_intelligence,
}


class UnknownServer(ValueError):
    pass


def build(name: str, services: Services, settings: McpSettings | None = None) -> MCPServer:
    try:
        builder = BUILDERS[name]
    except KeyError:
        raise UnknownServer(
            f"No MCP server named {name!r}; choose one of {', '.join(sorted(BUILDERS))}."
        ) from None
    return builder(services, settings or McpSettings())
