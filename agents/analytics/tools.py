"""One executor per intent: which MCP tools answer it, and a templated answer with numbers."""

from __future__ import annotations

from typing import Any

from agents.analytics.parse import Intent, ParsedQuestion
from agents.common.deps import AgentDeps
from agents.common.toolbox import McpToolbox, ToolFailed

NEEDS_EXPERIMENT = {Intent.ASSIGN, Intent.RECOMMEND, Intent.TREND, Intent.HISTORY, Intent.ANALYZE}
HELP = (
    "I can answer: how an experiment is doing, which experiments are running, what changed "
    "and when, which variant a user gets, similar past experiments, segment breakdowns, "
    "trend forecasts, and what to do next with an experiment."
)


async def execute(
    q: ParsedQuestion, toolbox: McpToolbox, services: AgentDeps, catalog: list[str]
) -> tuple[dict[str, Any], str]:
    """Runs the tools for the parsed question; returns (result, answer)."""
    if q.intent == Intent.UNKNOWN:
        return {}, f"I did not understand the question. {HELP}"
    if q.intent in NEEDS_EXPERIMENT and not q.experiment_key:
        return {}, f"Which experiment do you mean? Known experiments: {', '.join(catalog)}."
    key = q.experiment_key or ""
    try:
        handler = HANDLERS[q.intent]
        return await handler(q, key, toolbox, services)
    except ToolFailed as error:
        return {"error": str(error)}, f"The {q.intent} lookup failed: {error}"


async def _analyze(
    q: ParsedQuestion, key: str, toolbox: McpToolbox, _: AgentDeps
) -> tuple[dict[str, Any], str]:
    answer = await toolbox.call("postgresql", "analyze_experiment_data", {"experiment_id": key})
    card = answer["scorecard"]
    rows = [r for r in card["results"] if q.metric in (None, r["metric"])] or card["results"]
    parts = [f"{key} ({answer['experiment']['status']}, {card['total_users']:,} users):"]
    for r in rows:
        if r["relative_lift"] is None:
            parts.append(f"{r['metric']} for {r['variant']}: not enough data ({r['error']}).")
            continue
        verdict = {"better": "significantly better", "worse": "significantly worse"}.get(
            r["direction"], "not significant"
        )
        parts.append(
            f"{r['metric']} {r['variant']} vs {card['control']}: {r['relative_lift']:+.1%} "
            f"[{r['ci_lower']:+.1%}, {r['ci_upper']:+.1%}], {verdict} "
            f"({card['engine']}, adjusted p={r['adjusted_p_value']:.3g})."
        )
    parts.append(answer["health"][0])
    return answer, " ".join(parts)


async def _list(
    q: ParsedQuestion, _: str, toolbox: McpToolbox, __: AgentDeps
) -> tuple[dict[str, Any], str]:
    arguments = {k: v for k, v in {"status": q.status, "tag": q.tag}.items() if v}
    answer = await toolbox.call("postgresql", "list_experiments", arguments)
    keys = [f"{e['key']} ({e['status']})" for e in answer["experiments"]]
    label = " ".join(v for v in (q.status, q.tag) if v) or "all"
    if not keys:
        return answer, f"No experiments match ({label})."
    return answer, f"{answer['total']} experiment(s) ({label}): {', '.join(keys)}."


async def _assign(
    q: ParsedQuestion, key: str, toolbox: McpToolbox, _: AgentDeps
) -> tuple[dict[str, Any], str]:
    if not q.user_id:
        return {}, "Which user? Ask e.g. 'which variant does user u-42 get in checkout-cta?'."
    answer = await toolbox.call(
        "postgresql", "predict_user_assignment", {"experiment_id": key, "user_id": q.user_id}
    )
    if answer["variant"] is None:
        return answer, f"User {q.user_id} is not in {key}: {answer['reason']}."
    return answer, (
        f"User {q.user_id} gets {answer['variant']} in {key}: hash v{answer['hash_version']} "
        f"= {answer['hash_value']:.4f}, inside [{answer['bucket_range'][0]:.2f}, "
        f"{answer['bucket_range'][1]:.2f})."
    )


