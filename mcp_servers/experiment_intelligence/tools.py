"""Tools that run NeonBlue's agent graphs (which read through the other MCP servers).

The graphs arrive as an `Agents` object from the composition root: this package never
imports `agents`, and the agents reach the other servers only as MCP clients.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from pydantic import BaseModel, Field

from infrastructure.application import NeonBlue
from mcp_servers.common.errors import tool_errors
from mcp_servers.common.freshness import Freshness
from mcp_servers.common.inputs import ExperimentKey, FreeText, Name


class Agents(Protocol):
    """The agent graphs, connected to the read-model servers."""

    def connected(self) -> AbstractAsyncContextManager[Any]: ...

    async def ask(self, question: str, conversation_id: str | None = None) -> dict[str, Any]: ...

    async def recommend(self, experiment_key: str) -> dict[str, Any]: ...


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
    plan: dict[str, Any] = Field(
        default_factory=dict, description="The query plan: intents, experiments, metrics, period."
    )
    facts: list[dict[str, Any]] = Field(
        default_factory=list, description="Every number of the answer: label, value, unit."
    )
    notices: list[str] = Field(default_factory=list)
    sources: list[dict[str, Any]] = Field(description="Tool calls the numbers came from.")
    conversation_id: str | None = None
    freshness: Freshness


class IntelligenceTools:
    """Runs the graphs; each run records its own tool calls, so runs may overlap."""

    def __init__(self, app: NeonBlue, agents: Agents) -> None:
        self.app = app
        self.agents = agents

    def _fresh(self) -> Freshness:
        head = self.app.head()
        return Freshness.of("event_store", head, head)

    async def recommend_experiment_optimization(
        self, experiment_id: ExperimentKey
    ) -> RecommendationOut:
        """Analyse an experiment (SRM, sequential significance, guardrails, power) and recommend
        what to do; changes to a running experiment wait for a person's approval."""
        with tool_errors():
            self.app.experiment(experiment_id)
            state = await self.agents.recommend(experiment_id)
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

    async def natural_language_analytics(
        self, question: FreeText, conversation_id: Name | None = None
    ) -> AnswerOut:
        """Answer a question about experiments in plain language, with the sources used.
        Pass the same ``conversation_id`` again and a follow-up ("and on mobile?", "what
        about revenue?") refines the previous question. Only an explicit request for a
        recommendation records one; nothing in a question approves or changes anything."""
        with tool_errors():
            state = await self.agents.ask(question, conversation_id)
        return AnswerOut(
            question=question,
            intent=(state.get("parsed") or {}).get("intent"),
            answer=state["answer"],
            plan=state.get("plan") or {},
            facts=state.get("facts") or [],
            notices=state.get("notices") or [],
            sources=state.get("sources", []),
            conversation_id=conversation_id,
            freshness=self._fresh(),
        )
