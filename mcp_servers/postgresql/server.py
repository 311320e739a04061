"""Builds the PostgreSQL MCP server from wired services."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

from infrastructure.application import NeonBlue
from mcp_servers.common.sources import ResultsSource
from mcp_servers.common.transport import add_health_route
from mcp_servers.postgresql.tools import PostgresTools

INSTRUCTIONS = (
    "Experiment configuration, deterministic assignment and history from the NeonBlue event "
    "store and relational read model. Experiment ids are experiment keys. Read-only."
)


def build_server(app: NeonBlue, results: ResultsSource, max_rows: int = 1000) -> MCPServer:
    tools = PostgresTools(app, results, max_rows)
    server = MCPServer("neonblue-postgresql", instructions=INSTRUCTIONS, log_level="WARNING")
    for tool in (
        tools.list_experiments,
        tools.analyze_experiment_data,
        tools.predict_user_assignment,
        tools.experiment_history,
    ):
        server.add_tool(tool, annotations=None)
    add_health_route(server, lambda: {"head": app.head()})
    return server
