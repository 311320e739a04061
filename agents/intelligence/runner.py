"""Running, resuming and inspecting experiment-intelligence runs."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from langgraph.types import Command

from agents.common.checkpoints import open_checkpointer
from agents.common.deps import AgentDeps
from agents.common.llm import LlmSettings, chat_model
from agents.common.toolbox import McpToolbox
from agents.intelligence.graph import build_intelligence_graph
from infrastructure.recommendations import apply, decide, ensure_applicable, get_recommendation


async def recommend_for(
    services: AgentDeps, experiment_key: str, servers: dict[str, Any]
) -> dict[str, Any]:
    """Runs the graph for one experiment; stops at the approval interrupt if one is needed."""
    async with McpToolbox(servers) as toolbox:
        return await recommend_with(services, toolbox, experiment_key)


async def recommend_with(
    services: AgentDeps,
    toolbox: McpToolbox,
    experiment_key: str,
    llm_settings: LlmSettings | None = None,
    engine: str | None = None,
) -> dict[str, Any]:
    """As `recommend_for`, over an already connected toolbox (several runs, one set of
    servers); ``engine``: the statistics engine of its verdict (None: the settings')."""
    run_id = f"intelligence-{uuid4()}"
    llm = chat_model(llm_settings or LlmSettings())
    toolbox = toolbox.for_run()  # each run records only its own tool calls
    async with open_checkpointer(services.event_store) as checkpointer:
        graph = build_intelligence_graph(toolbox, services.app, llm=llm, checkpointer=checkpointer)
        config = {"configurable": {"thread_id": run_id}}
        start = {"experiment_key": experiment_key, "run_id": run_id}
        state = await graph.ainvoke({**start, **({"engine": engine} if engine else {})}, config)
        snapshot = await graph.aget_state(config)
    return {**state, "run_id": run_id, "waiting_for_approval": bool(snapshot.next)}


def answer_text(state: dict[str, Any]) -> str:
    """The run's narrative, with how to approve when the run waits for a person."""
    text = state["narrative"]
    if state["waiting_for_approval"]:
        text += f" Approve with: neonblue approvals approve {state['recommendation_id']}."
    return text


async def resume_with_decision(
    services: AgentDeps, recommendation_id: str, approved: bool, by: str, note: str = ""
) -> dict[str, Any]:
    """Resumes the run that proposed ``recommendation_id`` with a person's decision."""
    recommendation = get_recommendation(services.app, recommendation_id)
    if approved:  # before the run resumes: a stale approval is refused, not recorded
        ensure_applicable(services.app, recommendation)
    run_id = recommendation.run_id
    async with (
        McpToolbox({}) as toolbox,  # acting needs no read: no server is started
        open_checkpointer(services.event_store) as checkpointer,
    ):
        graph = build_intelligence_graph(toolbox, services.app, checkpointer=checkpointer)
        config = {"configurable": {"thread_id": run_id}}
        snapshot = await graph.aget_state(config)
        if not snapshot.next:
            # no waiting run (e.g. checkpoints were reset): carry out the decision directly
            decide(services.app, recommendation_id, approved, by, note)
            applied = apply(services.app, recommendation_id) if approved else []
            return {"recommendation_id": recommendation_id, "applied": applied, "resumed": False}
        state = await graph.ainvoke(
            Command(resume={"approved": approved, "by": by, "note": note}), config
        )
    return {**state, "resumed": True}


async def inspect_run(services: AgentDeps, recommendation_id: str) -> dict[str, Any]:
    """A recommendation and the checkpointed state of the run that proposed it."""
    recommendation = get_recommendation(services.app, recommendation_id)
    async with McpToolbox({}) as toolbox, open_checkpointer(services.event_store) as checkpointer:
        graph = build_intelligence_graph(toolbox, services.app, checkpointer=checkpointer)
        snapshot = await graph.aget_state({"configurable": {"thread_id": recommendation.run_id}})
    return {
        "recommendation_id": str(recommendation.id),
        "experiment_key": recommendation.experiment_key,
        "action": recommendation.action,
        "variant": recommendation.variant,
        "state": recommendation.state,
        "decided_by": recommendation.decided_by,
        "reasons": recommendation.reasons,
        "numbers": recommendation.numbers,
        "tool_calls": recommendation.tool_calls,
        "positions": recommendation.positions,
        "run_id": recommendation.run_id,
        "run_waiting_at": list(snapshot.next),
        "run_checkpointed": bool(snapshot.values),
    }
