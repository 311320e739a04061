"""State of a router run."""

from __future__ import annotations

from typing import Any, TypedDict


class RouterState(TypedDict, total=False):
    request: str
    kind: str  # question | experiment | event | triage
    event: dict[str, Any]
    classification: dict[str, Any]
    proposals: list[dict[str, Any]]
    result: dict[str, Any]
    answer: str
    sources: list[dict[str, Any]]
