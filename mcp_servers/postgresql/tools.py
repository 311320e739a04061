"""Tools of the PostgreSQL server: configuration, assignment, history, health."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field, Strict

from domain.bucketing import bucket_ranges
from domain.experiments.aggregate import Experiment
from domain.experiments.aggregate import experiment_id as experiment_uuid
from domain.experiments.values import Status
from infrastructure.application import NeonBlue
from mcp_servers.common.errors import shorten, tool_errors
from mcp_servers.common.freshness import Freshness
from mcp_servers.common.inputs import Engine, ExperimentKey, Moment, Name, Tag, UserId
from mcp_servers.common.models import ExperimentOut, ScorecardOut
from mcp_servers.common.sources import ResultsSource

if TYPE_CHECKING:
    from domain.analysis import VariantSums


class ExperimentList(BaseModel):
    experiments: list[ExperimentOut]
    total: int = Field(description="Matching experiments before the limit.")
    freshness: Freshness


class VariantStatistics(BaseModel):
    users: int
    sums: dict[str, float] = Field(description="Per metric: sum over users of their totals.")
    sums_of_squares: dict[str, float]


class ExperimentAnalysis(BaseModel):
    experiment: ExperimentOut
    assignments: dict[str, int] = Field(description="Exposed users per variant.")
    statistics: dict[str, VariantStatistics] = Field(
        description="Sufficient statistics per variant (what the analysis was computed from)."
    )
    health: list[str] = Field(description="Plain-language health findings (SRM, data quality).")
    scorecard: ScorecardOut
    freshness: Freshness


class AssignmentExplanation(BaseModel):
    experiment_id: str
    user_id: str
    variant: str | None = Field(description="Assigned variant, or null when excluded.")
    reason: str
    hash_version: int
    seed: str
    hash_value: float | None
    bucket_range: tuple[float, float] | None
    ranges: dict[str, tuple[float, float]]
    coverage: float
    namespace: str | None
    in_namespace: bool
    recorded_variant: str | None = Field(
        description="Variant already recorded for the user, if any."
    )
    freshness: Freshness


class HistoryEvent(BaseModel):
    version: int
    event: str
    recorded_at: datetime = Field(description="When the platform recorded the event.")
    occurred_at: datetime | None = Field(
        description="When it happened (event time), for events that carry one."
    )
    data: dict[str, Any]


class ExperimentHistory(BaseModel):
    experiment_id: str
    as_of: datetime | None = Field(description="Recording-time cut (what the platform knew).")
    occurred_by: datetime | None = Field(description="Event-time cut (what had happened).")
    cut: str = Field(description="Which cut(s) this answer applies, in words.")
    events: list[HistoryEvent]
    state: ExperimentOut | None = Field(
        description="The experiment as it was at the cut (null: not yet defined then)."
    )
    freshness: Freshness


MAX_EXAMPLE_CHARS = 2000
"""Raw examples longer than this (as JSON) are cut: ingest keeps events up to 512 KiB, and
20 types of 3 such examples would make an answer of tens of megabytes."""


class UnclassifiedType(BaseModel):
    event_type: str
    count: int
    examples: list[dict[str, Any]] = Field(
        description="A few raw events; one longer than 2,000 characters of JSON comes as "
        "{truncated: its JSON cut short, characters: its full length}."
    )
    rule_state: str | None = Field(description="proposed, approved or rejected; null if none.")


class UnclassifiedList(BaseModel):
    event_types: list[UnclassifiedType]
    freshness: Freshness


class PostgresTools:
    """Read-only tools over the event store and the relational/analytics read models."""

    def __init__(
        self,
        app: NeonBlue,
        results: ResultsSource,
        max_rows: int = 1000,
        engine: str = "sequential",
        subject_of: Callable[[str], str] = str,
    ) -> None:
        self.app = app
        self.results = results
        self.max_rows = max_rows
        self.engine = engine  # the platform's default statistics engine
        self.subject_of = subject_of  # user id -> the id ingest stores and buckets (pseudonym)

    def version(self) -> tuple[int, int]:
        """What the answers are computed from: the log head and the read model's position."""
        return self.app.head(), self.results.position()

    def _fresh(self) -> Freshness:
        head = self.app.head()
        return Freshness.of("event_store", head, head)

    def list_experiments(
        self,
        status: Status | None = None,
        tag: Tag | None = None,
        owner: Name | None = None,
        limit: Annotated[int, Strict(), Field(ge=1, le=500)] = 100,
    ) -> ExperimentList:
        """List experiments, optionally filtered by status, tag and owner."""
        with tool_errors():
            matches = [
                e
                for e in self.app.experiments()
                if (status is None or e.status == status)
                and (tag is None or tag in e.tags)
                and (owner is None or e.owner == owner)
            ]
        return ExperimentList(
            experiments=[ExperimentOut.of(e) for e in matches[: min(limit, self.max_rows)]],
            total=len(matches),
            freshness=self._fresh(),
        )

    def analyze_experiment_data(
        self, experiment_id: ExperimentKey, engine: Engine | None = None
    ) -> ExperimentAnalysis:
        """Configuration, assignment counts, health checks and the statistics summary.

        ``engine``: null for the platform's default (sequential unless configured; named in
        the answer's scorecard), or sequential (valid however often results are looked
        at), frequentist (fixed horizon), bayesian.
        """
        from domain.analysis import build_scorecard
        from domain.statistics import AnalysisOptions

        with tool_errors():
            experiment = self.app.experiment(experiment_id)
            sums = self.results.variant_sums(experiment_id)
            card = build_scorecard(
                experiment,
                sums,
                AnalysisOptions(engine=engine or self.engine),
                as_of=datetime.now(UTC),
            )
        health = _health_findings(experiment, card.srm.p_value, card.srm.mismatch, sums)
        position = self.results.position()
        return ExperimentAnalysis(
            experiment=ExperimentOut.of(experiment),
            assignments=card.users,
            statistics={
                variant: VariantStatistics(
                    users=data.users,
                    sums=dict(data.sums),
                    sums_of_squares=dict(data.sums_of_squares),
                )
                for variant, data in sums.items()
            },
            health=health,
            scorecard=ScorecardOut.of(card),
            freshness=Freshness.of(self.results.name, position, self.app.head()),
        )

    def predict_user_assignment(
        self, user_id: UserId, experiment_id: ExperimentKey
    ) -> AssignmentExplanation:
        """The deterministic variant for a user and why (hash, bucket range, namespace)."""
        with tool_errors():
            experiment = self.app.experiment(experiment_id)
            subject = self.subject_of(user_id)
            variant, decision = experiment.assignment_for(subject)
            recorded = self.app.participation(experiment_id, subject) or (
                self.app.participation(experiment_id, user_id)  # stored before protection
            )
        ranges = bucket_ranges(len(experiment.variants), experiment.coverage, experiment.weights())
        return AssignmentExplanation(
            experiment_id=experiment_id,
            user_id=user_id,
            variant=variant,
            reason=decision.reason,
            hash_version=experiment.hash_version,
            seed=experiment.seed,
            hash_value=decision.hash_value,
            bucket_range=decision.bucket_range,
            ranges=dict(zip(experiment.variant_keys(), ranges, strict=True)),
            coverage=experiment.coverage,
            namespace=experiment.namespace.name if experiment.namespace else None,
            in_namespace=decision.in_namespace,
            recorded_variant=recorded.variant if recorded else None,
            freshness=self._fresh(),
        )

    def list_unclassified_event_types(
        self, limit: Annotated[int, Strict(), Field(ge=1, le=100)] = 20
    ) -> UnclassifiedList:
        """Event types ingest kept for triage (no rule knew them), with counts, a few raw
        examples and the state of any proposed classification rule."""
        from infrastructure.triage import rule, unclassified_types

        found = []
        for summary in unclassified_types(self.app)[:limit]:
            existing = rule(self.app, summary.event_type)
            found.append(
                UnclassifiedType(
                    event_type=summary.event_type,
                    count=summary.count,
                    examples=[_bounded(example) for example in summary.examples],
                    rule_state=existing.state if existing else None,
                )
            )
        return UnclassifiedList(event_types=found, freshness=self._fresh())

    def experiment_history(
        self,
        experiment_id: ExperimentKey,
        as_of: Moment | None = None,
        occurred_by: Moment | None = None,
    ) -> ExperimentHistory:
        """The experiment's events and its state at a cut (default: everything so far).

        ``as_of`` cuts by recording time: what the platform knew then. ``occurred_by`` cuts
        by event time: what had happened by then (lifecycle events carry their own time;
        definitions count from when they were recorded, or from the next timed event if
        that happened earlier). Both may be given; ``cut`` names what was applied.
        """
        from infrastructure.audit.replay import describe_cut, event_time, happened_by

        with tool_errors():
            self.app.experiment(experiment_id)  # clear error for unknown keys
        known = []
        for event in self.app.events.get(experiment_uuid(experiment_id)):
            if as_of is not None and event.timestamp > as_of:
                break
            known.append(event)
        kept = happened_by(known, occurred_by)
        if len(kept) > self.max_rows:
            raise ToolError(f"History has {len(kept)} events; pass an earlier as_of.")
        state: Experiment | None = None
        events = []
        for event in kept:
            state = event.mutate(state)
            events.append(
                HistoryEvent(
                    version=event.originator_version,
                    event=type(event).__qualname__,
                    recorded_at=event.timestamp,
                    occurred_at=event_time(event),
                    data=_event_data(event),
                )
            )
        return ExperimentHistory(
            experiment_id=experiment_id,
            as_of=as_of,
            occurred_by=occurred_by,
            cut=describe_cut(as_of, occurred_by),
            events=events,
            state=ExperimentOut.of(state) if state else None,
            freshness=self._fresh(),
        )


