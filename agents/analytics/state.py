"""State of a natural-language analytics run."""

from __future__ import annotations

from typing import Any, TypedDict


class AnalyticsState(TypedDict, total=False):
    question: str
    run_id: str
    mode: str  # deterministic | llm
    parsed: dict[str, Any]  # intent and entities
    result: dict[str, Any]  # the tool answer(s) the numbers come from
    answer: str
    sources: list[dict[str, Any]]  # every tool call made, with arguments and positions
    recommendation_id: str
