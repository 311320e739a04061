"""Output models shared by several servers."""

from __future__ import annotations

import math
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from domain.analysis import MetricRow, Scorecard
    from domain.experiments.aggregate import Experiment


class VariantOut(BaseModel):
    key: str
    name: str
    weight: float


class MetricOut(BaseModel):
    key: str
    role: str
    kind: str
    numerator: str | None = None
    denominator: str | None = None
    higher_is_better: bool = True
    margin: float | None = None


class ExperimentOut(BaseModel):
    """An experiment's definition and state: the one JSON form (MCP tools, CLI ``--json``)."""

    key: str
    name: str
    status: str
    hypothesis: str
    description: str
    owner: str
    tags: list[str]
    coverage: float
    variants: list[VariantOut]
    metrics: list[MetricOut]
    started_at: datetime | None
    stopped_at: datetime | None
    decision: str | None = None
    winner: str | None = None
    reason: str | None = None
    version: int = Field(0, description="Aggregate version: events recorded so far.")

    @classmethod
    def of(cls, e: Experiment) -> ExperimentOut:
        return cls(
            key=e.key,
            name=e.name,
            status=str(e.status),
            hypothesis=e.hypothesis,
            description=e.description,
            owner=e.owner,
            tags=list(e.tags),
            coverage=e.coverage,
            variants=[VariantOut(**v.as_dict()) for v in e.variants],
            metrics=[MetricOut(**m.as_dict()) for m in e.metrics],
            started_at=e.started_at,
            stopped_at=e.stopped_at,
            decision=str(e.conclusion.decision) if e.conclusion else None,
            winner=e.conclusion.winner if e.conclusion else None,
            reason=e.conclusion.reason if e.conclusion else None,
            version=e.version,
        )


def _finite(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) or math.isinf(value) else float(value)


class MetricResultOut(BaseModel):
    metric: str
    role: str
    variant: str
    control_mean: float | None
    variant_mean: float | None
    relative_lift: float | None
    std_error: float | None
    ci_lower: float | None
    ci_upper: float | None
    p_value: float | None = Field(
        description="Frequentist and sequential engines; null under the Bayesian engine, "
        "which answers with chance_to_beat_control instead."
    )
    adjusted_p_value: float | None
    chance_to_beat_control: float | None = Field(
        None, description="Bayesian engine: posterior probability that the variant beats control."
    )
    significant: bool
    direction: str
    guardrail_status: str | None = None
    guardrail_margin: float | None = None
    guardrail_p_value: float | None = Field(
        None, description="Non-inferiority test p-value (fixed horizon)."
    )
    error: str = ""

    @classmethod
    def of(cls, row: MetricRow) -> MetricResultOut:
        return cls(
            metric=row.metric,
            role=row.role,
            variant=row.variant,
            control_mean=_finite(row.control_mean),
            variant_mean=_finite(row.variant_mean),
            relative_lift=_finite(row.lift),
            std_error=_finite(row.std_error),
            ci_lower=_finite(row.ci_lower),
            ci_upper=_finite(row.ci_upper),
            p_value=_finite(row.p_value),
            adjusted_p_value=_finite(row.adjusted_p_value),
            chance_to_beat_control=_finite(row.chance_to_beat_control),
            significant=row.significant,
            direction=row.direction,
            guardrail_status=row.guardrail.status if row.guardrail else None,
            guardrail_margin=_finite(row.guardrail.margin) if row.guardrail else None,
            guardrail_p_value=_finite(row.guardrail.p_value) if row.guardrail else None,
            error=row.error,
        )


class SrmOut(BaseModel):
    p_value: float | None
    mismatch: bool
    observed: dict[str, int]
    expected: dict[str, float]


class ScorecardOut(BaseModel):
    engine: str
    alpha: float
    control: str
    total_users: int
    srm: SrmOut
    results: list[MetricResultOut] = Field(description="Every metric x treatment vs control.")

    @classmethod
    def of(cls, card: Scorecard) -> ScorecardOut:
        keys = list(card.users)
        return cls(
            engine=card.engine,
            alpha=card.alpha,
            control=card.control,
            total_users=card.total_users,
            srm=SrmOut(
                p_value=_finite(card.srm.p_value),
                mismatch=card.srm.mismatch,
                observed=card.users,
                expected=dict(zip(keys, card.srm.expected, strict=False)),
            ),
            results=[MetricResultOut.of(row) for row in card.rows],
        )
