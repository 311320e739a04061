"""The LLM planner: the model fills the same `QueryPlan` through structured output.

Its plan is checked against the catalog and the deterministic plan before use: a plan too
large for one question or carrying control characters is refused (the caller falls back);
unknown experiment keys become did-you-mean candidates, unknown metrics, variants and tags
and an inverted period are dropped, user ids must appear verbatim in the question, and the
recommendation graph runs only when the deterministic planner also saw an explicit
request, and only for the experiments the question itself names (text in a question
cannot make the model run it, nor pick what it records a proposal for). Instructions the
deterministic planner dropped never reach the model, nor do the model's own reach the
answer.
"""

from __future__ import annotations

import json
import logging
from datetime import date
from typing import Any

from pydantic import BaseModel, Field

from agents.analytics.plan import Intent, QueryPlan, Shape, TimeRange
from agents.analytics.prompts import PLANNER_SYSTEM
from agents.analytics.slots import split_instructions
from agents.analytics.vocabulary import Vocabulary
from agents.common.llm import ask_model
from agents.common.verify import CONTROL, INSTRUCTION

log = logging.getLogger("neonblue.analytics")
MAX_ITEMS = 20
"""Most names of one kind a plan may list (as `QueryPlan`'s own bounds)."""
MAX_NAME_CHARS = 200
"""Longest name (key, variant, metric, tag, segment, user id) a plan may hold."""
MAX_DESCRIPTION_CHARS = 2000
"""Longest description (for semantic search) a plan may hold (as `QueryPlan`'s)."""


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
    filled = await ask_model(
        llm,
        [
            SystemMessage(PLANNER_SYSTEM.format(today=today.isoformat())),
            HumanMessage(f"Catalog: {catalog_text(vocabulary)}\nQuestion: {kept}"),
        ],
        LlmPlan,
    )
    if not isinstance(filled, LlmPlan):
        raise ValueError("the model returned no plan")
    _check_size(filled)
    known = set(vocabulary.keys)
    experiments = [k for k in filled.experiments if k in known]
    unknown = [k for k in filled.experiments if k not in known]
    candidates = [k for name in unknown for _, k in vocabulary.scores(name)[:2]]
    intents = [i for i in filled.intents if i != Intent.RECOMMEND or deterministic.has(i)]
    if Intent.RECOMMEND in intents or deterministic.has(Intent.RECOMMEND):
        # a proposal is recorded (and waits for a person) only for what the question names
        experiments, candidates = list(deterministic.experiments), []
    time_range = None
    if filled.since or filled.until:
        if filled.since and filled.until and filled.since > filled.until:
            log.warning("LLM plan's period dropped: %s after %s", filled.since, filled.until)
        else:
            time_range = TimeRange(
                since=filled.since, until=filled.until, phrase="as planned by the model"
            )
    own_metrics = {m.key for e in vocabulary.entries for m in e.metrics}
    own_variants = {v for e in vocabulary.entries for v, _ in e.variants}
    own_tags = set(vocabulary.tags())
    description = filled.description  # quoted in the answer: never instructions
    if INSTRUCTION.search(description) or split_instructions(description)[1]:
        description = ""
    model_said: dict[str, Any] = {
        "intents": intents,
        "experiments": experiments,
        "candidates": list(dict.fromkeys(candidates)) if not experiments else [],
        "description": description,
        "variants": [v for v in filled.variants if v in own_variants],
        "metrics": [m for m in filled.metrics if m in own_metrics],
        "dimensions": filled.dimensions,
        "segments": filled.segments,
        "time_range": time_range,
        "horizon_days": filled.horizon_days,
        "min_lift": filled.min_lift,
        "status": filled.status,
        "tags": [t for t in filled.tags if t in own_tags],
        "user_ids": [u for u in filled.user_ids if u in question],
    }
    merged = deterministic.model_dump()
    merged |= {k: v for k, v in model_said.items() if v not in (None, [], {}, "")}
    if filled.shape != "summary":
        merged["shape"] = filled.shape
    return QueryPlan.model_validate(merged)


def _check_size(filled: LlmPlan) -> None:
    """Refuses a plan no question needs (thousands of names, a megabyte of text) before any
    of it is matched against the catalog, and one carrying control characters."""
    texts = [filled.description, filled.status or ""]
    if len(filled.description) > MAX_DESCRIPTION_CHARS:
        raise ValueError(
            f"the model's plan has a {len(filled.description):,}-character description"
        )
    for name, value in filled:
        groups = [value] if isinstance(value, list) else []
        if isinstance(value, dict):
            groups = [list(value), *value.values()]
        for group in groups:
            if len(group) > MAX_ITEMS:
                raise ValueError(f"the model's plan lists {len(group):,} {name}")
            for item in map(str, group):
                if len(item) > MAX_NAME_CHARS:
                    raise ValueError(
                        f"the model's plan has a {len(item):,}-character name in {name}"
                    )
                texts.append(item)
    if any(CONTROL.search(text) for text in texts):
        raise ValueError("the model's plan contains control characters")
