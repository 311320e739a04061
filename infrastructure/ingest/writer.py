"""Applies a batch of records to the aggregates and commits events with the offsets.

A unit of work (the batch, or one partition's part of it on stores that record one
tracking record per transaction) is one unit of exactly-once: every record of it either has
its effect committed together with the tracking records of its partitions, or nothing is
committed (and the caller retries the batch; committed units are skipped by offset). Participations, inboxes and unclassified
logs are kept in an LRU cache between batches; it is only valid while this process is the
single writer of their partitions, so it is dropped on any rebalance and on any failed write.

No single message can stop a batch. Decoding and validation errors and domain errors
dead-letter the message on the spot. Any other exception while translating, applying or
encoding (a bug, or input the bounds of `wire` did not foresee) makes the writer split the
unit in halves and write each on its own, down to the one message that fails, which is then
dead-lettered as ``unprocessable`` with the exception's class and message. Only errors of the
event store itself (`SYSTEMIC`: unavailable, integrity races, programming errors) propagate,
and the caller retries the batch.

Event ids are deduplicated globally: the unit's new ids are recorded in `tables` in the
transaction of its events, whose unique key rejects an id recorded before. A repeated id is
almost always a producer retry of the same user's event, which the participation (cached or
loaded) already knows; so a unit is first written without looking its ids up, and only when
the transaction is rejected (an id reused by another user or experiment, or a race with
another process) is it redone after looking them up.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError, Tracking

from domain.errors import DomainError
from domain.experiments.aggregate import Experiment
from domain.experiments.errors import ExperimentNotFound
from domain.ingestion.aggregates import (
    ExperimentInbox,
    UnclassifiedEvents,
    inbox_id,
    unclassified_id,
)
from domain.ingestion.source_rows import source_rows_id
from domain.participation.aggregate import participation_id
from domain.participation.commands import RecordExposure, RecordMetric
from infrastructure.application import NeonBlue
from infrastructure.ingest import store
from infrastructure.ingest.bus import Partition, Record
from infrastructure.ingest.cdc import ChangeFeed, RowChange, Tombstone
from infrastructure.ingest.cdc.mapping import apply_change
from infrastructure.ingest.dead_letters import DeadLetter
from infrastructure.ingest.prepare import Prepared, Preparer, PreparingWorker, is_systemic
from infrastructure.ingest.protection import Forgotten, Protector
from infrastructure.ingest.tables import tables_for
from infrastructure.ingest.translate import Item, Lifecycle, Unclassified
from infrastructure.ingest.wire import DEFAULT_LIMITS, Limits
from infrastructure.privacy.keys import SubjectsErased
from infrastructure.triage import LearnedRules

log = logging.getLogger(__name__)


@dataclass
class BatchResult:
    records: int = 0
    recorded: int = 0
    duplicates: int = 0
    unclassified: int = 0
    forgotten: int = 0  # events of subjects erased before they arrived: dropped
    stored_events: int = 0
    skipped: int = 0  # already committed earlier (redelivered offsets)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    """Time per stage of the writer (`STAGES`), for benchmarks: where ingest's time goes."""

    def add(self, other: BatchResult) -> None:
        self.recorded += other.recorded
        self.duplicates += other.duplicates
        self.unclassified += other.unclassified
        self.forgotten += other.forgotten
        self.stored_events += other.stored_events
        self.dead_letters.extend(other.dead_letters)
        add_seconds(self.seconds, other.seconds)


STAGES = ("receive", "decode", "protect", "load", "apply", "store")
"""receive: waiting for and unpickling what the prepare worker made of the records (`prepare`);
decode: wire bytes to commands; protect: pseudonyms and sealing (keys included), both for the
records the writer prepares itself; load: aggregates not in the cache, known event ids; apply:
domain commands; store: events encoded, chained and written with their offsets."""


def add_seconds(total: dict[str, float], more: dict[str, float]) -> None:
    for stage, seconds in more.items():
        total[stage] = total.get(stage, 0.0) + seconds