def _bounded(example: dict[str, Any]) -> dict[str, Any]:
    text = json.dumps(example, default=str)
    if len(text) <= MAX_EXAMPLE_CHARS:
        return example
    return {"truncated": shorten(text, MAX_EXAMPLE_CHARS), "characters": len(text)}


def _event_data(event: object) -> dict[str, Any]:
    skipped = {"originator_id", "originator_version", "timestamp", "originator_topic"}
    return {
        k: v.isoformat() if isinstance(v, datetime) else v
        for k, v in vars(event).items()
        if k not in skipped
    }


def _health_findings(
    experiment: Experiment, srm_p: float, mismatch: bool, sums: dict[str, VariantSums]
) -> list[str]:
    from domain.statistics import variant_mismatch_check

    findings = []
    if mismatch:
        findings.append(
            f"Sample ratio mismatch (p={srm_p:.2g}): assignment counts do not match the "
            "configured weights; fix the cause before trusting any result."
        )
    elif sums:
        findings.append(f"No sample ratio mismatch (p={srm_p:.2f}).")
    else:
        findings.append("No exposed users yet.")
    users = sum(s.users for s in sums.values())
    mismatched = sum(s.mismatched_users for s in sums.values())
    if users:
        check = variant_mismatch_check(mismatched, users)
        if check.exceeded:
            findings.append(f"{check.rate:.1%} of users were seen in more than one variant.")
    if experiment.status == Status.DRAFT:
        findings.append("The experiment is still a draft: start it to collect data.")
    return findings
