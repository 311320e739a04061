"""The LLM planner: the model fills the same `QueryPlan` through structured output.

Its plan is checked against the catalog and the deterministic plan before use: unknown
experiment keys become did-you-mean candidates, user ids must appear verbatim in the
question, and the recommendation graph runs only when the deterministic planner also saw
an explicit request (text in a question cannot make the model run it). Instructions the
deterministic planner dropped never reach the model.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from pydantic import BaseModel, Field

from agents.analytics.plan import Intent, QueryPlan, Shape, TimeRange
from agents.analytics.prompts import PLANNER_SYSTEM
from agents.analytics.slots import split_instructions
from agents.analytics.vocabulary import Vocabulary


class LlmPlan(BaseModel):
    """What the model fills (the rest of `QueryPlan` is NeonBlue's)."""

    intents: list[Intent] = Field(description="What the question asks; several allowed.")
    experiments: list[str] = Field(default_factory=list, description="Experiment keys.")
    description: str = Field("", description="For 'similar': what the experiments are about.")
    variants: list[str] = Field(default_factory=list)
    metrics: list[str] = Field(default_factory=list)
    dimensions: list[str] = Field(default_factory=list, description="device, country, ...")
    segments: dict[str, list[str]] = Field(default_factory=dict)
    since: date | None = None
    until: date | None = None
    horizon_days: int | None = None
    min_lift: float | None = None
    status: str | None = None
    tags: list[str] = Field(default_factory=list)
    user_ids: list[str] = Field(default_factory=list)
    shape: Shape = Shape.SUMMARY


def catalog_text(vocabulary: Vocabulary) -> str:
    return json.dumps(
        [
            {
                "key": e.key,
                "name": e.name,
                "status": e.status,
                "tags": list(e.tags),
                "variants": [v for v, _ in e.variants],
                "metrics": [m.key for m in e.metrics],
            }
            for e in vocabulary.entries
        ]
    )


async def llm_plan(
    llm: Any, question: str, vocabulary: Vocabulary, today: date, deterministic: QueryPlan
) -> QueryPlan:
    """The model's plan, validated; raises on endpoint or validation errors (caller falls back)."""
    from langchain_core.messages import HumanMessage, SystemMessage

    kept, _ = split_instructions(question)
    model = llm.with_structured_output(LlmPlan, method="json_schema")
    filled: LlmPlan = await model.ainvoke(
        [
            SystemMessage(PLANNER_SYSTEM.format(today=today.isoformat())),
            HumanMessage(f"Catalog: {catalog_text(vocabulary)}\nQuestion: {kept}"),
        ]
    )
    if not isinstance(filled, LlmPlan):
        raise ValueError("the model returned no plan")
    known = set(vocabulary.keys)
    experiments = [k for k in filled.experiments if k in known]
    unknown = [k for k in filled.experiments if k not in known]
    candidates = [k for name in unknown for _, k in vocabulary.scores(name)[:2]]
    intents = [i for i in filled.intents if i != Intent.RECOMMEND or deterministic.has(i)]
    time_range = (
        TimeRange(since=filled.since, until=filled.until, phrase="as planned by the model")
        if filled.since or filled.until
        else None
    )
    own_metrics = {m.key for e in vocabulary.entries for m in e.metrics}
    model_said: dict[str, Any] = {
        "intents": intents,
        "experiments": experiments,
        "candidates": list(dict.fromkeys(candidates)) if not experiments else [],
        "description": filled.description,
        "variants": filled.variants,
        "metrics": [m for m in filled.metrics if m in own_metrics],
        "dimensions": filled.dimensions,
        "segments": filled.segments,
        "time_range": time_range,
        "horizon_days": filled.horizon_days,
        "min_lift": filled.min_lift,
        "status": filled.status,
        "tags": filled.tags,
        "user_ids": [u for u in filled.user_ids if u in question],
    }
    merged = deterministic.model_dump()
    merged |= {k: v for k, v in model_said.items() if v not in (None, [], {}, "")}
    if filled.shape != "summary":
        merged["shape"] = filled.shape
    return QueryPlan.model_validate(merged)
