"""Deterministic, cheap classification of incoming events, by event type and fields.

Every ingested event gets a `Classification` (data type, priority, target read models,
retention) recorded in its stored event's context. Unknown event types are classified as
``unclassified`` and kept for triage, never dropped; the agent layer may later propose new
rules (recorded as events), which is why rules are plain data here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

RULES_VERSION = 1


class Action(StrEnum):
    """What ingest does with an event of this type."""

    LIFECYCLE = "lifecycle"  # a command on the Experiment aggregate
    EXPOSURE = "exposure"  # RecordExposure on a Participation
    METRIC = "metric"  # RecordMetric on a Participation
    TRIAGE = "triage"  # stored as unclassified, listed for triage


@dataclass(frozen=True)
class Classification:
    """Where an event belongs and how long it is kept; ``rule`` names the rule that matched."""

    data_type: str
    priority: str
    targets: tuple[str, ...]
    retention: str
    rule: str
    action: Action
    metric: str | None = None  # metric recorded by METRIC rules with a fixed metric

    def as_context(self) -> dict[str, Any]:
        """The JSON-friendly form stored with the event."""
        return {
            "data_type": self.data_type,
            "priority": self.priority,
            "targets": list(self.targets),
            "retention": self.retention,
            "rule": self.rule,
            "rules_version": RULES_VERSION,
        }


_ALL = ("postgres", "clickhouse", "chromadb")
_FACTS = ("postgres", "clickhouse")


def _lifecycle(name: str) -> Classification:
    return Classification("experiment", "high", _ALL, "permanent", name, Action.LIFECYCLE)


def _metric(name: str, metric: str | None, priority: str = "high") -> Classification:
    return Classification(
        "experiment_event", priority, _FACTS, "long_term", name, Action.METRIC, metric
    )


LIFECYCLE_EVENTS: Mapping[str, str] = {
    "experiment_started": "start",
    "experiment_paused": "pause",
    "experiment_resumed": "resume",
    "experiment_stopped": "stop",
    "experiment_concluded": "conclude",
}

RULES: Mapping[str, Classification] = {
    **{event_type: _lifecycle(event_type) for event_type in LIFECYCLE_EVENTS},
    "exposure": Classification(
        "experiment_event", "high", _FACTS, "long_term", "exposure", Action.EXPOSURE
    ),
    "experiment_viewed": Classification(
        "experiment_event", "high", _FACTS, "long_term", "experiment_viewed", Action.EXPOSURE
    ),
    "conversion": _metric("conversion", "conversion"),
    "purchase": _metric("purchase", "revenue"),
    "page_load": _metric("page_load", "page_load_ms", priority="medium"),
    "metric": _metric("metric", None, priority="medium"),
}

UNCLASSIFIED = Classification(
    "unclassified", "low", ("postgres",), "triage", "unclassified", Action.TRIAGE
)


def classify(
    event_type: str, learned: Mapping[str, Classification] | None = None
) -> Classification:
    """The classification of an event type: built-in rules first, then approved learned
    rules; unknown types get `UNCLASSIFIED`."""
    rule = RULES.get(event_type)
    if rule is None and learned:
        rule = learned.get(event_type)
    return rule or UNCLASSIFIED
