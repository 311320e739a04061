"""Builds the ClickHouse MCP server."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

from infrastructure.settings import McpSettings
from mcp_servers.clickhouse.tools import ClickHouseTools
from mcp_servers.common.cache import AnswerCache
from mcp_servers.common.deps import ReadSide
from mcp_servers.common.errors import bounded_errors
from mcp_servers.common.registration import READ_ONLY, strict_tool
from mcp_servers.common.transport import add_health_route

INSTRUCTIONS = (
    "Experiment analytics from NeonBlue's ClickHouse read model: full analyses, daily trends "
    "with forecasts, metric time series and segment breakdowns. Read-only; every answer "
    "carries the read-model position it reflects."
)


def build_server(services: ReadSide, settings: McpSettings) -> MCPServer:
    tools = ClickHouseTools(
        services, settings.catch_up, settings.max_rows, settings.query_timeout_seconds
    )
    cache = AnswerCache(tools.version, settings.answer_cache_seconds)
    server = MCPServer(
        "neonblue-clickhouse",
        instructions=INSTRUCTIONS,
        log_level="WARNING",
        tools=[
            strict_tool(cache.wrap(tool), READ_ONLY)
            for tool in (
                tools.generate_analytics_insights,
                tools.predict_experiment_trends,
                tools.metric_timeseries,
                tools.segment_breakdown,
            )
        ],
        middleware=[bounded_errors],
    )
    add_health_route(server, lambda: tools.freshness().model_dump(mode="json"))
    return server
