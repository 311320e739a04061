"""The router graph.

classify_request -> one of:
- analytics (a question): the natural-language analytics graph;
- intelligence (an experiment key): the experiment-intelligence graph;
- classify_event (an event's JSON): the deterministic fast-path rules plus approved learned
  rules; an unknown type gets a proposed rule;
- triage ("triage"): proposes rules for every unknown type ingest listed.
Proposed rules are recorded as events and wait for a person (`neonblue triage approve`).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from langgraph.graph import END, START, StateGraph

from agents.common.deps import AgentDeps
from agents.common.toolbox import McpToolbox
from agents.router.state import RouterState
from domain.errors import DomainError
from domain.ingestion.classification import Action, classify
from domain.ingestion.rules import suggest_rule
from infrastructure.triage import LearnedRules, propose_rule

PROPOSER = "agent:router"
Route = Literal["analytics", "intelligence", "classify_event", "triage"]


def build_router_graph(toolbox: McpToolbox, services: AgentDeps):
    async def classify_request(state: RouterState) -> dict[str, Any]:
        text = state["request"].strip()
        if text.lower() in ("triage", "triage unknown event types"):
            return {"kind": "triage"}
        try:
            event = json.loads(text)
        except ValueError:
            event = None
        if isinstance(event, dict) and "event_type" in event:
            return {"kind": "event", "event": event}
        listed = await toolbox.call("postgresql", "list_experiments", {"limit": 500})
        if text in {e["key"] for e in listed["experiments"]}:
            return {"kind": "experiment"}
        return {"kind": "question"}

    def route(state: RouterState) -> Route:
        return {
            "question": "analytics",
            "experiment": "intelligence",
            "event": "classify_event",
            "triage": "triage",
        }[state["kind"]]  # type: ignore[return-value]

    async def analytics(state: RouterState) -> dict[str, Any]:
        from agents.analytics.runner import ask_with

        answered = await ask_with(services, toolbox, state["request"])
        return {
            "answer": answered["answer"],
            "result": answered.get("result", {}),
            "sources": answered.get("sources", []),
        }

    async def intelligence(state: RouterState) -> dict[str, Any]:
        from agents.intelligence.runner import answer_text, recommend_with

        ran = await recommend_with(services, toolbox, state["request"].strip())
        result = {"proposal": ran["proposal"], "recommendation_id": ran["recommendation_id"]}
        return {"answer": answer_text(ran), "result": result, "sources": ran.get("tool_calls", [])}

    def classify_event(state: RouterState) -> dict[str, Any]:
        event = state["event"]
        event_type = str(event["event_type"])
        found = classify(event_type, LearnedRules(services.app, 0).current())
        if found.action is not Action.TRIAGE:
            targets = ", ".join(found.targets)
            return {
                "classification": found.as_context(),
                "answer": f"'{event_type}' is {found.data_type} ({found.priority} priority, "
                f"rule {found.rule}): ingest stores it, then projects it to {targets}; "
                f"retention {found.retention}. (Routing only classifies: nothing was recorded.)",
            }
        proposals = _propose(services, {event_type: (1, [event])})
        return {
            "classification": found.as_context(),
            "proposals": proposals,
            "answer": f"'{event_type}' is unknown: ingest keeps such events for triage "
            "(this one was not recorded). " + _describe(proposals),
        }

    async def triage(_: RouterState) -> dict[str, Any]:
        listed = await toolbox.call("postgresql", "list_unclassified_event_types", {"limit": 100})
        pending = {
            t["event_type"]: (t["count"], t["examples"])
            for t in listed["event_types"]
            if t["rule_state"] in (None, "rejected")
        }
        proposals = _propose(services, pending)
        if not listed["event_types"]:
            return {"proposals": [], "answer": "No unknown event types are waiting for triage."}
        return {
            "proposals": proposals,
            "answer": _describe(proposals),
            "sources": [c.as_dict() for c in toolbox.calls],
        }

    graph = StateGraph(RouterState)
    graph.add_node("classify_request", classify_request)
    for name, node in (
        ("analytics", analytics),
        ("intelligence", intelligence),
        ("classify_event", classify_event),
        ("triage", triage),
    ):
        graph.add_node(name, node)
        graph.add_edge(name, END)
    graph.add_edge(START, "classify_request")
    graph.add_conditional_edges("classify_request", route)
    return graph.compile()


def _propose(
    services: AgentDeps, types: dict[str, tuple[int, list[dict[str, Any]]]]
) -> list[dict[str, Any]]:
    proposals = []
    for event_type, (count, examples) in types.items():
        suggestion = suggest_rule(event_type, examples)
        entry: dict[str, Any] = {
            "event_type": event_type,
            "count": count,
            "reasoning": suggestion.reasoning,
        }
        if suggestion.action is None:
            entry["state"] = "kept in triage"
        else:
            try:
                rule = propose_rule(services.app, event_type, suggestion, count, PROPOSER)
                entry |= {
                    "state": rule.state,
                    "action": str(suggestion.action),
                    "metric": suggestion.metric,
                }
            except DomainError as error:
                entry["state"] = f"not proposed: {error}"
        proposals.append(entry)
    return proposals


def _describe(proposals: list[dict[str, Any]]) -> str:
    if not proposals:
        return "Nothing to propose."
    parts = []
    for p in proposals:
        if p.get("action"):
            target = f"metric {p['metric']}" if p["action"] == "metric" else "exposure"
            parts.append(
                f"'{p['event_type']}' -> {target} ({p['reasoning']}); approve with "
                f"`neonblue triage approve {p['event_type']}`"
            )
        else:
            parts.append(f"'{p['event_type']}': {p['state']} ({p['reasoning']})")
    return "Proposed rules: " + "; ".join(parts) + "."
