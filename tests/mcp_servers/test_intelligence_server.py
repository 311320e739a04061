"""The experiment-intelligence MCP server: the agent graphs as tools, over stdio and HTTP."""

from __future__ import annotations

import pytest

from tests.mcp_servers.conftest import http_client, http_server, stdio_client
from tests.support.injection import INJECTION_STRINGS

pytestmark = pytest.mark.anyio


@pytest.mark.slow
async def test_tools_over_stdio(store_copy):
    async with stdio_client("experiment_intelligence", store_copy) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        assert tools == {"recommend_experiment_optimization", "natural_language_analytics"}

        rec = await client.call_tool(
            "recommend_experiment_optimization", {"experiment_id": "homepage-hero-video"}
        )
        assert not rec.is_error, rec.content
        answer = rec.structured_content
        # the portfolio's hero video is already stopped: the harm concludes it as rolled back
        assert answer["action"] == "roll_back" and answer["waiting_for_approval"]
        assert answer["tool_calls"][0]["tool"] == "analyze_experiment_data"
        assert "page_load_ms" in answer["narrative"]

        asked = await client.call_tool(
            "natural_language_analytics", {"question": "Which experiments are stopped?"}
        )
        assert not asked.is_error, asked.content
        assert asked.structured_content["intent"] == "list"
        assert "homepage-hero-video" in asked.structured_content["answer"]

        bad = await client.call_tool(
            "recommend_experiment_optimization", {"experiment_id": "no-such"}
        )
        assert bad.is_error and "No experiment with key 'no-such'" in bad.content[0].text

        for hostile in INJECTION_STRINGS:
            result = await client.call_tool("natural_language_analytics", {"question": hostile})
            text = (
                result.content[0].text if result.is_error else result.structured_content["answer"]
            )
            assert "Traceback" not in text
            if not result.is_error:  # hostile text is a question like any other: no action
                assert result.structured_content["intent"] in (
                    "unknown",
                    "list",
                    "analyze",
                    "similar",
                    "recommend",
                    "trend",
                    "history",
                    "assign",
                    "segments",
                    "rank",
                    "count",
                    "duration",
                )
            injected = await client.call_tool(
                "recommend_experiment_optimization", {"experiment_id": hostile}
            )
            assert injected.is_error  # never a valid key: rejected before any graph runs


async def test_over_http_with_token(store_copy):
    with http_server("experiment_intelligence", store_copy, token="abc-0123456789abcdef") as server:
        async with http_client(server.port, "abc-0123456789abcdef") as client:
            result = await client.call_tool(
                "natural_language_analytics", {"question": "Which experiments are running?"}
            )
    assert not result.is_error and result.structured_content["intent"] == "list"


@pytest.mark.slow
async def test_chromadb_over_http(store_copy):
    with http_server("chromadb", store_copy, token="abc-0123456789abcdef") as server:
        async with http_client(server.port, "abc-0123456789abcdef") as client:
            result = await client.call_tool(
                "semantic_experiment_search", {"query": "free shipping minimum order"}
            )
    assert result.structured_content["results"][0]["key"] == "free-shipping-threshold"
