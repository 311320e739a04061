"""State of an experiment-intelligence run (checkpointed after every node)."""

from __future__ import annotations

from typing import Any, TypedDict


class IntelligenceState(TypedDict, total=False):
    experiment_key: str
    run_id: str
    engine: str  # the statistics engine asked for (unset: the settings')
    mode: str  # deterministic | llm
    analysis: dict[str, Any]  # postgresql.analyze_experiment_data
    similar: list[dict[str, Any]]  # chromadb.find_similar_experiments hits
    trends: dict[str, Any]  # clickhouse.predict_experiment_trends
    proposal: dict[str, Any]  # action, variant, reasons, numbers, needs_approval
    narrative: str
    recommendation_id: str
    decision: dict[str, Any]  # approved, by, note
    applied: list[str]
    tool_calls: list[dict[str, Any]]
    notes: list[str]  # what could not be gathered, and why
    notices: list[str]  # LLM fallbacks (endpoint failure, narrative that did not match)
