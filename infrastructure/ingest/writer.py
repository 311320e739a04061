"""Applies a batch of records to the aggregates and commits events with the offsets.

One `write` call is one unit of exactly-once: every record of the batch either has its
effect committed together with the tracking records of its partitions, or nothing is
committed (and the caller retries the same batch). Participations, inboxes and unclassified
logs are kept in an LRU cache between batches; it is only valid while this process is the
single writer of their partitions, so it is dropped on any rebalance and on any failed write.
"""

from __future__ import annotations

from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking

from domain.errors import DomainError
from domain.experiments.aggregate import Experiment
from domain.experiments.errors import ExperimentNotFound
from domain.ingestion.aggregates import (
    ExperimentInbox,
    UnclassifiedEvents,
    inbox_id,
    unclassified_id,
)
from domain.participation.aggregate import participation_id
from domain.participation.commands import RecordExposure, RecordMetric
from infrastructure.application import NeonBlue
from infrastructure.ingest import store
from infrastructure.ingest.bus import Partition, Record
from infrastructure.ingest.dead_letters import DeadLetter
from infrastructure.ingest.translate import Item, Lifecycle, Unclassified, translate
from infrastructure.ingest.wire import InvalidMessage
from infrastructure.triage import LearnedRules

DeadLetterSink = Callable[[list[DeadLetter]], None]


@dataclass
class BatchResult:
    records: int = 0
    recorded: int = 0
    duplicates: int = 0
    unclassified: int = 0
    stored_events: int = 0
    skipped: int = 0  # already committed earlier (redelivered offsets)
    dead_letters: list[DeadLetter] = field(default_factory=list)


class BatchWriter:
    """Turns records into committed events; `positions` are the next offsets per partition."""

    def __init__(self, app: NeonBlue, dead_letter: DeadLetterSink, cache_size: int = 500_000):
        self.app = app
        self.dead_letter = dead_letter
        self.cache_size = cache_size
        self.cache: OrderedDict[UUID, Any] = OrderedDict()
        self.positions: dict[Partition, int] = {}
        self.batched_tracking = store.supports_batched_tracking(app)
        self._sent: set[tuple[str, int, int]] = set()
        self.learned_rules = LearnedRules(app)

    def assign(self, partitions: Iterable[Partition]) -> dict[Partition, int]:
        """Reads where to resume each partition from the event store."""
        self.cache.clear()
        self.positions.update(store.resume_positions(self.app, partitions))
        return dict(self.positions)

    def forget(self, partitions: Iterable[Partition] | None = None) -> None:
        """Drops cached state (all of it) and the positions of ``partitions`` (or all)."""
        self.cache.clear()
        if partitions is None:
            self.positions.clear()
        for tp in partitions or ():
            self.positions.pop(tp, None)

    def write(self, records: Sequence[Record]) -> BatchResult:
        """Commits the batch's effects; on any exception nothing of it is committed and the
        cache is dropped, so calling `write` again with the same records is safe."""
        result = BatchResult(records=len(records))
        fresh = []
        for record in records:
            if record.offset >= self.positions.get(record.source, 0):
                fresh.append(record)
            else:
                result.skipped += 1
        if self.batched_tracking:
            units = [fresh] if fresh else []
        else:
            groups: dict[Partition, list[Record]] = defaultdict(list)
            for record in fresh:
                groups[record.source].append(record)
            units = list(groups.values())
        try:
            for unit in units:
                self._write_unit(unit, result)
        except BaseException:
            self.cache.clear()
            raise
        return result

    def _write_unit(self, records: list[Record], result: BatchResult) -> None:
        learned = self.learned_rules.current()
        items: list[tuple[Record, Item]] = []
        dead: list[DeadLetter] = []
        for record in records:
            try:
                items.append((record, translate(record, learned)))
            except InvalidMessage as error:
                dead.append(DeadLetter.of(record, error.kind, error.reason))
        state = _UnitState(self.app, self._cached(items))
        for record, item in items:
            try:
                outcome = state.apply(item)
            except DomainError as error:
                kind = "unknown_experiment" if isinstance(error, ExperimentNotFound) else "rejected"
                dead.append(DeadLetter.of(record, kind, f"{type(error).__name__}: {error}"))
                continue
            if outcome == "duplicate":
                result.duplicates += 1
            elif outcome == "unclassified":
                result.unclassified += 1
            else:
                result.recorded += 1
        unsent = [d for d in dead if d.coordinates not in self._sent]
        if unsent:
            self.dead_letter(unsent)  # durable before the offsets commit
            self._sent.update(d.coordinates for d in unsent)
        last: dict[Partition, int] = {}
        for record in records:
            last[record.source] = max(record.offset, last.get(record.source, -1))
        trackings = [Tracking(store.tracking_name(tp), offset) for tp, offset in last.items()]
        changed = list(state.changed.values())
        result.stored_events += store.write_tracked(self.app, changed, trackings)
        for tp, offset in last.items():
            self.positions[tp] = offset + 1
        self._sent.difference_update(d.coordinates for d in dead)
        result.dead_letters.extend(dead)
        self._remember(state.loaded, changed)

    def _cached(self, items: list[tuple[Record, Item]]) -> dict[UUID, Any]:
        """The aggregates the unit needs: from the cache, the rest loaded in one query."""
        wanted: dict[UUID, None] = {}
        for _, item in items:
            if isinstance(item, RecordExposure | RecordMetric):
                wanted[participation_id(item.experiment_key, item.user_id)] = None
            elif isinstance(item, Lifecycle):
                wanted[inbox_id(item.experiment_key)] = None
            else:
                wanted[unclassified_id(item.topic, item.partition, item.event_type)] = None
        found: dict[UUID, Any] = {}
        missing = []
        for aggregate_id in wanted:
            aggregate = self.cache.get(aggregate_id)
            if aggregate is None:
                missing.append(aggregate_id)
            else:
                found[aggregate_id] = aggregate
        found.update(store.load_aggregates(self.app, missing))
        return found

    def _remember(self, loaded: dict[UUID, Any], changed: list[Any]) -> None:
        cache = self.cache
        for aggregate in (*loaded.values(), *changed):
            cache[aggregate.id] = aggregate
            cache.move_to_end(aggregate.id)
        while len(cache) > self.cache_size:
            cache.popitem(last=False)


