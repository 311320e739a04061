"""The query plan: the one contract between understanding a question and answering it.

Both planners fill it (the deterministic parser in `planner.py`, the model in
`llm_planner.py`); the executor reads only it. Its bounds are the platform's: a plan that
asks for more (a 1000-day forecast, a lift of 5000 %) fails validation with a clear message.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from domain.errors import DomainError

MAX_HORIZON_DAYS = 60
"""Longest forecast the trends tool makes ("next 60 days")."""
MAX_PERIOD_DAYS = 3650
"""Longest look-back a question may name ("last N days"): ten years."""
MAX_LIFT = 10.0
"""Largest relative lift a threshold may name (1000 %)."""
EARLIEST = date(2000, 1, 1)
LATEST = date(2100, 1, 1)


class QuestionOutOfRange(DomainError):
    """A question names a period, horizon or threshold beyond what the platform looks up."""


class Intent(StrEnum):
    ANALYZE = "analyze"  # results of experiments: lifts, intervals, verdicts, guardrails
    RANK = "rank"  # experiments ranked by a metric's lift
    LIST = "list"  # which experiments (by status, tag)
    COUNT = "count"  # how many experiments
    ASSIGN = "assign"  # which variant a user gets
    HISTORY = "history"  # what happened to an experiment and when
    SIMILAR = "similar"  # semantic search over experiments
    SEGMENTS = "segments"  # lift per segment
    TREND = "trend"  # forecast of the cumulative lift
    DURATION = "duration"  # days to significance
    RECOMMEND = "recommend"  # the recommendation graph (explicit requests only)


class Shape(StrEnum):
    SUMMARY = "summary"
    RANKING = "ranking"
    COMPARISON = "comparison"
    YES_NO = "yes_no"
    DURATION = "duration"
    COUNT = "count"


MetricRole = Literal["primary", "secondary", "guardrail"]


class TimeRange(BaseModel):
    """A period of experiment starts; ``phrase`` is how the question said it."""

    since: date | None = Field(None, ge=EARLIEST, le=LATEST)
    until: date | None = Field(None, ge=EARLIEST, le=LATEST)
    phrase: str = ""

    def describe(self) -> str:
        since = self.since.isoformat() if self.since else "the start"
        until = self.until.isoformat() if self.until else "now"
        return f"{since} to {until}"


class QueryPlan(BaseModel):
    """What a question asks for, resolved against the catalog (keys, not names)."""

    question: str = Field(max_length=2000)
    intents: list[Intent] = Field(default_factory=list, max_length=6)
    experiments: list[str] = Field(default_factory=list, max_length=20)
    candidates: list[str] = Field(
        default_factory=list, description="Did-you-mean keys when a name is unknown/ambiguous."
    )
    description: str = Field("", max_length=2000, description="Text for semantic search.")
    variants: list[str] = Field(default_factory=list, max_length=20)
    metrics: list[str] = Field(default_factory=list, max_length=20)
    metric_roles: list[MetricRole] = Field(default_factory=list)
    dimensions: list[str] = Field(default_factory=list, max_length=10)
    segments: dict[str, list[str]] = Field(
        default_factory=dict, description="Segment filters: dimension -> values."
    )
    time_range: TimeRange | None = None
    horizon_days: int | None = Field(None, ge=1, le=MAX_HORIZON_DAYS)
    min_lift: float | None = Field(None, ge=-MAX_LIFT, le=MAX_LIFT)
    status: Literal["draft", "running", "paused", "stopped", "concluded"] | None = None
    tags: list[str] = Field(default_factory=list, max_length=10)
    user_ids: list[str] = Field(default_factory=list, max_length=10)
    shape: Shape = Shape.SUMMARY
    ignored: list[str] = Field(
        default_factory=list, description="Instructions inside the question that were not obeyed."
    )
    problems: list[str] = Field(
        default_factory=list, description="Parts that cannot be answered, and why."
    )
    follow_up: bool = False

    def has(self, intent: Intent) -> bool:
        return intent in self.intents
