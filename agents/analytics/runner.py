"""Answering one question with the analytics graph."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from agents.analytics.graph import build_analytics_graph
from agents.common.llm import LlmSettings, chat_model
from agents.common.servers import stdio_servers
from agents.common.toolbox import McpToolbox
from infrastructure.bootstrap import Services


async def ask(
    services: Services,
    question: str,
    servers: dict[str, Any] | None = None,
    llm_settings: LlmSettings | None = None,
) -> dict[str, Any]:
    async with McpToolbox(servers or stdio_servers(services.event_store)) as toolbox:
        return await ask_with(services, toolbox, question, llm_settings)


async def ask_with(
    services: Services,
    toolbox: McpToolbox,
    question: str,
    llm_settings: LlmSettings | None = None,
) -> dict[str, Any]:
    """As `ask`, over an already connected toolbox."""
    llm = chat_model(llm_settings or LlmSettings())
    toolbox.calls.clear()
    graph = build_analytics_graph(toolbox, services, llm)
    return await graph.ainvoke(
        {
            "question": question,
            "run_id": f"analytics-{uuid4()}",
            "mode": "llm" if llm is not None else "deterministic",
        }
    )
