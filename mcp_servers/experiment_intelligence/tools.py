"""Tools that run NeonBlue's agent graphs (which read through the other MCP servers)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

from agents.common.servers import stdio_servers
from agents.common.toolbox import McpToolbox
from infrastructure.bootstrap import Services
from mcp_servers.common.errors import tool_errors
from mcp_servers.common.freshness import Freshness
from mcp_servers.common.inputs import ExperimentKey, FreeText


class RecommendationOut(BaseModel):
    experiment_id: str
    action: str = Field(description="fix_srm, stop, ship, extend, continue or reallocate.")
    variant: str | None
    reasons: list[str]
    numbers: dict[str, float]
    narrative: str
    recommendation_id: str
    waiting_for_approval: bool = Field(
        description="True when a person must approve (neonblue approvals approve ID)."
    )
    tool_calls: list[dict[str, Any]]
    freshness: Freshness


class AnswerOut(BaseModel):
    question: str
    intent: str | None
    answer: str
    sources: list[dict[str, Any]] = Field(description="Tool calls the numbers came from.")
    freshness: Freshness


class IntelligenceTools:
    """Runs the graphs over one set of MCP connections opened for the server's lifetime
    (see `server.py`); runs are serialised so each records only its own tool calls."""

    def __init__(self, services: Services, servers: dict[str, Any] | None = None) -> None:
        self.services = services
        self.servers = servers
        self.toolbox: McpToolbox | None = None
        self._lock = anyio.Lock()

    @asynccontextmanager
    async def connected(self) -> AsyncIterator[None]:
        async with McpToolbox(self.servers or stdio_servers(self.services.event_store)) as box:
            self.toolbox = box
            try:
                yield
            finally:
                self.toolbox = None

    def _toolbox(self) -> McpToolbox:
        if self.toolbox is None:
            raise ToolError("The agent's MCP connections are not open; restart the server.")
        return self.toolbox

    def _fresh(self) -> Freshness:
        head = self.services.app.head()
        return Freshness.of("event_store", head, head)

    async def recommend_experiment_optimization(
        self, experiment_id: ExperimentKey
    ) -> RecommendationOut:
        """Analyse an experiment (SRM, sequential significance, guardrails, power) and recommend
        what to do; changes to a running experiment wait for a person's approval."""
        from agents.intelligence.runner import recommend_with

        with tool_errors():
            self.services.app.experiment(experiment_id)
            async with self._lock:
                state = await recommend_with(self.services, self._toolbox(), experiment_id)
        proposal = state["proposal"]
        return RecommendationOut(
            experiment_id=experiment_id,
            action=proposal["action"],
            variant=proposal["variant"],
            reasons=proposal["reasons"],
            numbers=proposal["numbers"],
            narrative=state["narrative"],
            recommendation_id=state["recommendation_id"],
            waiting_for_approval=state["waiting_for_approval"],
            tool_calls=state.get("tool_calls", []),
            freshness=self._fresh(),
        )

    async def natural_language_analytics(self, question: FreeText) -> AnswerOut:
        """Answer a question about experiments in plain language, with the sources used."""
        from agents.analytics.runner import ask_with

        with tool_errors():
            async with self._lock:
                state = await ask_with(self.services, self._toolbox(), question)
        return AnswerOut(
            question=question,
            intent=(state.get("parsed") or {}).get("intent"),
            answer=state["answer"],
            sources=state.get("sources", []),
            freshness=self._fresh(),
        )
