"""A recommendation made by an agent, and what a person did with it (auditable)."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate

from domain.errors import DomainError
from domain.intelligence.track_record import PredictionScore


class RecommendationError(DomainError):
    """A recommendation cannot move to the requested state."""


class Recommendation(Aggregate):
    """Proposed -> approved -> applied | failed, or proposed -> rejected."""

    class Event(Aggregate.Event):
        class_version = 1

    class Proposed(Event, Aggregate.Created):
        experiment_key: str
        action: str
        variant: str | None
        reasons: list[str]
        numbers: dict[str, float]
        needs_approval: bool
        tool_calls: list[dict[str, Any]]
        positions: dict[str, int]
        mode: str
        run_id: str

    class Approved(Event):
        by: str
        note: str

        def apply(self, aggregate: Recommendation) -> None:
            aggregate.state = "approved"
            aggregate.decided_by = self.by

    class Rejected(Event):
        by: str
        note: str

        def apply(self, aggregate: Recommendation) -> None:
            aggregate.state = "rejected"
            aggregate.decided_by = self.by

    class Applied(Event):
        commands: list[str]

        def apply(self, aggregate: Recommendation) -> None:
            aggregate.state = "applied"

    class Superseded(Event):
        by_recommendation: str

        def apply(self, aggregate: Recommendation) -> None:
            aggregate.state = "superseded"

    class Scored(Event):
        """Its forecasts against its experiment's outcome (see ``track_record``)."""

        outcome_lift: float
        significant: bool
        covered: bool | None
        brier: float | None
        predictive_power: float | None
        against: str  # what the outcome is: the final estimate, or a simulation's truth

        def apply(self, aggregate: Recommendation) -> None:
            aggregate.score = PredictionScore(
                self.covered, self.brier, self.predictive_power, self.significant
            )
            aggregate.outcome_lift = self.outcome_lift

    class Failed(Event):
        error: str

        def apply(self, aggregate: Recommendation) -> None:
            aggregate.state = "failed"

    @staticmethod
    def create_id(**_: Any) -> UUID:
        return uuid4()

    def __init__(
        self,
        experiment_key: str,
        action: str,
        variant: str | None,
        reasons: list[str],
        numbers: dict[str, float],
        needs_approval: bool,
        tool_calls: list[dict[str, Any]],
        positions: dict[str, int],
        mode: str,
        run_id: str,
    ) -> None:
        self.experiment_key = experiment_key
        self.action = action
        self.variant = variant
        self.reasons = list(reasons)
        self.numbers = dict(numbers)
        self.needs_approval = needs_approval
        self.tool_calls = list(tool_calls)
        self.positions = dict(positions)
        self.mode = mode
        self.run_id = run_id
        self.state = "pending" if needs_approval else "advice"
        self.decided_by: str | None = None
        self.score: PredictionScore | None = None
        self.outcome_lift: float | None = None

    @classmethod
    def propose(cls, **fields: Any) -> Recommendation:
        return cls._create(cls.Proposed, **fields)

    def approve(self, by: str, note: str = "") -> None:
        self._require_pending("approve")
        self.trigger_event(self.Approved, by=by, note=note)

    def reject(self, by: str, note: str = "") -> None:
        self._require_pending("reject")
        self.trigger_event(self.Rejected, by=by, note=note)

    def mark_applied(self, commands: list[str]) -> None:
        if self.state != "approved":
            raise RecommendationError(f"Recommendation {self.id} is {self.state}, not approved.")
        self.trigger_event(self.Applied, commands=commands)

    def supersede(self, newer: UUID) -> None:
        """A newer proposal for the same experiment replaces this pending one."""
        self._require_pending("supersede")
        self.trigger_event(self.Superseded, by_recommendation=str(newer))

    def record_score(self, outcome_lift: float, score: PredictionScore, against: str) -> None:
        """Once, when its experiment has concluded."""
        if self.score is not None:
            raise RecommendationError(f"Recommendation {self.id} is already scored.")
        self.trigger_event(
            self.Scored,
            outcome_lift=float(outcome_lift),
            significant=bool(score.significant),
            covered=score.covered,
            brier=score.brier,
            predictive_power=score.predictive_power,
            against=against,
        )

    def mark_failed(self, error: str) -> None:
        self.trigger_event(self.Failed, error=error)

    def _require_pending(self, verb: str) -> None:
        if self.state != "pending":
            raise RecommendationError(
                f"Cannot {verb} recommendation {self.id}: it is {self.state} "
                "(only pending recommendations await a decision)."
            )
