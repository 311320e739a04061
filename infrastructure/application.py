"""The NeonBlue application service: plain values in, ids and aggregates out.

It is the only code that loads and saves aggregates; CLI, ingest, MCP servers and agents
call it. Persistence (SQLite, PostgreSQL, in-memory) comes from the environment built by
`infrastructure.settings`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import (
    IntegrityError,
    JSONTranscoder,
    ProcessRecorder,
    StoredEvent,
    Tracking,
)
from eventsourcing.utils import get_topic

from domain.errors import DomainError
from domain.experiments.aggregate import Experiment, experiment_id
from domain.experiments.checks import check_namespace_free
from domain.experiments.errors import ExperimentAlreadyExists, ExperimentNotFound
from domain.experiments.values import Conclusion, Metric, Namespace, Status, Variant
from domain.participation.aggregate import AssignmentSource, Participation, participation_id
from domain.participation.commands import ParticipationCommand, RecordExposure
from domain.participation.errors import NotCollecting, UnknownMetric
from infrastructure.audit.chain import ChainingMapper
from infrastructure.transcoding import AsDict, SetAsList, Transcoder

SAVE_CHUNK = 500  # keeps one save well under psycopg's pipeline-mode size limit (over sockets)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class BatchOutcome:
    """What happened to each command of a batch; rejected ones carry the domain error."""

    recorded: int = 0
    duplicates: int = 0
    rejected: list[tuple[ParticipationCommand, DomainError]] = field(default_factory=list)


@dataclass(frozen=True)
class LoggedEvent:
    """One entry of the event log, decoded for display and audit."""

    position: int
    originator_id: UUID
    version: int
    topic: str
    event: DomainEventProtocol[UUID]

    @property
    def name(self) -> str:
        return self.topic.rsplit(":", 1)[-1]


class NeonBlue(Application[UUID]):
    name = "NeonBlue"
    snapshotting_intervals = {Experiment: 50}  # noqa: RUF012 - library API

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._keys: list[str] = []  # experiment keys read so far (see `experiment_keys`)
        self._keys_read_to = 0
        self._keys_lock = threading.Lock()

    def construct_recorder(self) -> ProcessRecorder:
        """A process recorder, so ingest can commit Kafka offsets with the events."""
        return self.factory.process_recorder()

    def construct_mapper(self) -> ChainingMapper:
        """A mapper that hash-chains every stored event (tamper evidence; `audit verify`)."""
        mapper = self.factory.mapper(self.construct_transcoder(), mapper_class=ChainingMapper)
        assert isinstance(mapper, ChainingMapper)

        def stored_version(originator_id: UUID | str, version: int) -> StoredEvent | None:
            found = self.recorder.select_events(originator_id, gt=version - 1, lte=version)
            return found[0] if found else None

        mapper.stored_version = stored_version
        return mapper

    def construct_transcoder(self) -> Transcoder:
        transcoder = Transcoder()
        self.register_transcodings(transcoder)
        return transcoder

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        for cls in (Variant, Metric, Namespace, Conclusion):
            transcoder.register(AsDict(cls, cls.__name__.lower()))
        transcoder.register(SetAsList())

    # -- experiments ------------------------------------------------------------------------

    def create_experiment(self, key: str, name: str, **definition: Any) -> UUID:
        """Creates a draft; ``definition`` takes `Experiment.design`'s keyword arguments."""
        experiment = Experiment.design(key, name, **definition)
        try:
            self.save(experiment)
        except IntegrityError:
            raise ExperimentAlreadyExists(
                f"An experiment with key {key!r} already exists; choose another key."
            ) from None
        return experiment.id

    def experiment(self, key: str) -> Experiment:
        try:
            return self.repository.get(experiment_id(key))
        except AggregateNotFoundError:
            raise ExperimentNotFound(
                f"No experiment with key {key!r}; `neonblue experiments list` shows the keys."
            ) from None

    def experiment_keys(self) -> list[str]:
        """Keys of all experiments, in creation order (read from the event log).

        Keys are kept and only the log after the last call is read again: a topic filter
        scans the notification table, which grows with every exposure. (Notification ids
        are assigned in commit order on both stores, so nothing below is missed.)
        """
        topic = get_topic(Experiment.Created)
        with self._keys_lock:
            head = self.head()
            if head > self._keys_read_to:
                for item in self.log(start=self._keys_read_to + 1, topics=[topic]):
                    self._keys.append(item.event.key)  # type: ignore[attr-defined]
                    self._keys_read_to = max(self._keys_read_to, item.position)
                self._keys_read_to = max(self._keys_read_to, head)
            return list(self._keys)

    def experiments(self) -> list[Experiment]:
        return [self.experiment(key) for key in self.experiment_keys()]

    def _change(self, key: str, action: str, *args: Any, **kwargs: Any) -> Experiment:
        experiment = self.experiment(key)
        getattr(experiment, action)(*args, **kwargs)
        self.save(experiment)
        return experiment

    def start_experiment(self, key: str, at: datetime | None = None, by: str = "") -> Experiment:
        self.check_namespace_free(self.experiment(key))
        return self._change(key, "start", at or utcnow(), by=by)

    def pause_experiment(
        self, key: str, reason: str = "", at: datetime | None = None, by: str = ""
    ) -> Experiment:
        return self._change(key, "pause", at or utcnow(), reason, by=by)

    def resume_experiment(self, key: str, at: datetime | None = None, by: str = "") -> Experiment:
        self.check_namespace_free(self.experiment(key))
        return self._change(key, "resume", at or utcnow(), by=by)

    def check_namespace_free(
        self, experiment: Experiment, current: Mapping[str, Any] | None = None
    ) -> None:
        """Refuses (`NamespaceTaken`) a start or resume of ``experiment`` onto a slice that a
        running or paused experiment holds (``current``: versions newer than the store's,
        e.g. changed earlier in an ingest batch)."""
        if experiment.namespace is None:
            return
        current = current or {}
        live = (Status.RUNNING, Status.PAUSED)
        others = (current.get(key) or self.experiment(key) for key in self.experiment_keys())
        check_namespace_free(
            experiment.key,
            experiment.namespace,
            (
                (e.key, str(e.status), e.namespace)
                for e in others
                if isinstance(e, Experiment) and e.status in live
            ),
        )

    def stop_experiment(
        self, key: str, reason: str = "", at: datetime | None = None, by: str = ""
    ) -> Experiment:
        return self._change(key, "stop", at or utcnow(), reason, by=by)

    def conclude_experiment(
        self, key: str, decision: str, winner: str | None, reason: str, by: str = ""
    ) -> Experiment:
        return self._change(key, "conclude", decision, winner, reason, by=by)

    def change_traffic(
        self,
        key: str,
        *,
        coverage: float | None = None,
        weights: dict[str, float] | None = None,
        reason: str = "",
        by: str = "",
    ) -> Experiment:
        return self._change(
            key, "change_traffic", coverage=coverage, weights=weights, reason=reason, by=by
        )

    def add_note(self, key: str, text: str, author: str) -> Experiment:
        return self._change(key, "add_note", text, author)

    def add_variant(self, key: str, variant: Variant) -> Experiment:
        return self._change(key, "add_variant", variant)

    def add_metric(self, key: str, metric: Metric) -> Experiment:
        return self._change(key, "add_metric", metric)

    # -- participation ----------------------------------------------------------------------

    def participation(self, experiment_key: str, user_id: str) -> Participation | None:
        try:
            return self.repository.get(participation_id(experiment_key, user_id))
        except AggregateNotFoundError:
            return None

    def record(
        self, commands: Iterable[ParticipationCommand], tracking: Tracking | None = None
    ) -> BatchOutcome:
        """Applies exposure and metric commands and saves the changes.

        Domain errors do not stop the batch: each rejected command is returned with its
        error so the caller can dead-letter it. With ``tracking`` (e.g. a Kafka offset) the
        whole batch and the tracking record commit in one transaction; a replayed tracking
        position raises IntegrityError and writes nothing.
        """
        outcome = BatchOutcome()
        experiments: dict[str, Experiment] = {}
        changed: dict[UUID, Participation] = {}
        for command in commands:
            try:
                experiment = experiments.get(command.experiment_key)
                if experiment is None:
                    experiment = experiments[command.experiment_key] = self.experiment(
                        command.experiment_key
                    )
                participation = changed.get(
                    participation_id(command.experiment_key, command.user_id)
                ) or self._participation_for(experiment, command)
                if self._apply(experiment, participation, command):
                    outcome.recorded += 1
                    changed[participation.id] = participation
                else:
                    outcome.duplicates += 1
            except DomainError as error:
                outcome.rejected.append((command, error))
        if tracking is None:
            self.save_all(list(changed.values()))
        else:
            self.save_tracked(list(changed.values()), tracking)
        return outcome

    def save_all(self, aggregates: Sequence[Any]) -> None:
        for start in range(0, len(aggregates), SAVE_CHUNK):
            self.save(*aggregates[start : start + SAVE_CHUNK])

    def save_tracked(self, aggregates: Sequence[Any], tracking: Tracking) -> None:
        """Saves the aggregates' new events and the tracking record in one transaction."""
        processing_event: ProcessingEvent[UUID] = ProcessingEvent(tracking=tracking)
        processing_event.collect_events(*aggregates)
        recordings = self._record(processing_event)
        self._take_snapshots(processing_event)
        self._notify(recordings)

    def apply_command(
        self,
        experiment: Experiment,
        participation: Participation | None,
        command: ParticipationCommand,
    ) -> tuple[Participation, bool]:
        """Applies one command to a participation (enrolling the user when ``None``).

        Returns the participation and False for a duplicate event id; raises DomainError,
        leaving ``participation`` unchanged. Batch ingest uses this with its own loading.
        """
        if participation is None:
            participation = self._enroll(experiment, command)
        return participation, self._apply(experiment, participation, command)

    def _participation_for(
        self, experiment: Experiment, command: ParticipationCommand
    ) -> Participation:
        existing = self.participation(command.experiment_key, command.user_id)
        if existing is not None:
            return existing
        return self._enroll(experiment, command)

    def _enroll(self, experiment: Experiment, command: ParticipationCommand) -> Participation:
        if experiment.status != Status.RUNNING:
            raise NotCollecting(
                f"Experiment {experiment.key!r} is {experiment.status}; users can only be "
                "enrolled while it is running."
            )
        shown = command.variant if isinstance(command, RecordExposure) else None
        if shown is not None and shown in experiment.variant_keys():
            variant, source = shown, AssignmentSource.SDK
        else:
            variant, _ = experiment.assignment_for(command.user_id)
            source = AssignmentSource.BUCKETING if variant else AssignmentSource.NONE
        return Participation.enroll(experiment.key, command.user_id, variant, source, command.at)

    @staticmethod
    def _apply(
        experiment: Experiment, participation: Participation, command: ParticipationCommand
    ) -> bool:
        if isinstance(command, RecordExposure):
            return participation.expose(
                command.event_id, command.at, command.variant, command.context
            )
        if command.metric not in _recordable_metrics(experiment):
            known = ", ".join(sorted(_recordable_metrics(experiment))) or "none"
            raise UnknownMetric(
                f"Experiment {experiment.key!r} has no metric {command.metric!r} "
                f"(metrics: {known})."
            )
        return participation.record_metric(
            command.event_id,
            command.metric,
            command.value,
            command.at,
            experiment.stopped_at,
            command.context,
        )

    # -- the log ----------------------------------------------------------------------------

    def log(
        self,
        start: int = 1,
        limit: int | None = None,
        topics: Sequence[str] = (),
        page_size: int = 1000,
    ) -> Iterator[LoggedEvent]:
        """Events in notification order from position ``start`` (gaps are normal)."""
        yielded = 0
        position = start
        while limit is None or yielded < limit:
            size = page_size if limit is None else min(page_size, limit - yielded)
            notifications = self.recorder.select_notifications(
                start=position, limit=size, topics=topics
            )
            if not notifications:
                return
            for notification in notifications:
                yield LoggedEvent(
                    position=notification.id,
                    originator_id=notification.originator_id,  # type: ignore[arg-type]
                    version=notification.originator_version,
                    topic=notification.topic,
                    event=self.mapper.to_domain_event(notification),
                )
                yielded += 1
            position = notifications[-1].id + 1

    def head(self) -> int:
        """Position of the newest event (0 when the log is empty)."""
        return self.recorder.max_notification_id() or 0


def _recordable_metrics(experiment: Experiment) -> set[str]:
    keys = {m.key for m in experiment.metrics}
    for metric in experiment.metrics:
        keys.update(k for k in (metric.numerator, metric.denominator) if k)
    return keys
