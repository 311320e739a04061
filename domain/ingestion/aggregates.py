"""Aggregates ingest writes besides participations.

`ExperimentInbox` remembers which lifecycle events (by ``event_id``) were applied to an
experiment, so producer retries do not hit the lifecycle twice. `UnclassifiedEvents` keeps
events of unknown types, with their payload, for triage. Both are keyed so that one Kafka
partition has a single writer: inboxes by experiment (the experiments topic is keyed by
experiment), unclassified events by (topic, partition, event type).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.values import JsonObject

INGESTION_NAMESPACE = uuid5(NAMESPACE_URL, "https://neonblue.dev/ingestion")


def inbox_id(experiment_key: str) -> UUID:
    return uuid5(INGESTION_NAMESPACE, f"inbox\x1f{experiment_key}")


def unclassified_id(topic: str, partition: int, event_type: str) -> UUID:
    return uuid5(INGESTION_NAMESPACE, f"unclassified\x1f{topic}\x1f{partition}\x1f{event_type}")


class ExperimentInbox(Aggregate):
    """Lifecycle events already applied to one experiment."""

    class Event(Aggregate.Event):
        class_version = 1

    class Opened(Event, Aggregate.Created):
        experiment_key: str

    class Accepted(Event):
        event_id: str
        event_type: str
        at: datetime
        context: JsonObject

        def apply(self, aggregate: ExperimentInbox) -> None:
            aggregate.seen_event_ids.add(self.event_id)

    @staticmethod
    def create_id(experiment_key: str) -> UUID:
        return inbox_id(experiment_key)

    def __init__(self, experiment_key: str) -> None:
        self.experiment_key = experiment_key
        self.seen_event_ids: set[str] = set()

    @classmethod
    def open(cls, experiment_key: str) -> ExperimentInbox:
        return cls._create(cls.Opened, experiment_key=experiment_key)

    def has_seen(self, event_id: str) -> bool:
        return event_id in self.seen_event_ids

    def accept(self, event_id: str, event_type: str, at: datetime, context: dict[str, Any]) -> None:
        self.trigger_event(
            self.Accepted, event_id=event_id, event_type=event_type, at=at, context=context
        )


class UnclassifiedEvents(Aggregate):
    """Events of one unknown type from one topic partition, kept whole for triage."""

    class Event(Aggregate.Event):
        class_version = 1

    class Opened(Event, Aggregate.Created):
        topic: str
        partition: int
        event_type: str

    class Received(Event):
        event_id: str
        event_type: str
        payload: JsonObject
        context: JsonObject

        def apply(self, aggregate: UnclassifiedEvents) -> None:
            aggregate.seen_event_ids.add(self.event_id)
            aggregate.received += 1

    @staticmethod
    def create_id(topic: str, partition: int, event_type: str) -> UUID:
        return unclassified_id(topic, partition, event_type)

    def __init__(self, topic: str, partition: int, event_type: str) -> None:
        self.topic = topic
        self.partition = partition
        self.event_type = event_type
        self.received = 0
        self.seen_event_ids: set[str] = set()

    @classmethod
    def open(cls, topic: str, partition: int, event_type: str) -> UnclassifiedEvents:
        return cls._create(cls.Opened, topic=topic, partition=partition, event_type=event_type)

    def receive(self, event_id: str, payload: dict[str, Any], context: dict[str, Any]) -> bool:
        """Keeps the event; False when this event id was already kept."""
        if event_id in self.seen_event_ids:
            return False
        self.trigger_event(
            self.Received,
            event_id=event_id,
            event_type=self.event_type,
            payload=payload,
            context=context,
        )
        return True
