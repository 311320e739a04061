"""Conformance (issue 15): every tool's structured answer validates against the outputSchema
it advertises, over HTTP (`neonblue serve`'s mounts) and over stdio (`neonblue mcp serve
NAME`, relaying to that serve), for calls that exercise each tool's options.

The standalone stdio servers run the same tools (one composition root); each is driven over
stdio by its own tests (test_postgresql_server, test_read_model_servers,
test_intelligence_server)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from mcp import Client

from tests.mcp_servers.conftest import stdio_client
from tests.serve.conftest import TOKEN, env_for, running_serve
from tests.serve.test_serve import http_client
from tests.support.stores import copy_store

pytestmark = pytest.mark.anyio

CALLS: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "postgresql": [
        ("list_experiments", {}),
        ("list_experiments", {"status": "running", "tag": "checkout", "limit": 1}),
        ("analyze_experiment_data", {"experiment_id": "free-shipping-threshold"}),
        ("analyze_experiment_data", {"experiment_id": "homepage-hero-video", "engine": "bayesian"}),
        ("predict_user_assignment", {"experiment_id": "checkout-cta-contrast", "user_id": "u-1"}),
        ("experiment_history", {"experiment_id": "homepage-hero-video"}),
        (
            "experiment_history",
            {"experiment_id": "homepage-hero-video", "occurred_by": "2026-09-10T00:00:00Z"},
        ),
        (
            "experiment_history",
            {"experiment_id": "homepage-hero-video", "as_of": "2026-09-10T00:00:00Z"},
        ),
        ("list_unclassified_event_types", {}),
    ],
    "clickhouse": [
        ("generate_analytics_insights", {"experiment_id": "checkout-cta-contrast"}),
        (
            "generate_analytics_insights",
            {"experiment_id": "free-shipping-threshold", "engine": "bayesian", "cuped": False},
        ),
        ("predict_experiment_trends", {"experiment_id": "free-shipping-threshold"}),
        ("metric_timeseries", {"experiment_id": "pricing-annual-discount", "limit": 3}),
        ("metric_timeseries", {"experiment_id": "homepage-hero-video", "metric": "page_load_ms"}),
        ("segment_breakdown", {"experiment_id": "free-shipping-threshold"}),
        ("segment_breakdown", {"tag": "pricing", "dimension": "country"}),
    ],
    "chromadb": [
        ("semantic_experiment_search", {"query": "make the buy button easier to see"}),
        (
            "semantic_experiment_search",
            {"query": "checkout", "filters": {"status": "running", "min_lift": 0.0}},
        ),
        ("find_similar_experiments", {"experiment_id": "checkout-cta-contrast", "n_results": 2}),
        (
            "store_experiment_context",
            {"experiment_id": "checkout-cta-contrast", "notes": "Conformance note."},
        ),
    ],
    "experiment_intelligence": [
        ("recommend_experiment_optimization", {"experiment_id": "homepage-hero-video"}),
        ("natural_language_analytics", {"question": "Which experiments are running?"}),
        (
            "natural_language_analytics",
            {"question": "Which segments responded best in free-shipping-threshold?"},
        ),
    ],
}


async def check_server(client: Client, name: str) -> int:
    """Calls every listed tool; returns how many answers were validated."""
    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == {tool for tool, _ in CALLS[name]}, "every tool is exercised"
    checked = 0
    for tool, arguments in CALLS[name]:
        schema = tools[tool].output_schema
        assert schema is not None and schema.get("type") == "object", tool
        Draft202012Validator.check_schema(schema)
        result = await client.call_tool(tool, arguments)
        assert not result.is_error, (name, tool, arguments, result.content)
        validator = Draft202012Validator(schema, format_checker=FormatChecker())
        problems = [e.message for e in validator.iter_errors(result.structured_content)]
        assert not problems, (name, tool, arguments, problems[:3])
        checked += 1
    return checked


async def test_answers_match_output_schemas_over_http_and_stdio(
    portfolio_dir: Path, tmp_path: Path
):
    data = copy_store(portfolio_dir, tmp_path / "data")
    checked = 0
    with running_serve(env_for(data, NEONBLUE_MCP_TOKEN=TOKEN), tmp_path) as serve:
        serve.wait_caught_up()
        for name in CALLS:
            async with http_client(f"{serve.url}/mcp/{name}", TOKEN) as client:
                checked += await check_server(client, name)
            # relayed to serve (a standalone server could not open chDB, which serve holds)
            async with stdio_client(name, data, NEONBLUE_MCP_TOKEN=TOKEN) as client:
                checked += await check_server(client, name)
    assert checked == 2 * sum(len(calls) for calls in CALLS.values())
