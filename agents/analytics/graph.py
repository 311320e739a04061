"""The natural-language analytics graph.

Deterministic mode: parse (rules) -> execute (MCP tools for the intent) -> answer
(template). LLM mode: plan (the model chooses MCP tools; NeonBlue executes them and feeds
the results back) -> answer (the model's prose over tool results). Same state, same
sources list, so every answer says which tools and read-model positions it used.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any, Literal

from langgraph.graph import END, START, StateGraph

from agents.analytics.parse import CatalogEntry, parse_question
from agents.analytics.prompts import ANALYST_SYSTEM, MAX_TOOL_ROUNDS
from agents.analytics.state import AnalyticsState
from agents.analytics.tools import execute
from agents.common.deps import AgentDeps
from agents.common.toolbox import McpToolbox, ToolFailed


def build_analytics_graph(toolbox: McpToolbox, services: AgentDeps, llm: Any | None = None):
    async def parse(state: AnalyticsState) -> dict[str, Any]:
        listed = await toolbox.call("postgresql", "list_experiments", {"limit": 500})
        catalog = [
            CatalogEntry(e["key"], e["name"], tuple(e["tags"]), e["status"])
            for e in listed["experiments"]
        ]
        parsed = parse_question(state["question"], catalog)
        return {"parsed": {**asdict(parsed), "catalog": [c.key for c in catalog]}}

    async def run_tools(state: AnalyticsState) -> dict[str, Any]:
        from agents.analytics.parse import Intent, ParsedQuestion

        fields = {k: v for k, v in state["parsed"].items() if k != "catalog"}
        parsed = ParsedQuestion(**{**fields, "intent": Intent(fields["intent"])})
        result, answer = await execute(parsed, toolbox, services, state["parsed"]["catalog"])
        update = {"result": result, "answer": answer, "sources": _sources(toolbox)}
        if "recommendation_id" in result:
            update["recommendation_id"] = result["recommendation_id"]
        return update

    async def plan(state: AnalyticsState) -> dict[str, Any]:
        from langchain_core.messages import HumanMessage, SystemMessage, ToolMessage

        specs = []
        for server in toolbox.servers:
            for tool in await toolbox.list_tools(server):
                specs.append(
                    {
                        "type": "function",
                        "function": {
                            "name": f"{server}__{tool.name}",
                            "description": tool.description or "",
                            "parameters": tool.input_schema,
                        },
                    }
                )
        model = llm.bind_tools(specs)
        messages: list[Any] = [SystemMessage(ANALYST_SYSTEM), HumanMessage(state["question"])]
        results: list[dict[str, Any]] = []
        reply = None
        for _ in range(MAX_TOOL_ROUNDS + 1):
            reply = await model.ainvoke(messages)
            messages.append(reply)
            if not reply.tool_calls:
                break
            for call in reply.tool_calls:
                server, _, tool = call["name"].partition("__")
                try:
                    output: dict[str, Any] = await toolbox.call(server, tool, call["args"])
                except ToolFailed as error:
                    output = {"error": str(error)}
                results.append({"tool": call["name"], "arguments": call["args"], "result": output})
                messages.append(
                    ToolMessage(json.dumps(output, default=str), tool_call_id=call["id"])
                )
        answer = str(reply.content).strip() if reply is not None else ""
        return {
            "result": {"tool_results": results},
            "answer": answer or "No answer.",
            "sources": _sources(toolbox),
        }

    def choose_mode(_: AnalyticsState) -> Literal["parse", "plan"]:
        return "plan" if llm is not None else "parse"

    graph = StateGraph(AnalyticsState)
    graph.add_node("parse", parse)
    graph.add_node("run_tools", run_tools)
    graph.add_node("plan", plan)
    graph.add_conditional_edges(START, choose_mode)
    graph.add_edge("parse", "run_tools")
    graph.add_edge("run_tools", END)
    graph.add_edge("plan", END)
    return graph.compile()


def _sources(toolbox: McpToolbox) -> list[dict[str, Any]]:
    return [c.as_dict() for c in toolbox.calls]
