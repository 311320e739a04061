"""From a validated wire event to what ingest applies: a participation command, a lifecycle
command on an experiment, or an unclassified event kept for triage."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.ingestion.classification import LIFECYCLE_EVENTS, Action, Classification, classify
from domain.participation.commands import ParticipationCommand, RecordExposure, RecordMetric
from infrastructure.ingest.bus import Record
from infrastructure.ingest.cdc import ChangeFeed, RowChange, Tombstone, decode_change
from infrastructure.ingest.wire import DEFAULT_LIMITS, InvalidMessage, Limits, WireEvent, decode


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """A lifecycle step (start, pause, resume, stop, conclude) of one experiment."""

    experiment_key: str
    event_id: str
    event_type: str
    step: str
    at: datetime
    properties: dict[str, Any]
    context: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Unclassified:
    """An event of a type no rule knows: stored whole, listed for triage."""

    topic: str
    partition: int
    event_type: str
    event_id: str
    payload: dict[str, Any]
    context: dict[str, Any]


Item = ParticipationCommand | Lifecycle | Unclassified | RowChange | Tombstone


def translate(
    record: Record,
    learned: Mapping[str, Classification] | None = None,
    limits: Limits = DEFAULT_LIMITS,
    feed: ChangeFeed | None = None,
) -> Item:
    """Decodes and classifies one record (with approved learned rules); records of the
    change feed's topics are change events (`cdc`). Raises `InvalidMessage` for bad input."""
    if feed is not None and record.topic in feed.topics:
        return decode_change(record, feed, limits)
    event = decode(record.value, limits)
    classification = classify(event.event_type, learned)
    context: dict[str, Any] = {
        "classification": classification.as_context(),
        "source": {"topic": record.topic, "partition": record.partition, "offset": record.offset},
    }
    if event.routing_metadata:
        context["routing"] = event.routing_metadata
    if event.semantic_context:
        context["semantic"] = {
            k: v for k, v in event.semantic_context.items() if k != "embedding_vector"
        }
    segment = event.properties.get("segment")
    if isinstance(segment, dict):  # e.g. {"device": "mobile", "country": "US"}: breakdowns
        context["segment"] = {str(k): str(v) for k, v in segment.items()}
    action = classification.action
    if action is Action.EXPOSURE:
        return RecordExposure(
            event.experiment_id, event.user_id, event.event_id, event.timestamp,
            event.variant, context,
        )  # fmt: skip
    if action is Action.METRIC:
        return _metric(event, classification.metric, context)
    if action is Action.LIFECYCLE:
        return Lifecycle(
            event.experiment_id, event.event_id, event.event_type,
            LIFECYCLE_EVENTS[event.event_type], event.timestamp, event.properties, context,
        )  # fmt: skip
    return Unclassified(
        record.topic, record.partition, event.event_type, event.event_id,
        event.model_dump(mode="json", exclude_none=True), context,
    )  # fmt: skip


def _metric(event: WireEvent, metric: str | None, context: dict[str, Any]) -> RecordMetric:
    name = metric or event.metric
    if name is None:
        raise InvalidMessage(
            f"event_type {event.event_type!r} needs a 'metric' field naming the metric", "schema"
        )
    if event.value is None and name != "conversion":
        raise InvalidMessage(
            f"event_type {event.event_type!r} (metric {name!r}) needs a numeric 'value'", "schema"
        )
    value = 1.0 if event.value is None else event.value
    return RecordMetric(
        event.experiment_id, event.user_id, event.event_id, event.timestamp, name, value, context
    )
