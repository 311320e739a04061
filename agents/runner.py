"""One entry to the graphs for the CLI, `neonblue serve` and the experiment-intelligence
MCP server: MCP connections opened once and shared by every run.

The composition root hands over the targets (in-process `MCPServer`s, or URLs of a
running `serve`); nothing here starts a process. `connected()` is re-entrant, so a
long-running owner (serve's lifespan) can hold the connections while per-session
lifespans enter and leave.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, Protocol

from agents.common.deps import AgentDeps
from agents.common.llm import LlmSettings
from agents.common.toolbox import McpToolbox, ToolFailed


class Conversations(Protocol):
    """Where a conversation's last plan is kept (the composition root hands one over)."""

    def load(self, conversation_id: str) -> dict[str, Any] | None: ...

    def save(self, conversation_id: str, plan: dict[str, Any]) -> None: ...


class AgentRunner:
    """Runs the router, natural-language analytics and experiment-intelligence graphs."""

    def __init__(
        self,
        deps: AgentDeps,
        servers: Mapping[str, Any],
        llm: LlmSettings | None = None,
        conversations: Conversations | None = None,
    ) -> None:
        self.deps = deps
        self.servers = dict(servers)
        self.llm = llm
        self.conversations = conversations
        self._toolbox: McpToolbox | None = None
        self._holders = 0

    @asynccontextmanager
    async def connected(self) -> AsyncIterator[AgentRunner]:
        """Keeps the MCP connections open while entered (by any number of holders)."""
        if self._toolbox is not None:
            self._holders += 1
            try:
                yield self
            finally:
                self._holders -= 1
            return
        async with McpToolbox(self.servers) as toolbox:
            self._toolbox, self._holders = toolbox, 1
            try:
                yield self
            finally:
                self._toolbox, self._holders = None, 0

    def warm(self) -> None:
        """Imports the flows (LangGraph and LangChain: about a second on two cores), so the
        first question to a long-running process does not wait for them."""
        import agents.analytics.runner
        import agents.intelligence.runner
        import agents.router.runner  # noqa: F401

    @property
    def toolbox(self) -> McpToolbox:
        if self._toolbox is None:
            raise ToolFailed("The agents' MCP connections are not open.")
        return self._toolbox

    async def ask(
        self, question: str, conversation_id: str | None = None, engine: str | None = None
    ) -> dict[str, Any]:
        """Answers ``question``; with a ``conversation_id`` a follow-up refines the
        conversation's previous plan ("and on mobile?")."""
        from agents.analytics.runner import ask_with

        store = self.conversations if conversation_id else None
        previous = store.load(conversation_id) if store and conversation_id else None
        state = await ask_with(self.deps, self.toolbox, question, self.llm, previous, engine)
        if store and conversation_id and state.get("plan"):
            store.save(conversation_id, state["plan"])
        return state

    async def recommend(self, experiment_key: str, engine: str | None = None) -> dict[str, Any]:
        from agents.intelligence.runner import recommend_with

        return await recommend_with(self.deps, self.toolbox, experiment_key, self.llm, engine)

    async def route(self, request: str) -> dict[str, Any]:
        from agents.router.runner import route_with

        return await route_with(self.deps, self.toolbox, request)
