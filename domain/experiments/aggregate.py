"""The Experiment aggregate: configuration and lifecycle of one A/B test."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from domain import bucketing
from domain.experiments.checks import (
    check_coverage,
    check_key,
    check_line,
    check_metric,
    check_namespace,
    check_unique,
    check_variant_keys,
    check_weights_sum,
)
from domain.experiments.errors import (
    FrozenWhileRunning,
    InvalidConclusion,
    InvalidMetric,
    InvalidTraffic,
    InvalidTransition,
    InvalidVariants,
)
from domain.experiments.values import (
    Conclusion,
    Decision,
    Metric,
    MetricRole,
    Namespace,
    Status,
    Variant,
)

EXPERIMENT_NAMESPACE = uuid5(NAMESPACE_URL, "https://neonblue.dev/experiments")


def experiment_id(key: str) -> UUID:
    """The aggregate id of an experiment, derived from its unique key."""
    return uuid5(EXPERIMENT_NAMESPACE, key)


class Experiment(Aggregate):
    """An experiment moves draft -> running <-> paused -> stopped -> concluded."""

    allocations: Sequence[tuple[datetime, list[float]]] = ()
    """The variant weights in force from each time on, from the start: one entry more per
    change of the split while it runs (a reallocation, a bandit's step). Empty before the
    start (and in snapshots taken before allocations were kept)."""

    class Event(Aggregate.Event):
        class_version = 1

    class Created(Event, Aggregate.Created):
        key: str
        name: str
        hypothesis: str
        description: str
        tags: list[str]
        owner: str
        variants: list[dict[str, Any]]
        metrics: list[dict[str, Any]]
        coverage: float
        seed: str
        hash_version: int
        namespace: dict[str, Any] | None
        by: str = ""  # who created it (events recorded before it was kept: "")

    class DetailsChanged(Event):
        changes: dict[str, Any]

        def apply(self, aggregate: Experiment) -> None:
            for field, value in self.changes.items():
                setattr(aggregate, field, list(value) if field == "tags" else value)

    class VariantAdded(Event):
        variant: dict[str, Any]

        def apply(self, aggregate: Experiment) -> None:
            aggregate.variants = [*aggregate.variants, Variant(**self.variant)]

    class VariantRemoved(Event):
        variant_key: str

        def apply(self, aggregate: Experiment) -> None:
            aggregate.variants = [v for v in aggregate.variants if v.key != self.variant_key]

    class MetricAdded(Event):
        metric: dict[str, Any]

        def apply(self, aggregate: Experiment) -> None:
            aggregate.metrics = [*aggregate.metrics, Metric.from_dict(self.metric)]

    class MetricRemoved(Event):
        metric_key: str

        def apply(self, aggregate: Experiment) -> None:
            aggregate.metrics = [m for m in aggregate.metrics if m.key != self.metric_key]

    class TrafficChanged(Event):
        coverage: float
        weights: dict[str, float]
        reason: str
        by: str = ""  # who made the change (events recorded before it was kept: "")

        def apply(self, aggregate: Experiment) -> None:
            aggregate.coverage = self.coverage
            before = aggregate.weights()
            aggregate.variants = [
                Variant(v.key, v.name, self.weights.get(v.key, v.weight))
                for v in aggregate.variants
            ]
            if aggregate.allocations and aggregate.weights() != before:
                aggregate.allocations = [
                    *aggregate.allocations,
                    (self.timestamp, aggregate.weights()),
                ]

    class Started(Event):
        at: datetime
        by: str = ""

        def apply(self, aggregate: Experiment) -> None:
            aggregate.status = Status.RUNNING
            aggregate.started_at = aggregate.started_at or self.at
            aggregate.allocations = aggregate.allocations or [(self.at, aggregate.weights())]

    class Paused(Event):
        at: datetime
        reason: str
        by: str = ""

        def apply(self, aggregate: Experiment) -> None:
            aggregate.status = Status.PAUSED

    class Resumed(Event):
        at: datetime
        by: str = ""

        def apply(self, aggregate: Experiment) -> None:
            aggregate.status = Status.RUNNING

    class Stopped(Event):
        at: datetime
        reason: str
        by: str = ""

        def apply(self, aggregate: Experiment) -> None:
            aggregate.status = Status.STOPPED
            aggregate.stopped_at = self.at

    class NoteAdded(Event):
        """Context for the knowledge base (learnings, caveats), kept with the experiment."""

        text: str
        author: str

        def apply(self, aggregate: Experiment) -> None:
            aggregate.notes = [*getattr(aggregate, "notes", []), self.text]

    class Concluded(Event):
        decision: str
        winner: str | None
        reason: str
        by: str = ""

        def apply(self, aggregate: Experiment) -> None:
            aggregate.status = Status.CONCLUDED
            aggregate.conclusion = Conclusion(Decision(self.decision), self.winner, self.reason)

    @staticmethod
    def create_id(key: str) -> UUID:
        return experiment_id(key)

    def __init__(
        self,
        key: str,
        name: str,
        hypothesis: str,
        description: str,
        tags: list[str],
        owner: str,
        variants: list[dict[str, Any]],
        metrics: list[dict[str, Any]],
        coverage: float,
        seed: str,
        hash_version: int,
        namespace: dict[str, Any] | None,
        by: str = "",  # the creation event's; not state
    ) -> None:
        self.key = key
        self.name = name
        self.hypothesis = hypothesis
        self.description = description
        self.tags = list(tags)
        self.owner = owner
        self.variants = [Variant(**v) for v in variants]
        self.metrics = [Metric.from_dict(m) for m in metrics]
        self.coverage = coverage
        self.seed = seed
        self.hash_version = hash_version
        self.namespace = Namespace(**namespace) if namespace else None
        self.status = Status.DRAFT
        self.started_at: datetime | None = None
        self.stopped_at: datetime | None = None
        self.conclusion: Conclusion | None = None
        self.notes: list[str] = []

    # -- creation ---------------------------------------------------------------------------

    @classmethod
    def design(
        cls,
        key: str,
        name: str,
        *,
        hypothesis: str = "",
        description: str = "",
        tags: Iterable[str] = (),
        owner: str = "",
        variants: Sequence[Variant] = (),
        metrics: Sequence[Metric] = (),
        coverage: float = 1.0,
        seed: str | None = None,
        hash_version: int = 2,
        namespace: Namespace | None = None,
        by: str = "",
    ) -> Experiment:
        """Creates a draft experiment after checking its definition (``by``: who)."""
        if not key.strip() or not name.strip():
            raise InvalidVariants("An experiment needs a non-empty key and name.")
        check_key(key)
        _check_lines(name=name, owner=owner, tags=tags)
        check_variant_keys(variants)
        for metric in metrics:
            check_metric(metric, metrics)
        check_unique([m.key for m in metrics], "metric", InvalidMetric)
        check_coverage(coverage)
        if hash_version not in (1, 2):
            raise InvalidTraffic(f"hash_version must be 1 or 2, not {hash_version}.")
        if namespace is not None:
            check_namespace(namespace)
        return cls._create(
            cls.Created,
            key=key,
            name=name,
            hypothesis=hypothesis,
            description=description,
            tags=sorted(set(tags)),
            owner=owner,
            variants=[v.as_dict() for v in variants],
            metrics=[m.as_dict() for m in metrics],
            coverage=coverage,
            seed=seed or key,
            hash_version=hash_version,
            namespace=namespace.as_dict() if namespace else None,
            by=by,
        )

    # -- definition -------------------------------------------------------------------------

    def change_details(self, **changes: Any) -> None:
        """Changes name, hypothesis, description, tags or owner (allowed in any status)."""
        allowed = {"name", "hypothesis", "description", "tags", "owner"}
        unknown = set(changes) - allowed
        if unknown:
            raise InvalidTransition(
                f"Cannot change {', '.join(sorted(unknown))}; changeable: {', '.join(sorted(allowed))}."
            )
        if "tags" in changes:
            changes["tags"] = sorted(set(changes["tags"]))
        _check_lines(**{k: v for k, v in changes.items() if k in ("name", "owner", "tags")})
        if changes:
            self.trigger_event(self.DetailsChanged, changes=changes)

    def add_variant(self, variant: Variant) -> None:
        self._require_editable("add a variant")
        check_variant_keys([*self.variants, variant])
        self.trigger_event(self.VariantAdded, variant=variant.as_dict())

    def remove_variant(self, variant_key: str) -> None:
        self._require_editable("remove a variant")
        self._variant(variant_key)
        self.trigger_event(self.VariantRemoved, variant_key=variant_key)

    def add_metric(self, metric: Metric) -> None:
        self._require_editable("add a metric")
        check_metric(metric, [*self.metrics, metric])
        check_unique([*(m.key for m in self.metrics), metric.key], "metric", InvalidMetric)
        self.trigger_event(self.MetricAdded, metric=metric.as_dict())

    def remove_metric(self, metric_key: str) -> None:
        self._require_editable("remove a metric")
        if metric_key not in {m.key for m in self.metrics}:
            raise InvalidMetric(f"Experiment {self.key!r} has no metric {metric_key!r}.")
        self.trigger_event(self.MetricRemoved, metric_key=metric_key)

    def change_traffic(
        self,
        *,
        coverage: float | None = None,
        weights: dict[str, float] | None = None,
        reason: str = "",
        by: str = "",
    ) -> None:
        """Changes coverage and/or variant weights; running experiments keep weights summing to 1.

        ``by``, here and in the lifecycle steps: who or what made the change (`audit history`)."""
        if self.status in (Status.STOPPED, Status.CONCLUDED):
            raise InvalidTransition(
                f"Experiment {self.key!r} is {self.status}; traffic can only change before it stops."
            )
        new_coverage = self.coverage if coverage is None else coverage
        check_coverage(new_coverage)
        weights = dict(weights or {})
        for key, weight in weights.items():
            self._variant(key)
            if not (weight >= 0 and math.isfinite(weight)):
                raise InvalidTraffic(
                    f"Weight of variant {key!r} must be a finite number >= 0, not {weight}."
                )
        if self.status != Status.DRAFT:
            total = sum(weights.get(v.key, v.weight) for v in self.variants)
            check_weights_sum(total)
        if new_coverage == self.coverage and all(
            self._variant(key).weight == weight for key, weight in weights.items()
        ):
            return  # no change: no event (a running experiment's split starts no new period)
        self.trigger_event(
            self.TrafficChanged, coverage=new_coverage, weights=weights, reason=reason, by=by
        )

    def add_note(self, text: str, author: str) -> None:
        """Adds context for the knowledge base; allowed in any status."""
        text = text.strip()
        if not text or len(text) > 4000:
            raise InvalidTransition("A note needs 1 to 4000 characters of text.")
        self.trigger_event(self.NoteAdded, text=text, author=author or "unknown")

    # -- lifecycle --------------------------------------------------------------------------

    def start(self, at: datetime, by: str = "") -> None:
        self._require_status("start", Status.DRAFT)
        if len(self.variants) < 2:
            raise InvalidVariants(
                f"Experiment {self.key!r} has {len(self.variants)} variant(s); add at least 2 "
                "(e.g. control and treatment) before starting it."
            )
        check_weights_sum(sum(v.weight for v in self.variants))
        if not any(m.role == MetricRole.PRIMARY for m in self.metrics):
            raise InvalidMetric(
                f"Experiment {self.key!r} has no primary metric; add one before starting it."
            )
        self.trigger_event(self.Started, at=at, by=by)

    def pause(self, at: datetime, reason: str = "", by: str = "") -> None:
        self._require_status("pause", Status.RUNNING)
        self.trigger_event(self.Paused, at=at, reason=reason, by=by)

    def resume(self, at: datetime, by: str = "") -> None:
        self._require_status("resume", Status.PAUSED)
        self.trigger_event(self.Resumed, at=at, by=by)

    def stop(self, at: datetime, reason: str = "", by: str = "") -> None:
        self._require_status("stop", Status.RUNNING, Status.PAUSED)
        self.trigger_event(self.Stopped, at=at, reason=reason, by=by)

    def conclude(
        self, decision: Decision | str, winner: str | None, reason: str, by: str = ""
    ) -> None:
        self._require_status("conclude", Status.STOPPED)
        try:
            decision = Decision(decision)
        except ValueError:
            choices = ", ".join(d.value for d in Decision)
            raise InvalidConclusion(
                f"Unknown decision {decision!r}; use one of {choices}."
            ) from None
        if decision == Decision.SHIP and winner is None:
            raise InvalidConclusion("A 'ship' decision needs the winning variant.")
        if decision != Decision.SHIP and winner is not None:
            raise InvalidConclusion(
                f"A {str(decision)!r} decision ships no variant: leave the winner out, or "
                "decide 'ship'."
            )
        if winner is not None:
            self._variant(winner)
        self.trigger_event(
            self.Concluded, decision=str(decision), winner=winner, reason=reason, by=by
        )

    # -- queries ----------------------------------------------------------------------------

    @property
    def is_collecting(self) -> bool:
        """True while exposures and metric events count towards the analysis."""
        return self.status in (Status.RUNNING, Status.PAUSED)

    def assignment_for(self, user_id: str) -> tuple[str | None, bucketing.Assignment]:
        """The variant this user gets (None when excluded), with the bucketing details."""
        namespace = self.namespace
        decision = bucketing.assign(
            user_id,
            self.seed,
            self.weights(),
            self.coverage,
            self.hash_version,
            (namespace.name, namespace.start, namespace.end) if namespace else None,
        )
        index = decision.variant_index
        return (self.variants[index].key if index >= 0 else None), decision

    def variant_keys(self) -> list[str]:
        return [v.key for v in self.variants]

    def weights(self) -> list[float]:
        return [v.weight for v in self.variants]

    def allocation_periods(self) -> list[tuple[datetime | None, list[float]]]:
        """(from when, variant weights) of each period with one split, oldest first; one
        period (from None) when the split never changed while it ran."""
        periods: list[tuple[datetime | None, list[float]]] = [
            (since, list(weights)) for since, weights in self.allocations
        ]
        return periods if len(periods) > 1 else [(None, self.weights())]

    def metric(self, key: str) -> Metric:
        for metric in self.metrics:
            if metric.key == key:
                return metric
        raise InvalidMetric(f"Experiment {self.key!r} has no metric {key!r}.")

    def _variant(self, key: str) -> Variant:
        for variant in self.variants:
            if variant.key == key:
                return variant
        known = ", ".join(self.variant_keys()) or "none"
        raise InvalidVariants(
            f"Experiment {self.key!r} has no variant {key!r} (variants: {known})."
        )

    def _require_editable(self, action: str) -> None:
        if self.status != Status.DRAFT:
            raise FrozenWhileRunning(
                f"Cannot {action}: experiment {self.key!r} is {self.status}. Variants and metrics "
                "are frozen once started; create a new experiment instead."
            )

    def _require_status(self, action: str, *allowed: Status) -> None:
        if self.status not in allowed:
            if self.status == Status.CONCLUDED:
                hint = "a concluded experiment is final"
            else:
                hint = f"it must be {' or '.join(allowed)}"
            raise InvalidTransition(
                f"Cannot {action} experiment {self.key!r}: it is {self.status}; {hint}."
            )


def _check_lines(**fields: str | Iterable[str]) -> None:
    """The experiment's one-line texts: its name, owner and each tag."""
    for field, value in fields.items():
        for text in [value] if isinstance(value, str) else value:
            check_line(f"The {field.removesuffix('s')}", text)
