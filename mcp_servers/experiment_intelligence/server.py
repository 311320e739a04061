"""Builds the experiment-intelligence MCP server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from mcp.server.mcpserver import MCPServer

from infrastructure.application import NeonBlue
from mcp_servers.common.errors import bounded_errors
from mcp_servers.common.registration import COMMAND, strict_tool
from mcp_servers.common.transport import add_health_route
from mcp_servers.experiment_intelligence.tools import Agents, IntelligenceTools

INSTRUCTIONS = (
    "NeonBlue's experiment intelligence: recommendations (ship / stop / extend / fix SRM / "
    "reallocate) and natural-language analytics over the experiment read models. "
    "Recommendations that change a running experiment are recorded and wait for approval."
)


def build_server(app: NeonBlue, agents: Agents) -> MCPServer:
    tools = IntelligenceTools(app, agents)

    @asynccontextmanager
    async def lifespan(_: MCPServer) -> AsyncIterator[None]:
        async with agents.connected():  # the read-model servers (no-op when already held)
            yield

    server = MCPServer(
        "neonblue-experiment-intelligence",
        instructions=INSTRUCTIONS,
        log_level="WARNING",
        lifespan=lifespan,
        tools=[
            # record a Recommendation event (changes wait for a person's approval); a
            # "what should we do with X?" question runs the same graph
            strict_tool(tools.recommend_experiment_optimization, COMMAND),
            strict_tool(tools.natural_language_analytics, COMMAND),
        ],
        middleware=[bounded_errors],
    )
    add_health_route(server, lambda: {"head": app.head()})
    return server
