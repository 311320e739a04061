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
    cumulative_lift: float | None
    users: int


class Trends(BaseModel):
    experiment_id: str
    metric: str
    variant: str
    history: list[TrendPoint]
    forecast: list[float] = Field(description="Cumulative relative lift, next days_ahead days.")
    lower: list[float]
    upper: list[float]
    predictive_power: float | None = Field(description="Chance of significance by the planned end.")
    conditional_power: float | None = Field(
        description="Alias of predictive_power for the seed's API."
    )
    summary: str
    freshness: Freshness


class DailyRow(BaseModel):
    date: date
    variant: str
    users: int
    conversions: int
    sum: float
    sum_squares: float


class Timeseries(BaseModel):
    experiment_id: str
    metric: str
    rows: list[DailyRow]
    truncated: bool
    freshness: Freshness


class SegmentRow(BaseModel):
    experiment_id: str
    segment: str
    variant: str
    users: int
    control_mean: float | None
    variant_mean: float | None
    relative_lift: float | None
    ci_lower: float | None
    ci_upper: float | None


class Segments(BaseModel):
    dimension: str
    metric: str | None
    experiments: list[str]
    segments: list[SegmentRow]
    freshness: Freshness
