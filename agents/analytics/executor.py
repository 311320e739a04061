"""Runs the read-only MCP tool calls a plan needs and keeps their answers for the composer.

Several calls when the question needs them (every experiment of a ranking, segments per
experiment, analysis plus trend for a duration). A filter that matches nothing is
retried without it, so the answer can name the nearest items with their numbers. Only
`Intent.RECOMMEND` (an explicit request) runs the recommendation graph.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import anyio

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
    plan: QueryPlan,
    vocabulary: Vocabulary,
    toolbox: McpToolbox,
    services: AgentDeps,
    engine: str | None = None,
) -> Gathered:
    """The tool calls the plan needs; ``engine``: of the analyses (None: the servers')."""
    found = Gathered()
    chosen = {"engine": engine} if engine else {}
    if plan.has(Intent.RECOMMEND) and plan.experiments:
        from agents.intelligence.runner import recommend_with

        state = await recommend_with(services, toolbox, plan.experiments[0], engine=engine)
        found.recommendation = {
            k: state.get(k)
            for k in ("proposal", "narrative", "recommendation_id", "waiting_for_approval")
        }
        found.analyses[plan.experiments[0]] = state["analysis"]
    found.scope = _scope(plan, vocabulary)
    # every call below depends only on the plan: they run together, and their answers are
    # filed in the order the calls are listed (so an answer never depends on timing)
    calls: list[Call] = []
    if plan.has(Intent.LIST) or plan.has(Intent.COUNT):
        arguments: dict[str, Any] = {"limit": 500}
        if plan.status:
            arguments["status"] = plan.status
        if plan.tags:
            arguments["tag"] = plan.tags[0]
        calls.append(Call("postgresql", "list_experiments", arguments, _set("listing")))
    if {Intent.ANALYZE, Intent.RANK, Intent.DURATION} & set(plan.intents):
        calls += [
            Call(
                "postgresql",
                "analyze_experiment_data",
                {"experiment_id": key, **chosen},
                _in("analyses", key),
            )
            for key in found.scope
            if key not in found.analyses
        ]
    if plan.has(Intent.ASSIGN):
        calls += [
            Call(
                "postgresql",
                "predict_user_assignment",
                {"experiment_id": key, "user_id": user},
                lambda found, answer: found.assignments.append(answer),
            )
            for key in plan.experiments
            for user in plan.user_ids
        ]
    if plan.has(Intent.HISTORY):
        calls += [
            Call("postgresql", "experiment_history", {"experiment_id": key}, _in("histories", key))
            for key in plan.experiments
        ]
    if plan.has(Intent.SIMILAR):
        calls.append(_similar(plan))
    if plan.has(Intent.SEGMENTS):
        calls += [
            _segments(plan, vocabulary, key, "segments")
            for key in found.scope
            if started_in(vocabulary.entry(key).started_at, plan)
        ]
    if plan.has(Intent.TREND):
        for key in plan.experiments:
            arguments = {"experiment_id": key, "days_ahead": plan.horizon_days or DEFAULT_HORIZON}
            metric = _metric_of(plan, vocabulary, key)
            if metric:
                arguments["metric"] = metric
            calls.append(
                Call("clickhouse", "predict_experiment_trends", arguments, _in("trends", key))
            )
    await _call_all(toolbox, calls, found)
    # what a filter that matched nothing is retried without
    searched = _similar(plan)
    if searched.arguments["filters"] and found.similar and not found.similar.get("results"):
        arguments = {"query": searched.arguments["query"], "n_results": 3}
        unfiltered = Call(
            "chromadb", "semantic_experiment_search", arguments, _set("similar_unfiltered")
        )
        await _call_all(toolbox, [unfiltered], found)
    if plan.has(Intent.SEGMENTS) and plan.time_range is not None:
        outside = [k for k in found.scope if not started_in(vocabulary.entry(k).started_at, plan)]
        while outside and len(found.segments_unfiltered) < NEAREST:
            batch = outside[: NEAREST - len(found.segments_unfiltered)]
            outside = outside[len(batch) :]
            calls = [_segments(plan, vocabulary, key, "segments_unfiltered") for key in batch]
            await _call_all(toolbox, calls, found)
    return found


NEAREST = 3
"""Experiments outside a period whose segments are shown as the nearest."""
CONCURRENT_CALLS = 4
"""Tool calls of one question in flight at once (the read models serialise their queries,
and each projection runner its catch-up)."""


@dataclass(frozen=True)
class Call:
    """One read-only tool call and where its answer goes."""

    server: str
    tool: str
    arguments: dict[str, Any]
    file: Callable[[Gathered, dict[str, Any]], None]


def _set(slot: str) -> Callable[[Gathered, dict[str, Any]], None]:
    return lambda found, answer: setattr(found, slot, answer)


def _in(slot: str, key: str) -> Callable[[Gathered, dict[str, Any]], None]:
    return lambda found, answer: getattr(found, slot).__setitem__(key, answer)


async def _call_all(toolbox: McpToolbox, calls: list[Call], found: Gathered) -> None:
    """Runs ``calls`` concurrently (they only read); files answers and failures in order."""
    results: list[dict[str, Any] | ToolFailed | None] = [None] * len(calls)
    limiter = anyio.CapacityLimiter(CONCURRENT_CALLS)

    async def run(index: int, call: Call) -> None:
        async with limiter:
            try:
                results[index] = await toolbox.call(call.server, call.tool, call.arguments)
            except ToolFailed as error:
                results[index] = error

    if len(calls) == 1:
        await run(0, calls[0])
    else:
        async with anyio.create_task_group() as group:
            for index, call in enumerate(calls):
                group.start_soon(run, index, call)
    for call, result in zip(calls, results, strict=True):
        if isinstance(result, ToolFailed):
            found.failures.append(f"{call.tool}: {result}")
        elif result:
            call.file(found, result)


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


def _similar(plan: QueryPlan) -> Call:
    filters: dict[str, Any] = {}
    if plan.min_lift is not None:
        filters["min_lift"] = plan.min_lift
    if plan.status:
        filters["status"] = plan.status
    if plan.tags:
        filters["tag"] = plan.tags[0]
    arguments = {"query": plan.description or plan.question, "filters": filters, "n_results": 5}
    return Call("chromadb", "semantic_experiment_search", arguments, _set("similar"))


def started_in(started: date | None, plan: QueryPlan) -> bool:
    span = plan.time_range
    if span is None:
        return True
    if started is None:
        return False
    return (span.since is None or started >= span.since) and (
        span.until is None or started <= span.until
    )


def _segments(plan: QueryPlan, vocabulary: Vocabulary, key: str, slot: str) -> Call:
    arguments: dict[str, Any] = {"experiment_id": key}
    if len(plan.dimensions) == 1:
        arguments["dimension"] = plan.dimensions[0]
    elif len(plan.segments) == 1:
        arguments["dimension"] = next(iter(plan.segments))
    metric = _metric_of(plan, vocabulary, key)
    if metric:
        arguments["metric"] = metric
    return Call("clickhouse", "segment_breakdown", arguments, _in(slot, key))
