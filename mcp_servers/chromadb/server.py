"""Builds the ChromaDB MCP server."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

from infrastructure.settings import McpSettings
from mcp_servers.chromadb.tools import ChromaTools
from mcp_servers.common.cache import AnswerCache
from mcp_servers.common.deps import ReadSide
from mcp_servers.common.errors import bounded_errors
from mcp_servers.common.registration import COMMAND, READ_ONLY, strict_tool
from mcp_servers.common.transport import add_health_route

INSTRUCTIONS = (
    "Semantic search over NeonBlue's experiment knowledge base (one document per experiment: "
    "hypothesis, variants, metrics, results, decision, notes). store_experiment_context "
    "records notes as a domain event; the knowledge base is updated by its projection."
)


def build_server(services: ReadSide, settings: McpSettings) -> MCPServer:
    tools = ChromaTools(services, settings.catch_up)
    cache = AnswerCache(tools.version, settings.answer_cache_seconds)
    server = MCPServer(
        "neonblue-chromadb",
        instructions=INSTRUCTIONS,
        log_level="WARNING",
        tools=[
            strict_tool(cache.wrap(tools.semantic_experiment_search), READ_ONLY),
            strict_tool(cache.wrap(tools.find_similar_experiments), READ_ONLY),
            strict_tool(tools.store_experiment_context, COMMAND),
        ],
        middleware=[bounded_errors],
    )
    add_health_route(server, lambda: tools.freshness().model_dump(mode="json"))
    return server
