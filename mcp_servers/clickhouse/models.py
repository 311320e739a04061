"""Answers of the ClickHouse server's tools (structured output schemas)."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from mcp_servers.common.freshness import Freshness
from mcp_servers.common.models import ExperimentOut, ScorecardOut


class Insights(BaseModel):
    experiment: ExperimentOut
    scorecard: ScorecardOut
    findings: list[str] = Field(description="Plain-language findings, numbers from the scorecard.")
    freshness: Freshness


class TrendPoint(BaseModel):
    date: date
    cumulative_lift: float | None = Field(description="Cumulative relative lift vs control.")
    users: int = Field(description="Exposed users so far in this variant and control.")


class VariantTrend(BaseModel):
    """One treatment against control."""

    variant: str
    history: list[TrendPoint]
    forecast: list[float] = Field(description="Cumulative relative lift, next days_ahead days.")
    lower: list[float] = Field(
        description="95% lower bound; forecast on log(1 + lift), so never below -100%."
    )
    upper: list[float] = Field(description="95% upper bound (log-ratio scale, as lower).")
    predictive_power: float | None = Field(
        description="Chance the final analysis is significant, averaged over what the effect "
        "may be given the data so far (Bayesian predictive power; the cautious figure)."
    )
    conditional_power: float | None = Field(
        description="Chance the final analysis is significant if the current estimate is the "
        "true effect (conditional power; optimistic after a lucky start)."
    )
    summary: str


class Trends(BaseModel):
    experiment_id: str
    metric: str
    control: str
    variants: list[VariantTrend] = Field(description="Every treatment against control.")
    variant: str = Field(description="The first treatment (its fields repeated below).")
    history: list[TrendPoint]
    forecast: list[float] = Field(description="Cumulative relative lift, next days_ahead days.")
    lower: list[float]
    upper: list[float]
    predictive_power: float | None = Field(
        description="Of the first treatment: averaged over the effect's uncertainty."
    )
    conditional_power: float | None = Field(
        description="Of the first treatment: assuming the current estimate is the true effect."
    )
    planned_days: float = Field(description="Planned duration the powers refer to.")
    summary: str
    freshness: Freshness


class DailyRow(BaseModel):
    date: date
    variant: str
    users: int = Field(description="Users with at least one event of the metric that day.")
    conversions: int = Field(description="Users converting that day (binomial metrics).")
    sum: float
    sum_squares: float
    exposed_users: int = Field(description="Users first exposed that day.")
    cumulative_exposed_users: int = Field(
        description="Users exposed by the end of that day: the denominator of the rates."
    )
    rate: float | None = Field(
        description="sum / cumulative_exposed_users: that day's events per exposed user."
    )
    cumulative_sum: float = Field(description="Sum of the metric up to and including that day.")
    cumulative_rate: float | None = Field(
        description="cumulative_sum / cumulative_exposed_users: the running conversion rate "
        "or mean per exposed user (what the analysis compares)."
    )


class Timeseries(BaseModel):
    experiment_id: str
    metric: str
    rows: list[DailyRow]
    truncated: bool
    freshness: Freshness


class SegmentRow(BaseModel):
    experiment_id: str
    metric: str
    statistic: str = Field(
        description="What control_mean and variant_mean hold: 'mean', 'rate' (binomial), "
        "'ratio' (a ratio metric: numerator per denominator) or a quantile such as 'p90'."
    )
    dimension: str
    segment: str
    variant: str
    users: int
    control_mean: float | None
    variant_mean: float | None
    relative_lift: float | None
    ci_lower: float | None
    ci_upper: float | None
    p_value: float | None = Field(description="The segment's own test against control.")
    q_value: float | None = Field(
        description="p_value adjusted (Benjamini-Hochberg) across every row of this answer: "
        "with many segments, some differ from control by chance alone."
    )
    significant: bool = Field(description="q_value < 0.05.")


class Segments(BaseModel):
    dimension: str | None = Field(description="The dimension asked for; null: every dimension.")
    dimensions: list[str] = Field(description="Dimensions present in the answer.")
    metric: str | None = Field(
        description="The metric asked for, else the primary metric used (null when the "
        "experiments' primary metrics differ: see metric_by_experiment)."
    )
    metric_by_experiment: dict[str, str]
    experiments: list[str]
    segments: list[SegmentRow]
    freshness: Freshness