async def _history(
    _: ParsedQuestion, key: str, toolbox: McpToolbox, __: AgentDeps
) -> tuple[dict[str, Any], str]:
    answer = await toolbox.call("postgresql", "experiment_history", {"experiment_id": key})
    steps = [f"{e['event'].split('.')[-1]} at {e['recorded_at'][:16]}" for e in answer["events"]]
    return answer, f"History of {key}: {'; '.join(steps)}. Now {answer['state']['status']}."


async def _recommend(
    _: ParsedQuestion, key: str, toolbox: McpToolbox, services: AgentDeps
) -> tuple[dict[str, Any], str]:
    """The experiment-intelligence graph itself: recorded, and paused for approval if needed."""
    from agents.intelligence.runner import answer_text, recommend_with

    state = await recommend_with(services, toolbox, key)
    result = {k: state[k] for k in ("analysis", "proposal", "recommendation_id")}
    return result, answer_text(state)


async def _similar(
    q: ParsedQuestion, _: str, toolbox: McpToolbox, __: AgentDeps
) -> tuple[dict[str, Any], str]:
    filters: dict[str, Any] = {}
    if q.min_lift is not None:
        filters["min_lift"] = q.min_lift
    answer = await toolbox.call(
        "chromadb",
        "semantic_experiment_search",
        {"query": q.search_text or q.question, "filters": filters, "n_results": 5},
    )
    hits = answer.get("results", [])
    if not hits:
        return answer, "No similar experiments match."
    described = [
        f"{h['key']} ({h.get('outcome') or h.get('status')}, lift {h['lift']:+.1%})"
        if h.get("lift") is not None
        else h["key"]
        for h in hits
    ]
    return answer, f"Most similar experiments: {', '.join(described)}."


async def _segments(
    q: ParsedQuestion, key: str, toolbox: McpToolbox, _: AgentDeps
) -> tuple[dict[str, Any], str]:
    arguments: dict[str, Any] = {}  # every segment dimension the read model has
    if key:
        arguments["experiment_id"] = key
    if q.tag:
        arguments["tag"] = q.tag
    if q.since:
        arguments["since"] = q.since.isoformat()
    if q.until:
        arguments["until"] = q.until.isoformat()
    answer = await toolbox.call("clickhouse", "segment_breakdown", arguments)
    rows = sorted(answer.get("segments", []), key=lambda r: -(r.get("relative_lift") or -1e9))
    if not rows:
        return answer, "No segment data in that range."
    best = rows[0]
    dimensions = ", ".join(answer.get("dimensions") or [best["dimension"]])
    return answer, (
        f"Best-responding segment: {best['dimension']} {best['segment']} "
        f"({best['relative_lift']:+.1%} on {best['users']:,} users), across {len(rows)} "
        f"segments of {dimensions}."
    )


async def _trend(
    _: ParsedQuestion, key: str, toolbox: McpToolbox, __: AgentDeps
) -> tuple[dict[str, Any], str]:
    answer = await toolbox.call(
        "clickhouse", "predict_experiment_trends", {"experiment_id": key, "days_ahead": 7}
    )
    power = answer.get("predictive_power")  # averaged over the effect's uncertainty
    text = f"Forecast for {key} over the next 7 days: {answer.get('summary', 'see series')}."
    if power is not None:
        text += f" Chance to reach significance by the planned end: {power:.0%}."
    return answer, text


HANDLERS = {
    Intent.ANALYZE: _analyze,
    Intent.LIST: _list,
    Intent.ASSIGN: _assign,
    Intent.HISTORY: _history,
    Intent.RECOMMEND: _recommend,
    Intent.SIMILAR: _similar,
    Intent.SEGMENTS: _segments,
    Intent.TREND: _trend,
}