class BatchWriter:
    """Turns records into committed events; `positions` are the next offsets per partition."""

    def __init__(
        self,
        app: NeonBlue,
        cache_size: int = 500_000,
        limits: Limits = DEFAULT_LIMITS,
        protector: Protector | None = None,
        feed: ChangeFeed | None = None,
        worker: PreparingWorker | None = None,
    ) -> None:
        self.app = app
        self.cache_size = cache_size
        self.worker = worker
        self.cache: OrderedDict[UUID, Any] = OrderedDict()
        self.positions: dict[Partition, int] = {}
        self.batched_tracking = store.supports_batched_tracking(app)
        self.tables = tables_for(app)
        self.preparer = Preparer(LearnedRules(app).current, limits, protector, feed)

    def assign(self, partitions: Iterable[Partition]) -> dict[Partition, int]:
        """Reads where to resume each partition from the event store."""
        self.cache.clear()
        self.positions.update(store.resume_positions(self.app, partitions))
        return dict(self.positions)

    def prepare_ahead(self, records: Sequence[Record]) -> None:
        """Lets the prepare worker, if any, start on records `write` will get next."""
        if self.worker is not None:
            self.worker.submit(records)

    def forget(self, partitions: Iterable[Partition] | None = None) -> None:
        """Drops cached state (all of it) and the positions of ``partitions`` (or all)."""
        self.cache.clear()
        if self.worker is not None:
            self.worker.clear()
        if partitions is None:
            self.positions.clear()
        for tp in partitions or ():
            self.positions.pop(tp, None)

    def write(self, records: Sequence[Record]) -> BatchResult:
        """Commits the batch's effects. An exception escapes only for a `systemic` failure;
        then the cache is dropped and the committed part of the batch (if it was split) has
        advanced `positions`, so calling `write` again with the same records is safe."""
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
                self._write_isolating(unit, result)
        except BaseException:
            self.cache.clear()
            raise
        finally:
            if self.worker is not None:
                self.worker.discard(records)
        return result

    def _write_isolating(self, records: list[Record], result: BatchResult) -> None:
        """Writes the unit; if one of its messages raises, halves it until that message is
        alone, and dead-letters it (module docstring)."""
        try:
            result.add(self._write_deduplicated(records))
        except BaseException as error:
            self.cache.clear()  # aggregates of the failed unit may hold uncommitted changes
            if is_systemic(error):
                raise
            if len(records) == 1:
                log.warning("dead-lettering an unprocessable message: %r", error)
                result.add(self._write_unit(records, poison=error))
                return
            middle = len(records) // 2
            self._write_isolating(records[:middle], result)
            self._write_isolating(records[middle:], result)

    def _write_deduplicated(self, records: list[Record]) -> BatchResult:
        """Writes the unit; looks its event ids up and writes it again when the event store
        rejected them (module docstring). A second rejection (e.g. a tracking position
        another process recorded) goes to the caller."""
        try:
            return self._write_unit(records)
        except SubjectsErased:  # sealed before a `privacy forget` committed: seal again
            self.cache.clear()
            if self.worker is not None:
                self.worker.discard(records)
            return self._write_unit(records)
        except IntegrityError:
            self.cache.clear()
            return self._write_unit(records, look_up_ids=True)

    def _write_unit(
        self,
        records: list[Record],
        poison: BaseException | None = None,
        look_up_ids: bool = False,
    ) -> BatchResult:
        result = BatchResult()
        clock = time.perf_counter
        prepared, receiving, sealed_under = self._prepared(records, poison)
        items: list[tuple[Record, Item]] = []
        dead: list[DeadLetter] = []
        for record, outcome in zip(records, prepared, strict=True):
            if isinstance(outcome, DeadLetter):
                dead.append(outcome)
            elif isinstance(outcome, Forgotten):
                result.forgotten += 1
            else:
                items.append((record, outcome))
        protected = clock()
        known = (
            self.tables.known_event_ids({item.event_id for _, item in items})
            if look_up_ids
            else set()
        )
        state = _UnitState(self.app, self._cached(items))
        loaded = clock()
        new_ids: list[str] = []
        for record, item in items:
            if item.event_id in known:
                result.duplicates += 1
                continue
            try:
                outcome = state.apply(item)
            except DomainError as error:
                kind = "unknown_experiment" if isinstance(error, ExperimentNotFound) else "rejected"
                dead.append(DeadLetter.of(record, kind, f"{type(error).__name__}: {error}"))
                continue
            if outcome == "duplicate":
                result.duplicates += 1
                continue
            known.add(item.event_id)
            new_ids.append(item.event_id)
            if outcome == "unclassified":
                result.unclassified += 1
            else:
                result.recorded += 1
        applied = clock()
        last: dict[Partition, int] = {}
        for record in records:
            last[record.source] = max(record.offset, last.get(record.source, -1))
        trackings = [Tracking(store.tracking_name(tp), offset) for tp, offset in last.items()]
        changed = list(state.changed.values())
        result.stored_events = store.write_tracked(
            self.app, changed, trackings, new_ids, dead, sealed_under
        )
        marks = (protected, loaded, applied, clock())
        spans = (end - start for start, end in pairwise(marks))
        result.seconds = {
            "receive": receiving,
            **self.preparer.take_seconds(),
            **dict(zip(("load", "apply", "store"), spans, strict=True)),
        }
        for tp, offset in last.items():
            self.positions[tp] = offset + 1
        result.dead_letters = dead
        self._remember(state.loaded, changed)
        return result

    def _prepared(
        self, records: list[Record], poison: BaseException | None
    ) -> tuple[list[Prepared], float, int | None]:
        """Each record's item or dead letter (the worker's where it made one, else made
        here), the seconds spent receiving the worker's, and the lowest erasure count any
        of them was sealed under (None: privacy is off)."""
        if poison is not None:
            return [DeadLetter.of_error(record, poison) for record in records], 0.0, None
        started = time.perf_counter()
        worker = self.worker
        found = worker.take(records) if worker is not None else [None] * len(records)
        counts = [] if worker is None else [worker.sealed_under(records)]
        receiving = time.perf_counter() - started
        missing = [r for r, outcome in zip(records, found, strict=True) if outcome is None]
        if missing:
            made = iter(self.preparer.prepare(missing))
            found = [next(made) if outcome is None else outcome for outcome in found]
            counts.append(self.preparer.sealed_under)
        sealed_under = min((c for c in counts if c is not None), default=None)
        return found, receiving, sealed_under  # type: ignore[return-value]  # none is None

    def _cached(self, items: list[tuple[Record, Item]]) -> dict[UUID, Any]:
        """The aggregates the unit needs: from the cache, the rest loaded in one query."""
        wanted: dict[UUID, None] = {}
        for _, item in items:
            if isinstance(item, RecordExposure | RecordMetric):
                wanted[participation_id(item.experiment_key, item.user_id)] = None
            elif isinstance(item, Lifecycle):
                wanted[inbox_id(item.experiment_key)] = None
            elif isinstance(item, RowChange):
                wanted[source_rows_id(item.experiment_key)] = None
            elif isinstance(item, Tombstone):
                continue
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
        if isinstance(item, RowChange | Tombstone):
            return apply_change(self, item)
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
        by = f"{item.event_type} event {item.event_id} (ingest)"
        if item.step == "conclude":
            experiment.conclude(
                item.properties.get("decision", ""), item.properties.get("winner"), reason, by
            )
        elif item.step in ("pause", "stop"):
            getattr(experiment, item.step)(item.at, reason, by)
        else:
            if item.step in ("start", "resume"):
                self.app.check_namespace_free(experiment, self.experiments)
            getattr(experiment, item.step)(item.at, by)
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
