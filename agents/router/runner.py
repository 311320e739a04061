"""Routing one request."""

from __future__ import annotations

from typing import Any

from agents.common.servers import stdio_servers
from agents.common.toolbox import McpToolbox
from agents.router.graph import build_router_graph
from infrastructure.bootstrap import Services


async def route(
    services: Services, request: str, servers: dict[str, Any] | None = None
) -> dict[str, Any]:
    async with McpToolbox(servers or stdio_servers(services.event_store)) as toolbox:
        return await route_with(services, toolbox, request)


async def route_with(services: Services, toolbox: McpToolbox, request: str) -> dict[str, Any]:
    toolbox.calls.clear()
    return await build_router_graph(toolbox, services).ainvoke({"request": request})