class _UnitState:
    """Aggregates of one unit of work and what changed."""

    def __init__(self, app: NeonBlue, loaded: dict[UUID, Any]) -> None:
        self.app = app
        self.loaded = loaded
        self.experiments: dict[str, Experiment | ExperimentNotFound] = {}
        self.changed: dict[UUID, Any] = {}

    def experiment(self, key: str) -> Experiment:
        experiment = self.experiments.get(key)
        if experiment is None:
            try:
                experiment = self.app.experiment(key)
            except ExperimentNotFound as error:
                experiment = error
            self.experiments[key] = experiment
        if isinstance(experiment, ExperimentNotFound):
            raise experiment
        return experiment

    def _get(self, aggregate_id: UUID) -> Any:
        return self.changed.get(aggregate_id) or self.loaded.get(aggregate_id)

    def apply(self, item: Item) -> str:
        if isinstance(item, Unclassified):
            return self._unclassified(item)
        experiment = self.experiment(item.experiment_key)
        if isinstance(item, Lifecycle):
            return self._lifecycle(experiment, item)
        aggregate_id = participation_id(item.experiment_key, item.user_id)
        participation, applied = self.app.apply_command(experiment, self._get(aggregate_id), item)
        if not applied:
            return "duplicate"
        self.changed[aggregate_id] = participation
        return "recorded"

    def _lifecycle(self, experiment: Experiment, item: Lifecycle) -> str:
        inbox = self._get(inbox_id(item.experiment_key)) or ExperimentInbox.open(
            item.experiment_key
        )
        if inbox.has_seen(item.event_id):
            return "duplicate"
        reason = str(item.properties.get("reason", ""))
        if item.step == "conclude":
            experiment.conclude(
                item.properties.get("decision", ""), item.properties.get("winner"), reason
            )
        elif item.step in ("pause", "stop"):
            getattr(experiment, item.step)(item.at, reason)
        else:
            getattr(experiment, item.step)(item.at)
        inbox.accept(item.event_id, item.event_type, item.at, item.context)
        self.changed[experiment.id] = experiment
        self.changed[inbox.id] = inbox
        return "recorded"

    def _unclassified(self, item: Unclassified) -> str:
        aggregate_id = unclassified_id(item.topic, item.partition, item.event_type)
        log = self._get(aggregate_id) or UnclassifiedEvents.open(
            item.topic, item.partition, item.event_type
        )
        if not log.receive(item.event_id, item.payload, item.context):
            return "duplicate"
        self.changed[aggregate_id] = log
        return "unclassified"
