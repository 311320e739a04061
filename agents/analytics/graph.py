"""The natural-language analytics graph: plan -> run -> (narrate).

plan (catalog via list_experiments; the deterministic planner, or the model's structured
plan checked against it) -> run (the read-only MCP tool calls the plan needs, then the
deterministic answer, every number kept as a fact) -> narrate (LLM mode only: the model's
prose, shown only if `verify` finds every number, verdict and action in the tool results
and the policy's decision). Any endpoint error falls back to the deterministic answer
with a one-line notice.

The graph is compiled once per process and each question passes its `Analyst` (toolbox,
services, model) as LangGraph's run context, so a question pays no compilation (it was
about 30 ms a question); this module (and so LangGraph) is imported when the first
question is asked.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from agents.analytics.compose import compose
from agents.analytics.executor import execute
from agents.analytics.plan import Intent, QueryPlan
from agents.analytics.planner import plan_question
from agents.analytics.prompts import NARRATIVE_SYSTEM
from agents.analytics.state import AnalyticsState
from agents.analytics.vocabulary import CatalogEntry, Vocabulary
from agents.common.deps import AgentDeps
from agents.common.llm import ask_model, llm_failure
from agents.common.toolbox import McpToolbox, ToolFailed
from agents.common.verify import verify

log = logging.getLogger("neonblue.analytics")
NEEDS_NAME = {Intent.ANALYZE, Intent.ASSIGN, Intent.HISTORY, Intent.TREND, Intent.DURATION}
PROSE_KEPT = 2000
"""Characters of rejected prose kept in the answer's ``verification`` (a reply may be huge)."""


@dataclass(frozen=True)
class Analyst:
    """What the steps use: the run's toolbox, the services and the model (None: deterministic)."""

    toolbox: McpToolbox
    services: AgentDeps
    llm: Any | None = None
    engine: str | None = None  # of the analyses (None: the servers' default)


async def answer(analyst: Analyst, state: AnalyticsState) -> AnalyticsState:
    """Runs the graph for one question; each node returns the part of the state it fills."""
    result = await _graph().ainvoke(state, context=analyst)
    return AnalyticsState(**result)


async def _plan(state: AnalyticsState, runtime: Runtime[Analyst]) -> dict[str, Any]:
    return await plan(runtime.context, state)


async def _run(state: AnalyticsState, runtime: Runtime[Analyst]) -> dict[str, Any]:
    return await run(runtime.context, state)


async def _narrate(state: AnalyticsState, runtime: Runtime[Analyst]) -> dict[str, Any]:
    return await narrate(runtime.context, state)


def _after_run(state: AnalyticsState, runtime: Runtime[Analyst]) -> str:
    wanted = runtime.context.llm is not None and not state.get("llm_failed")
    return "narrate" if wanted and state.get("answered") else END


@functools.cache
def _graph() -> Any:
    graph = StateGraph(AnalyticsState, context_schema=Analyst)
    graph.add_node("plan", _plan)
    graph.add_node("run", _run)
    graph.add_node("narrate", _narrate)
    graph.add_edge(START, "plan")
    graph.add_edge("plan", "run")
    graph.add_conditional_edges("run", _after_run, ["narrate", END])
    graph.add_edge("narrate", END)
    return graph.compile()


async def plan(analyst: Analyst, state: AnalyticsState) -> dict[str, Any]:
    toolbox, llm = analyst.toolbox, analyst.llm
    listed = await toolbox.call("postgresql", "list_experiments", {"limit": 500})
    vocabulary = Vocabulary([CatalogEntry.of(e) for e in listed["experiments"]])
    previous = state.get("previous_plan")
    today = datetime.now(UTC).date()
    planned = plan_question(
        state["question"],
        vocabulary,
        today,
        QueryPlan.model_validate(previous) if previous else None,
    )
    notices: list[str] = []
    if llm is not None and not planned.follow_up:
        from agents.analytics.llm_planner import llm_plan

        try:
            planned = await llm_plan(llm, state["question"], vocabulary, today, planned)
        except Exception as error:  # any endpoint or validation failure: deterministic
            notices.append(llm_failure("planning", error))
            log.warning("LLM plan failed: %s", error)
    if (
        set(planned.intents) & NEEDS_NAME
        and not planned.experiments
        and not planned.candidates
        and listed["experiments"]  # nothing to find in an empty store (the model loads in s)
    ):
        planned = planned.model_copy(update={"candidates": await _nearest(toolbox, planned)})
    return {
        "catalog": listed["experiments"],
        "plan": planned.model_dump(mode="json"),
        "parsed": {
            "intent": planned.intents[0].value if planned.intents else "unknown",
            "intents": [i.value for i in planned.intents],
            "experiment_key": planned.experiments[0] if planned.experiments else None,
        },
        "notices": notices,
        "llm_failed": bool(notices),
    }


async def run(analyst: Analyst, state: AnalyticsState) -> dict[str, Any]:
    planned = QueryPlan.model_validate(state["plan"])
    vocabulary = Vocabulary([CatalogEntry.of(e) for e in state["catalog"]])
    found = await execute(planned, vocabulary, analyst.toolbox, analyst.services, analyst.engine)
    composed = compose(planned, found, vocabulary)
    update: dict[str, Any] = {
        "result": found.as_dict(),
        "facts": composed.facts,
        "deterministic_answer": composed.text,
        "answer": composed.text,
        "answered": composed.answered,
        "action": composed.action,
        "sources": _sources(analyst.toolbox),
        "footer": composed.footer,
    }
    if found.recommendation:
        update["recommendation_id"] = found.recommendation["recommendation_id"]
    return update


async def narrate(analyst: Analyst, state: AnalyticsState) -> dict[str, Any]:
    from langchain_core.messages import HumanMessage, SystemMessage

    reference = state["deterministic_answer"]
    notices = list(state.get("notices") or [])
    try:
        reply = await ask_model(
            analyst.llm,
            [
                SystemMessage(NARRATIVE_SYSTEM),
                HumanMessage(f"Question: {state['question']}\nAnswer: {reference}"),
            ],
        )
        prose = str(reply.content or "").strip()
    except Exception as error:
        notices.append(llm_failure("writing", error))
        log.warning("LLM narrative failed: %s", error)
        return {"notices": notices}
    if not prose:
        notices.append("The model returned no text; showing the checked answer.")
        return {"notices": notices, "verification": {"ok": False, "problems": ["empty reply"]}}
    problems = verify(
        prose, reference, state.get("facts") or [], state.get("action"), state["question"]
    )
    if problems:
        log.warning("LLM answer rejected (%s): %r", "; ".join(problems), prose[:300])
        notices.append(
            "The model's wording did not match the tool results; showing the checked answer."
        )
        return {
            "notices": notices,
            "verification": {"ok": False, "problems": problems, "prose": prose[:PROSE_KEPT]},
        }
    footer = state.get("footer") or ""
    answer = prose if not footer or footer in prose else f"{prose} {footer}"
    return {"answer": answer, "verification": {"ok": True, "problems": []}}


async def _nearest(toolbox: McpToolbox, planned: QueryPlan) -> list[str]:
    """Did-you-mean keys from the knowledge base's semantic search (the embedding model)."""
    if not toolbox.has("chromadb"):
        return []
    try:
        found = await toolbox.call(
            "chromadb", "semantic_experiment_search", {"query": planned.question, "n_results": 3}
        )
    except ToolFailed:
        return []
    return [hit["key"] for hit in found.get("results", [])]


def _sources(toolbox: McpToolbox) -> list[dict[str, Any]]:
    return [c.as_dict() for c in toolbox.calls]
