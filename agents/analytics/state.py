"""State of a natural-language analytics run."""

from __future__ import annotations

from typing import Any, TypedDict


class AnalyticsState(TypedDict, total=False):
    question: str
    run_id: str
    mode: str  # deterministic | llm
    previous_plan: dict[str, Any] | None  # the conversation's last plan (follow-ups refine it)
    catalog: list[dict[str, Any]]  # list_experiments
    plan: dict[str, Any]  # the QueryPlan
    parsed: dict[str, Any]  # intent and experiment_key of the plan (compatibility)
    result: dict[str, Any]  # the tool answers the numbers come from
    facts: list[dict[str, Any]]  # every number of the deterministic answer
    deterministic_answer: str
    footer: str  # the period used and what could not be answered (kept under LLM prose)
    answer: str
    answered: bool
    action: str | None  # the policy's decision, when a recommendation ran
    llm_failed: bool  # the endpoint failed once: not asked again in this run
    notices: list[str]  # one-line notices (LLM fallback, verification)
    verification: dict[str, Any]  # LLM prose: ok, problems
    sources: list[dict[str, Any]]  # every tool call made, with arguments and positions
    recommendation_id: str
