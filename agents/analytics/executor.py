"""Runs the read-only MCP tool calls a plan needs and keeps their answers for the composer.

Several calls when the question needs them (every experiment of a ranking, segments per
experiment, analysis plus trend for a duration). A filter that matches nothing is
retried without it, so the answer can name the nearest items with their numbers. Only
`Intent.RECOMMEND` (an explicit request) runs the recommendation graph.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from agents.analytics.plan import Intent, QueryPlan
from agents.analytics.vocabulary import Vocabulary
from agents.common.deps import AgentDeps
from agents.common.toolbox import McpToolbox, ToolFailed

DEFAULT_HORIZON = 7
MAX_EXPERIMENTS = 20
"""Experiments one question may analyse (a ranking over the whole catalog)."""


@dataclass
class Gathered:
    """Tool answers by purpose; ``failures`` are the tools' own messages."""

    analyses: dict[str, dict[str, Any]] = field(default_factory=dict)
    listing: dict[str, Any] | None = None
    assignments: list[dict[str, Any]] = field(default_factory=list)
    histories: dict[str, dict[str, Any]] = field(default_factory=dict)
    similar: dict[str, Any] | None = None
    similar_unfiltered: dict[str, Any] | None = None
    segments: dict[str, dict[str, Any]] = field(default_factory=dict)
    segments_unfiltered: dict[str, dict[str, Any]] = field(default_factory=dict)
    trends: dict[str, dict[str, Any]] = field(default_factory=dict)
    recommendation: dict[str, Any] | None = None
    scope: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if v}


async def execute(
    plan: QueryPlan, vocabulary: Vocabulary, toolbox: McpToolbox, services: AgentDeps
) -> Gathered:
    found = Gathered()

    async def call(server: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any] | None:
        try:
            return await toolbox.call(server, tool, arguments)
        except ToolFailed as error:
            found.failures.append(f"{tool}: {error}")
            return None

    if plan.has(Intent.RECOMMEND) and plan.experiments:
        from agents.intelligence.runner import recommend_with

        state = await recommend_with(services, toolbox, plan.experiments[0])
        found.recommendation = {
            k: state.get(k)
            for k in ("proposal", "narrative", "recommendation_id", "waiting_for_approval")
        }
        found.analyses[plan.experiments[0]] = state["analysis"]
    found.scope = _scope(plan, vocabulary)
    if plan.has(Intent.LIST) or plan.has(Intent.COUNT):
        arguments: dict[str, Any] = {"limit": 500}
        if plan.status:
            arguments["status"] = plan.status
        if plan.tags:
            arguments["tag"] = plan.tags[0]
        found.listing = await call("postgresql", "list_experiments", arguments)
    wants_analysis = {Intent.ANALYZE, Intent.RANK, Intent.DURATION} & set(plan.intents)
    for key in found.scope if wants_analysis else []:
        if key not in found.analyses and (
            answer := await call("postgresql", "analyze_experiment_data", {"experiment_id": key})
        ):
            found.analyses[key] = answer
    if plan.has(Intent.ASSIGN):
        for key in plan.experiments:
            for user in plan.user_ids:
                answer = await call(
                    "postgresql", "predict_user_assignment", {"experiment_id": key, "user_id": user}
                )
                if answer:
                    found.assignments.append(answer)
    if plan.has(Intent.HISTORY):
        for key in plan.experiments:
            if answer := await call("postgresql", "experiment_history", {"experiment_id": key}):
                found.histories[key] = answer
    if plan.has(Intent.SIMILAR):
        await _similar(plan, call, found)
    if plan.has(Intent.SEGMENTS):
        await _segments(plan, vocabulary, call, found)
    if plan.has(Intent.TREND):
        for key in plan.experiments:
            arguments = {"experiment_id": key, "days_ahead": plan.horizon_days or DEFAULT_HORIZON}
            metric = _metric_of(plan, vocabulary, key)
            if metric:
                arguments["metric"] = metric
            if answer := await call("clickhouse", "predict_experiment_trends", arguments):
                found.trends[key] = answer
    return found


def _scope(plan: QueryPlan, vocabulary: Vocabulary) -> list[str]:
    """The experiments a question is about: those it names, else the filtered catalog."""
    if plan.experiments:
        return plan.experiments[:MAX_EXPERIMENTS]
    if not ({Intent.RANK, Intent.SEGMENTS} & set(plan.intents)):
        return []
    keys = []
    for entry in vocabulary.entries:
        if plan.tags and not set(plan.tags) & set(entry.tags):
            continue
        if plan.status and entry.status != plan.status:
            continue
        if plan.has(Intent.RANK) and not plan.status and entry.status == "draft":
            continue
        keys.append(entry.key)
    return keys[:MAX_EXPERIMENTS]


def _metric_of(plan: QueryPlan, vocabulary: Vocabulary, key: str) -> str | None:
    own = {m.key for m in vocabulary.entry(key).metrics}
    return next((m for m in plan.metrics if m in own), None)


async def _similar(plan: QueryPlan, call: Any, found: Gathered) -> None:
    filters: dict[str, Any] = {}
    if plan.min_lift is not None:
        filters["min_lift"] = plan.min_lift
    if plan.status:
        filters["status"] = plan.status
    if plan.tags:
        filters["tag"] = plan.tags[0]
    query = plan.description or plan.question
    found.similar = await call(
        "chromadb",
        "semantic_experiment_search",
        {"query": query, "filters": filters, "n_results": 5},
    )
    if filters and found.similar is not None and not found.similar.get("results"):
        found.similar_unfiltered = await call(
            "chromadb", "semantic_experiment_search", {"query": query, "n_results": 3}
        )


def started_in(started: date | None, plan: QueryPlan) -> bool:
    span = plan.time_range
    if span is None:
        return True
    if started is None:
        return False
    return (span.since is None or started >= span.since) and (
        span.until is None or started <= span.until
    )


async def _segments(plan: QueryPlan, vocabulary: Vocabulary, call: Any, found: Gathered) -> None:
    base: dict[str, Any] = {}
    if len(plan.dimensions) == 1:
        base["dimension"] = plan.dimensions[0]
    elif len(plan.segments) == 1:
        base["dimension"] = next(iter(plan.segments))
    for key in found.scope:
        arguments = {**base, "experiment_id": key}
        metric = _metric_of(plan, vocabulary, key)
        if metric:
            arguments["metric"] = metric
        if started_in(vocabulary.entry(key).started_at, plan):
            if answer := await call("clickhouse", "segment_breakdown", arguments):
                found.segments[key] = answer
        elif (
            plan.time_range is not None
            and len(found.segments_unfiltered) < 3
            and (answer := await call("clickhouse", "segment_breakdown", arguments))
        ):
            found.segments_unfiltered[key] = answer
