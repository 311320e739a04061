"""The experiment-intelligence graph.

gather (MCP: postgresql analysis; chromadb similar experiments and clickhouse trends when
those servers are configured) -> recommend (statistics-engine verdicts through the domain
policy; recorded as a Recommendation event with its tool calls and read-model positions)
-> await_approval (LangGraph interrupt, only for actions that change a running
experiment) -> act (domain commands, recorded).
"""

from __future__ import annotations

import json
import logging
from typing import Any, Literal

import anyio
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt

from agents.common.llm import ask_model, llm_failure
from agents.common.scorecards import scorecard_from_answer
from agents.common.timing import days_since
from agents.common.toolbox import McpToolbox, ToolFailed
from agents.common.verify import FRACTION, verify
from agents.intelligence.configuration import IntelligenceSettings
from agents.intelligence.prompts import NARRATIVE_SYSTEM, templated_narrative
from agents.intelligence.state import IntelligenceState
from domain.intelligence.policy import Timing, recommend
from infrastructure.application import NeonBlue
from infrastructure.recommendations import apply, decide, record_proposal
from infrastructure.settings import StatisticsSettings
from infrastructure.track_record import current_track_record

log = logging.getLogger("neonblue.intelligence")


def build_intelligence_graph(
    toolbox: McpToolbox,
    app: NeonBlue,
    settings: IntelligenceSettings | None = None,
    llm: Any | None = None,
    checkpointer: Any | None = None,
):
    settings = settings or IntelligenceSettings()

    async def gather(state: IntelligenceState) -> dict[str, Any]:
        """The analysis (then similar experiments, searched by its name and hypothesis)
        alongside the trends: the two branches run concurrently (they only read)."""
        key = state["experiment_key"]
        engine = (  # asked for by the caller, else the agents', else the platform's
            state.get("engine") or settings.engine or StatisticsSettings().stats_engine
        )
        update: dict[str, Any] = {"notes": []}

        async def analysis_and_similar() -> None:
            analysis = await toolbox.call(
                "postgresql", "analyze_experiment_data", {"experiment_id": key, "engine": engine}
            )
            update["analysis"] = analysis
            if not toolbox.has("chromadb"):
                return
            try:  # by the experiment's stored vector: no embedding model to load
                found = await toolbox.call(
                    "chromadb",
                    "find_similar_experiments",
                    {"experiment_id": key, "n_results": settings.similar_experiments},
                )
                update["similar"] = found.get("results", [])
            except ToolFailed as error:
                update["notes"].append(f"similar experiments unavailable: {error}")

        async def trends() -> None:
            try:
                update["trends"] = await toolbox.call(
                    "clickhouse",
                    "predict_experiment_trends",
                    {"experiment_id": key, "days_ahead": 7},
                )
            except ToolFailed as error:
                update["notes"].append(f"trends unavailable: {error}")

        try:
            async with anyio.create_task_group() as group:  # an analysis failure cancels trends
                group.start_soon(analysis_and_similar)
                if toolbox.has("clickhouse"):
                    group.start_soon(trends)
        except BaseExceptionGroup as failed:  # the analysis's own error, as when run alone
            raise failed.exceptions[0] from None
        update["notes"].sort()  # in a fixed order, whichever branch failed first
        return update

    async def recommend_node(state: IntelligenceState) -> dict[str, Any]:
        key = state["experiment_key"]
        analysis = state["analysis"]
        card = scorecard_from_answer(key, analysis["scorecard"])
        started = analysis["experiment"].get("started_at")
        days = days_since(started) if started else 0.0
        timing = Timing(days_running=days, planned_days=settings.planned_days)
        record = current_track_record(app)  # how good past forecasts were (issue 16)
        proposal = recommend(card, timing, analysis["experiment"]["status"], record)
        proposed = {
            "action": str(proposal.action),
            "variant": proposal.variant,
            "reasons": proposal.reasons,
            "numbers": {k: float(v) for k, v in proposal.numbers.items()},
            "needs_approval": proposal.needs_approval,
        }
        similar = state.get("similar", [])
        status = analysis["experiment"]["status"]
        narrative = templated_narrative(key, proposed, similar, status)
        notices: list[str] = []
        if llm is not None:
            narrative, notices = await _checked_narrative(llm, key, proposed, similar, narrative)
        recommendation_id = record_proposal(
            app,
            key,
            proposal,
            tool_calls=[c.as_dict() for c in toolbox.calls],
            positions=toolbox.positions(),
            mode="llm" if llm is not None and not notices else "deterministic",  # whose words
            run_id=state["run_id"],
        )
        return {
            "proposal": proposed,
            "narrative": narrative,
            "recommendation_id": str(recommendation_id),
            "tool_calls": [c.as_dict() for c in toolbox.calls],
            "notices": notices,
        }

    def await_approval(state: IntelligenceState) -> dict[str, Any]:
        decision = interrupt(
            {
                "recommendation_id": state["recommendation_id"],
                "experiment_key": state["experiment_key"],
                "action": state["proposal"]["action"],
                "variant": state["proposal"]["variant"],
                "reasons": state["proposal"]["reasons"],
            }
        )
        return {"decision": dict(decision)}

    def act(state: IntelligenceState) -> dict[str, Any]:
        decision = state["decision"]
        approved = bool(decision.get("approved"))
        decide(
            app,
            state["recommendation_id"],
            approved,
            decision.get("by", "unknown"),
            decision.get("note", ""),
        )
        return {"applied": apply(app, state["recommendation_id"]) if approved else []}

    def after_recommend(state: IntelligenceState) -> Literal["await_approval", "__end__"]:
        return "await_approval" if state["proposal"]["needs_approval"] else END

    graph = StateGraph(IntelligenceState)
    graph.add_node("gather", gather)
    graph.add_node("recommend", recommend_node)
    graph.add_node("await_approval", await_approval)
    graph.add_node("act", act)
    graph.add_edge(START, "gather")
    graph.add_edge("gather", "recommend")
    graph.add_conditional_edges("recommend", after_recommend)
    graph.add_edge("await_approval", "act")
    graph.add_edge("act", END)
    return graph.compile(checkpointer=checkpointer)


