"""Output models shared by several servers."""

from __future__ import annotations

import math
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from domain.analysis import MetricRow, Scorecard
    from domain.experiments.aggregate import Experiment
    from domain.statistics import ProjectedImpact


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
    quantile: float | None = Field(None, description="Level of a quantile metric (0.9 = p90).")
    quantile_per_user: bool = Field(
        False, description="Quantile of users' totals instead of all events."
    )


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


def finite(value: float | None) -> float | None:
    """``value`` as an answer carries it: NaN and infinities (undefined statistics) as null."""
    return None if value is None or not math.isfinite(value) else float(value)


class ImpactOut(BaseModel):
    """Projected change of the metric's total if the variant shipped to 100 % of traffic."""

    per_day: float | None = Field(
        description="The effect per unit (the lift x the control mean) x units a day at 100 % "
        "traffic; its interval is the lift's, so the two agree in sign."
    )
    per_day_ci: tuple[float | None, float | None]
    planned_days: float
    over_planned_days: float | None = Field(description="per_day x planned_days.")
    over_planned_days_ci: tuple[float | None, float | None]
    units_per_day: float | None = Field(description="Units a day at 100 % traffic.")

    @classmethod
    def of(cls, impact: ProjectedImpact | None) -> ImpactOut | None:
        if impact is None or not impact.ok:
            return None
        return cls(
            per_day=finite(impact.per_day),
            per_day_ci=(finite(impact.per_day_lower), finite(impact.per_day_upper)),
            planned_days=impact.planned_days,
            over_planned_days=finite(impact.over_planned_days),
            over_planned_days_ci=(
                finite(impact.over_planned_days_lower),
                finite(impact.over_planned_days_upper),
            ),
            units_per_day=finite(impact.units_per_day),
        )


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
    projected_impact: ImpactOut | None = Field(
        None, description="Impact of shipping at 100 % traffic (mean and binomial metrics)."
    )
    kind: str = ""
    quantile: float | None = Field(
        None, description="Quantile metrics: the level; control/variant means are quantiles."
    )
    quantile_per_user: bool = False

    @classmethod
    def of(cls, row: MetricRow) -> MetricResultOut:
        return cls(
            metric=row.metric,
            role=row.role,
            variant=row.variant,
            control_mean=finite(row.control_mean),
            variant_mean=finite(row.variant_mean),
            relative_lift=finite(row.lift),
            std_error=finite(row.std_error),
            ci_lower=finite(row.ci_lower),
            ci_upper=finite(row.ci_upper),
            p_value=finite(row.p_value),
            adjusted_p_value=finite(row.adjusted_p_value),
            chance_to_beat_control=finite(row.chance_to_beat_control),
            significant=row.significant,
            direction=row.direction,
            guardrail_status=row.guardrail.status if row.guardrail else None,
            guardrail_margin=finite(row.guardrail.margin) if row.guardrail else None,
            guardrail_p_value=finite(row.guardrail.p_value) if row.guardrail else None,
            error=row.error,
            projected_impact=ImpactOut.of(row.impact),
            kind=row.kind,
            quantile=row.quantile,
            quantile_per_user=row.quantile_per_user,
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
    days_observed: float | None = Field(None, description="Days run (to the stop, or now).")
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
            days_observed=card.days_observed,
            srm=SrmOut(
                p_value=finite(card.srm.p_value),
                mismatch=card.srm.mismatch,
                observed=card.users,
                expected=dict(zip(keys, card.srm.expected, strict=False)),
            ),
            results=[MetricResultOut.of(row) for row in card.rows],
        )
