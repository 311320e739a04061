"""Triage of event types ingest did not know, and the learned rules that resolve them."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.utils import get_topic

from domain.ingestion.aggregates import UnclassifiedEvents
from domain.ingestion.classification import Classification
from domain.ingestion.rules import ClassificationRule, RuleError, RuleSuggestion, rule_id
from infrastructure.application import NeonBlue


@dataclass
class TypeSummary:
    event_type: str
    count: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)


def unclassified_types(app: NeonBlue, max_examples: int = 3) -> list[TypeSummary]:
    """Unknown event types with how often they arrived and a few raw examples, most first."""
    counts: Counter[str] = Counter()
    summaries: dict[str, TypeSummary] = {}
    for entry in app.log(topics=[get_topic(UnclassifiedEvents.Received)]):
        event = entry.event
        summary = summaries.setdefault(event.event_type, TypeSummary(event.event_type))
        summary.count += 1
        if len(summary.examples) < max_examples:
            summary.examples.append(event.payload)
        counts[event.event_type] += 1
    return [summaries[name] for name, _ in counts.most_common()]


def rule(app: NeonBlue, event_type: str) -> ClassificationRule | None:
    try:
        return app.repository.get(rule_id(event_type))
    except AggregateNotFoundError:
        return None


def rules(app: NeonBlue) -> list[ClassificationRule]:
    return [
        app.repository.get(entry.originator_id)
        for entry in app.log(topics=[get_topic(ClassificationRule.Proposed)])
    ]


def propose_rule(
    app: NeonBlue, event_type: str, suggestion: RuleSuggestion, examples: int, by: str
) -> ClassificationRule:
    existing = rule(app, event_type)
    if existing is None:
        existing = ClassificationRule.propose(event_type, suggestion, examples, by)
    else:
        existing.repropose(suggestion, examples, by)
    app.save(existing)
    return existing


def decide_rule(
    app: NeonBlue, event_type: str, approve: bool, by: str, note: str = ""
) -> ClassificationRule:
    found = rule(app, event_type)
    if found is None:
        raise RuleError(f"No rule proposed for '{event_type}'; see `neonblue triage list`.")
    if approve:
        found.approve(by, note)
    else:
        found.reject(by, note)
    app.save(found)
    return found


class LearnedRules:
    """Approved learned rules for ingest's fast path, re-read at most every few seconds."""

    def __init__(self, app: NeonBlue, refresh_seconds: float = 5.0) -> None:
        self.app = app
        self.refresh_seconds = refresh_seconds
        self._rules: dict[str, Classification] = {}
        self._loaded_at = float("-inf")

    def current(self) -> dict[str, Classification]:
        if time.monotonic() - self._loaded_at >= self.refresh_seconds:
            self._rules = {
                r.event_type: r.classification() for r in rules(self.app) if r.state == "approved"
            }
            self._loaded_at = time.monotonic()
        return self._rules
