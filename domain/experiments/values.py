"""Value objects of an experiment: variants, metrics, namespace, conclusion, status."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    DRAFT = "draft"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"
    CONCLUDED = "concluded"


class MetricRole(StrEnum):
    PRIMARY = "primary"
    SECONDARY = "secondary"
    GUARDRAIL = "guardrail"


class MetricKind(StrEnum):
    BINOMIAL = "binomial"
    MEAN = "mean"
    RATIO = "ratio"
    QUANTILE = "quantile"


class Decision(StrEnum):
    SHIP = "ship"
    ROLLBACK = "rollback"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class Variant:
    key: str
    name: str
    weight: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Metric:
    """A metric of an experiment.

    Ratio metrics name the raw metrics they divide (``numerator`` / ``denominator``);
    guardrails may carry a non-inferiority ``margin`` (relative, e.g. 0.02 = 2 % worse).
    Quantile metrics compare the ``quantile`` (e.g. 0.9 for p90) of the metric's event
    values (every event, clustered by user), or with ``quantile_per_user`` of the users'
    totals (users with at least one event).
    """

    key: str
    role: MetricRole
    kind: MetricKind
    numerator: str | None = None
    denominator: str | None = None
    higher_is_better: bool = True
    margin: float | None = None
    quantile: float | None = None
    quantile_per_user: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "role": str(self.role), "kind": str(self.kind)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Metric:
        return cls(**{**data, "role": MetricRole(data["role"]), "kind": MetricKind(data["kind"])})


@dataclass(frozen=True)
class Namespace:
    """A slice [start, end) of a namespace shared by mutually exclusive experiments."""

    name: str
    start: float
    end: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def overlaps(self, other: Namespace) -> bool:
        """Whether the two slices share users (same namespace, intersecting ranges)."""
        return self.name == other.name and self.start < other.end and other.start < self.end

    def __str__(self) -> str:
        return f"{self.name} [{self.start:g}, {self.end:g})"


@dataclass(frozen=True)
class Conclusion:
    decision: Decision
    winner: str | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "decision": str(self.decision)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Conclusion:
        return cls(**{**data, "decision": Decision(data["decision"])})
