"""Routing one request."""

from __future__ import annotations

from typing import Any

from agents.common.deps import AgentDeps
from agents.common.toolbox import McpToolbox
from agents.router.graph import build_router_graph


async def route(services: AgentDeps, request: str, servers: dict[str, Any]) -> dict[str, Any]:
    async with McpToolbox(servers) as toolbox:
        return await route_with(services, toolbox, request)


async def route_with(services: AgentDeps, toolbox: McpToolbox, request: str) -> dict[str, Any]:
    toolbox = toolbox.for_run()
    return await build_router_graph(toolbox, services).ainvoke({"request": request})
