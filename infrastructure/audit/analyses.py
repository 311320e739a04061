"""Recorded analyses: publish results with their inputs; recompute and compare later.

Whoever publishes results (CLI, MCP server, agent) calls :func:`publish_results` with the
scorecard it computed, the log position its inputs reflect (a read model's position, or
``app.head()`` when computed from the log) and the settings it used. An auditor calls
:func:`recompute` with the record id: the scorecard is recomputed from the event log up to
that position with the same settings and compared number by number.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.utils import get_topic

from domain.analysis import Scorecard
from domain.analysis.version import ENGINE_VERSION
from domain.audit import AnalysisRecord, AnalysisSettings, compare_summaries, summarize
from infrastructure.application import NeonBlue
from infrastructure.audit.errors import AuditError, RecordNotFound
from infrastructure.audit.replay import replay


def publish_results(
    app: NeonBlue,
    experiment_key: str,
    scorecard: Scorecard,
    position: int,
    settings: AnalysisSettings | None = None,
    publisher: str = "cli",
) -> UUID:
    """Records that ``scorecard`` was published; returns the record id.

    ``position`` is the last log position reflected in the inputs (e.g. the read model's
    tracked position); ``settings`` are those the scorecard was computed with.
    """
    settings = settings or AnalysisSettings()
    if scorecard.experiment_key != experiment_key:
        raise AuditError(
            f"The scorecard is for {scorecard.experiment_key!r}, not {experiment_key!r}."
        )
    if scorecard.engine != settings.engine or scorecard.alpha != settings.alpha:
        raise AuditError(
            f"The scorecard was computed with engine {scorecard.engine!r} and alpha "
            f"{scorecard.alpha}; pass the AnalysisSettings it was computed with."
        )
    if not 0 <= position <= app.head():
        raise AuditError(f"Position {position} is not in the log (head {app.head()}).")
    record = AnalysisRecord.publish(
        experiment_key, position, settings, ENGINE_VERSION, publisher, scorecard
    )
    app.save(record)
    return record.id


def analyze_and_publish(
    app: NeonBlue,
    experiment_key: str,
    settings: AnalysisSettings | None = None,
    publisher: str = "cli",
) -> tuple[UUID, Scorecard]:
    """Computes the scorecard from the log as it is now and records it."""
    settings = settings or AnalysisSettings()
    position = app.head()
    state = replay(app, experiment_key, stop=position, settings=settings)
    if state.scorecard is None:
        raise AuditError(f"Experiment {experiment_key!r} has fewer than two variants.")
    record_id = publish_results(app, experiment_key, state.scorecard, position, settings, publisher)
    return record_id, state.scorecard


def analysis_record(app: NeonBlue, record_id: UUID | str) -> AnalysisRecord:
    try:
        found = app.repository.get(UUID(str(record_id)))
    except (AggregateNotFoundError, ValueError):
        found = None
    if not isinstance(found, AnalysisRecord):
        raise RecordNotFound(
            f"No recorded analysis {record_id}; `neonblue audit analyses` lists them."
        )
    return found


def recorded_analyses(app: NeonBlue, experiment_key: str | None = None) -> list[AnalysisRecord]:
    """Recorded analyses in publication order (optionally of one experiment)."""
    topic = get_topic(AnalysisRecord.Published)
    records = []
    for entry in app.log(topics=[topic]):
        if experiment_key is None or entry.event.experiment_key == experiment_key:  # type: ignore[attr-defined]
            records.append(analysis_record(app, entry.originator_id))
    return records


@dataclass(frozen=True)
class Recomputation:
    record: AnalysisRecord
    recomputed: dict[str, object]
    differences: list[str]
    engine_version: str  # of the engine that recomputed

    @property
    def matches(self) -> bool:
        return not self.differences

    @property
    def same_engine(self) -> bool:
        return self.engine_version == self.record.engine_version


def recompute(app: NeonBlue, record_id: UUID | str) -> Recomputation:
    """Recomputes a recorded analysis from the log up to its position and compares."""
    record = analysis_record(app, record_id)
    state = replay(app, record.experiment_key, stop=record.position, settings=record.settings)
    recomputed = summarize(state.scorecard) if state.scorecard else {}
    differences = compare_summaries(record.summary, recomputed)
    return Recomputation(record, recomputed, differences, ENGINE_VERSION)
