"""Answering one question with the analytics flow."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from agents.analytics.graph import Analyst, answer
from agents.common.deps import AgentDeps
from agents.common.llm import LlmSettings, chat_model
from agents.common.toolbox import McpToolbox


async def ask(
    services: AgentDeps,
    question: str,
    servers: dict[str, Any],
    llm_settings: LlmSettings | None = None,
) -> dict[str, Any]:
    async with McpToolbox(servers) as toolbox:
        return await ask_with(services, toolbox, question, llm_settings)


async def ask_with(
    services: AgentDeps,
    toolbox: McpToolbox,
    question: str,
    llm_settings: LlmSettings | None = None,
    previous_plan: dict[str, Any] | None = None,
    engine: str | None = None,
) -> dict[str, Any]:
    """As `ask`, over an already connected toolbox; ``previous_plan`` is the conversation's
    last plan, which a follow-up question refines; ``engine``: of the analyses (None: the
    servers' default)."""
    llm = chat_model(llm_settings or LlmSettings())
    analyst = Analyst(toolbox.for_run(), services, llm, engine)
    return await answer(
        analyst,
        {
            "question": question,
            "run_id": f"analytics-{uuid4()}",
            "mode": "llm" if llm is not None else "deterministic",
            "previous_plan": previous_plan,
        },
    )
