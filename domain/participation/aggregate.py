"""Participation of one user in one experiment: assignment, exposures, metric events.

The id is derived from (experiment key, user id), so ingest finds the aggregate without
a lookup, and partitioning Kafka by user id gives each participation a single writer.
"""

from __future__ import annotations

import math
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.participation.errors import InvalidMetricValue
from domain.values import JsonObject

PARTICIPATION_NAMESPACE = uuid5(NAMESPACE_URL, "https://neonblue.dev/participations")


@lru_cache(maxsize=262_144)  # ingest asks for the same user's id several times per batch
def participation_id(experiment_key: str, user_id: str) -> UUID:
    return uuid5(PARTICIPATION_NAMESPACE, f"{experiment_key}\x1f{user_id}")


class Exclusion(StrEnum):
    """Why a metric event is recorded but left out of the analysis."""

    BEFORE_EXPOSURE = "before_exposure"
    AFTER_STOP = "after_stop"
    NOT_ASSIGNED = "not_assigned"


class AssignmentSource(StrEnum):
    SDK = "sdk"  # the client told us which variant it showed
    BUCKETING = "bucketing"  # we computed it with the deterministic hash
    NONE = "none"  # outside coverage or namespace: not in any variant


class Participation(Aggregate):
    class Event(Aggregate.Event):
        class_version = 1

    class Enrolled(Event, Aggregate.Created):
        experiment_key: str
        user_id: str
        variant: str | None
        source: str
        at: datetime

    class Exposed(Event):
        event_id: str
        at: datetime
        context: JsonObject

        def apply(self, aggregate: Participation) -> None:
            aggregate.seen_event_ids.add(self.event_id)
            aggregate.exposures += 1
            if aggregate.first_exposed_at is None:
                aggregate.first_exposed_at = self.at

    class MetricRecorded(Event):
        event_id: str
        metric: str
        value: float
        at: datetime
        excluded: str | None
        context: JsonObject

        def apply(self, aggregate: Participation) -> None:
            aggregate.seen_event_ids.add(self.event_id)

    class VariantMismatch(Event):
        """Data quality: the user was seen in a variant other than the sticky assignment."""

        event_id: str
        assigned: str | None
        seen: str
        at: datetime
        context: JsonObject

        def apply(self, aggregate: Participation) -> None:
            aggregate.seen_event_ids.add(self.event_id)
            aggregate.mismatches += 1

    @staticmethod
    def create_id(experiment_key: str, user_id: str) -> UUID:
        return participation_id(experiment_key, user_id)

    def __init__(
        self, experiment_key: str, user_id: str, variant: str | None, source: str, at: datetime
    ) -> None:
        self.experiment_key = experiment_key
        self.user_id = user_id
        self.variant = variant
        self.source = AssignmentSource(source)
        self.enrolled_at = at
        self.first_exposed_at: datetime | None = None
        self.exposures = 0
        self.mismatches = 0
        self.seen_event_ids: set[str] = set()

    @classmethod
    def enroll(
        cls,
        experiment_key: str,
        user_id: str,
        variant: str | None,
        source: AssignmentSource,
        at: datetime,
    ) -> Participation:
        return cls._create(
            cls.Enrolled,
            experiment_key=experiment_key,
            user_id=user_id,
            variant=variant,
            source=str(source),
            at=at,
        )

    def has_seen(self, event_id: str) -> bool:
        return event_id in self.seen_event_ids

    def expose(
        self,
        event_id: str,
        at: datetime,
        seen_variant: str | None = None,
        context: dict[str, Any] | None = None,
    ) -> bool:
        """Records an exposure; False when the event id was already recorded.

        ``context`` is kept with the event for audit (e.g. ingest classification, source offset).
        """
        if self.has_seen(event_id):
            return False
        if seen_variant is not None and seen_variant != self.variant:
            self.trigger_event(
                self.VariantMismatch,
                event_id=event_id,
                assigned=self.variant,
                seen=seen_variant,
                at=at,
                context=context or {},
            )
            return True
        self.trigger_event(self.Exposed, event_id=event_id, at=at, context=context or {})
        return True

    def record_metric(
        self,
        event_id: str,
        metric: str,
        value: float,
        at: datetime,
        stopped_at: datetime | None = None,
        context: dict[str, Any] | None = None,
    ) -> bool:
        """Records a metric value, flagged as excluded when it cannot count; False if duplicate."""
        if self.has_seen(event_id):
            return False
        if not math.isfinite(value):
            raise InvalidMetricValue(
                f"Metric {metric!r} of event {event_id!r} has value {value!r}; "
                "metric values must be finite numbers."
            )
        self.trigger_event(
            self.MetricRecorded,
            event_id=event_id,
            metric=metric,
            value=float(value),
            at=at,
            excluded=self.exclusion_for(at, stopped_at),
            context=context or {},
        )
        return True

    def exclusion_for(self, at: datetime, stopped_at: datetime | None) -> str | None:
        if self.variant is None:
            return str(Exclusion.NOT_ASSIGNED)
        if self.first_exposed_at is None or at < self.first_exposed_at:
            return str(Exclusion.BEFORE_EXPOSURE)
        if stopped_at is not None and at >= stopped_at:
            return str(Exclusion.AFTER_STOP)
        return None
