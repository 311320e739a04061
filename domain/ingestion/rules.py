"""Classification rules learned for event types ingest did not know.

An agent proposes a rule from triaged examples; a person approves or rejects it; approved
rules are events in the log, and ingest classifies the type on its fast path from then on.
`suggest_rule` is the deterministic proposer (no LLM): plain, explainable heuristics.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.errors import DomainError
from domain.ingestion.classification import RULES, Action, Classification

CONVERSION_WORDS = re.compile(r"convert|checkout|purchase|order|sign_?up|subscri|complete")


class RuleError(DomainError):
    """A learned rule cannot be proposed or decided as asked."""


def rule_id(event_type: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"https://neonblue.dev/classification-rules/{event_type}")


@dataclass(frozen=True)
class RuleSuggestion:
    action: Action | None  # None: keep the type in triage
    metric: str | None
    reasoning: str


def suggest_rule(event_type: str, examples: Sequence[dict[str, Any]]) -> RuleSuggestion:
    """A rule for ``event_type`` from a few raw examples, with the reasoning spelled out."""
    if any(e.get("variant") for e in examples):
        return RuleSuggestion(
            Action.EXPOSURE, None, "examples name the variant the user saw: an exposure"
        )
    has_value = any(isinstance(e.get("value"), int | float) for e in examples)
    if CONVERSION_WORDS.search(event_type.lower()):
        if has_value:
            return RuleSuggestion(
                Action.METRIC,
                "revenue",
                f"'{event_type}' reads as a purchase carrying an amount: revenue",
            )
        return RuleSuggestion(
            Action.METRIC,
            "conversion",
            f"'{event_type}' reads as a completed goal without a value: a conversion",
        )
    if has_value:
        return RuleSuggestion(
            Action.METRIC, event_type, "examples carry a numeric value: a metric of the same name"
        )
    return RuleSuggestion(None, None, "no variant, value or goal-like name: keep it in triage")


class ClassificationRule(Aggregate):
    """proposed -> approved | rejected (a rejected rule may be proposed again)."""

    class Event(Aggregate.Event):
        class_version = 1

    class Proposed(Event, Aggregate.Created):
        event_type: str
        action: str
        metric: str | None
        reasoning: str
        examples: int
        proposed_by: str

    class Reproposed(Event):
        action: str
        metric: str | None
        reasoning: str
        examples: int
        proposed_by: str

        def apply(self, aggregate: ClassificationRule) -> None:
            aggregate.action, aggregate.metric = self.action, self.metric
            aggregate.reasoning, aggregate.state = self.reasoning, "proposed"

    class Approved(Event):
        by: str
        note: str

        def apply(self, aggregate: ClassificationRule) -> None:
            aggregate.state, aggregate.decided_by = "approved", self.by

    class Rejected(Event):
        by: str
        note: str

        def apply(self, aggregate: ClassificationRule) -> None:
            aggregate.state, aggregate.decided_by = "rejected", self.by

    @staticmethod
    def create_id(event_type: str) -> UUID:
        return rule_id(event_type)

    def __init__(
        self,
        event_type: str,
        action: str,
        metric: str | None,
        reasoning: str,
        examples: int,
        proposed_by: str,
    ) -> None:
        self.event_type = event_type
        self.action = action
        self.metric = metric
        self.reasoning = reasoning
        self.state = "proposed"
        self.decided_by: str | None = None

    @classmethod
    def propose(
        cls, event_type: str, suggestion: RuleSuggestion, examples: int, by: str
    ) -> ClassificationRule:
        _check_proposable(event_type, suggestion)
        return cls._create(
            cls.Proposed,
            event_type=event_type,
            action=str(suggestion.action),
            metric=suggestion.metric,
            reasoning=suggestion.reasoning,
            examples=examples,
            proposed_by=by,
        )

    def repropose(self, suggestion: RuleSuggestion, examples: int, by: str) -> None:
        if self.state != "rejected":
            raise RuleError(f"A rule for '{self.event_type}' is already {self.state}.")
        _check_proposable(self.event_type, suggestion)
        self.trigger_event(
            self.Reproposed,
            action=str(suggestion.action),
            metric=suggestion.metric,
            reasoning=suggestion.reasoning,
            examples=examples,
            proposed_by=by,
        )

    def approve(self, by: str, note: str = "") -> None:
        self._require_proposed("approve")
        self.trigger_event(self.Approved, by=by, note=note)

    def reject(self, by: str, note: str = "") -> None:
        self._require_proposed("reject")
        self.trigger_event(self.Rejected, by=by, note=note)

    def classification(self) -> Classification:
        """What ingest applies once the rule is approved."""
        return Classification(
            "experiment_event",
            "medium",
            ("postgres", "clickhouse"),
            "long_term",
            f"learned:{self.event_type}",
            Action(self.action),
            self.metric,
        )

    def _require_proposed(self, verb: str) -> None:
        if self.state != "proposed":
            raise RuleError(f"Cannot {verb} the rule for '{self.event_type}': it is {self.state}.")


def _check_proposable(event_type: str, suggestion: RuleSuggestion) -> None:
    if event_type in RULES:
        raise RuleError(f"'{event_type}' already has a built-in rule.")
    if suggestion.action not in (Action.EXPOSURE, Action.METRIC):
        raise RuleError(f"No rule to propose for '{event_type}': {suggestion.reasoning}.")