async def _checked_narrative(
    llm: Any, key: str, proposed: dict[str, Any], similar: list[dict[str, Any]], templated: str
) -> tuple[str, list[str]]:
    """The model's narrative if it matches the proposal (numbers, verdicts, the action);
    else the templated one. An endpoint failure also falls back, with a one-line notice."""
    try:
        prose = await _llm_narrative(llm, key, proposed, similar)
    except Exception as error:  # HTTP errors, timeouts, malformed replies
        log.warning("LLM narrative failed: %s", error)
        return templated, [llm_failure("writing the recommendation", error)]
    if not prose:
        return templated, ["The model returned no narrative; showing the checked one."]
    facts = [
        {"label": name, "value": value, "unit": FRACTION if name != "z" else ""}
        for name, value in proposed["numbers"].items()
    ]
    reference = " ".join([templated, json.dumps(proposed["numbers"])])
    problems = verify(prose, reference, facts, proposed["action"])
    if problems:
        log.warning("LLM narrative rejected (%s): %r", "; ".join(problems), prose[:300])
        notice = "The model's narrative did not match the decision; showing the checked one."
        return templated, [notice]
    return prose, []


async def _llm_narrative(
    llm: Any, key: str, proposal: dict[str, Any], similar: list[dict[str, Any]]
) -> str | None:
    from langchain_core.messages import HumanMessage, SystemMessage

    facts = {"experiment": key, **proposal, "similar": [h.get("key") for h in similar[:3]]}
    reply = await ask_model(
        llm, [SystemMessage(NARRATIVE_SYSTEM), HumanMessage(json.dumps(facts, default=str))]
    )
    text = str(reply.content or "").strip()
    return text or None
