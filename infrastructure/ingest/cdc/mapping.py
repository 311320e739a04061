"""Applies a `RowChange` to the experiment it belongs to, within ingest's unit of work.

The row is first recorded in the experiment's `SourceRows`; then what the row now says
is compared with the experiment and only the differences become commands (so a replayed
change is a no-op):
- an experiments row creates the experiment (with the variants already seen), changes its
  details, coverage or (while a draft) metrics, and moves its status along the lifecycle
  (``draft -> running`` is ``start``, ``stopped -> concluded`` is ``conclude`` with the
  row's ``decision`` and ``winner``); a deleted row stops a running or paused experiment;
- a variants row adds, renames or removes the variant of a draft, and changes its weight;
  a running experiment's weights change once the rows' weights sum to 1 again (one
  transaction of the operational database arrives as one change per row); a stopped or
  concluded experiment's variants no longer change (its rows are still recorded).
A status the experiment cannot reach yet because its variants have not arrived (a snapshot
reads the experiments table first) is reached when they do. Anything else the domain
refuses (a variant added to a running experiment, ``concluded -> running``) is a
`DomainError`: the change is dead-lettered and nothing of it is applied.
"""

from __future__ import annotations

import logging
from copy import deepcopy
from datetime import datetime
from typing import Any, Protocol

from domain.errors import DomainError
from domain.experiments.aggregate import Experiment
from domain.experiments.errors import (
    ExperimentNotFound,
    FrozenWhileRunning,
    InvalidMetric,
    InvalidTraffic,
    InvalidTransition,
    InvalidVariants,
)
from domain.experiments.values import Metric, Status, Variant
from domain.ingestion.source_rows import SourceRows, source_rows_id
from infrastructure.ingest.cdc.envelope import EXPERIMENTS, RowChange, Tombstone

log = logging.getLogger(__name__)
REASON = "changed in the operational database"
BY = "the operational database (change data capture)"
DETAILS = ("name", "hypothesis", "description", "owner")
STEPS: dict[tuple[Status, Status], str] = {
    (Status.DRAFT, Status.RUNNING): "start",
    (Status.RUNNING, Status.PAUSED): "pause",
    (Status.PAUSED, Status.RUNNING): "resume",
    (Status.RUNNING, Status.STOPPED): "stop",
    (Status.PAUSED, Status.STOPPED): "stop",
    (Status.STOPPED, Status.CONCLUDED): "conclude",
}
NOT_READY = (InvalidVariants, InvalidMetric, InvalidTraffic)
"""What `start` raises while variants or weights are still arriving."""


class UnitState(Protocol):
    """What the ingest writer's unit of work offers (aggregates loaded and changed)."""

    loaded: dict[Any, Any]
    changed: dict[Any, Any]
    experiments: dict[str, Any]

    def experiment(self, key: str) -> Experiment: ...


def apply_change(state: UnitState, item: RowChange | Tombstone) -> str:
    """Applies the change; returns "recorded", or "duplicate" for a tombstone or a change
    its row already reflects; raises `DomainError` (nothing applied) when refused."""
    if isinstance(item, Tombstone):
        return "duplicate"
    key = item.experiment_key
    rows_id = source_rows_id(key)
    rows = state.changed.get(rows_id) or state.loaded.get(rows_id) or SourceRows.open(key)
    if rows.is_stale(item.table, item.row_key, item.source_position):
        return "duplicate"
    try:
        current: Experiment | None = state.experiment(key)
    except ExperimentNotFound:
        current = None
    rows = deepcopy(rows)  # applied to copies: a refused change leaves no trace
    experiment = deepcopy(current)
    rows.record(item.table, item.row_key, item.operation, item.source_position, item.at, item.row)
    if item.table == EXPERIMENTS:
        experiment = _experiment_row(experiment, rows, item)
    elif experiment is not None:
        _variant_row(experiment, rows, item)
        _reach_pending_status(experiment, rows)
    state.changed[rows.id] = rows
    if experiment is not None and experiment.pending_events:
        state.changed[experiment.id] = experiment
        state.experiments[key] = experiment
    return "recorded"


def _experiment_row(
    experiment: Experiment | None, rows: SourceRows, change: RowChange
) -> Experiment | None:
    row = change.row
    if row is None:  # deleted: the log keeps the experiment; stop collecting for it
        if experiment is not None and experiment.is_collecting:
            experiment.stop(change.at, "deleted in the operational database", BY)
        return experiment
    metrics = [Metric.from_dict(m) for m in row["metrics"] or ()]
    if experiment is None:
        experiment = Experiment.design(
            change.experiment_key, row["name"], hypothesis=row["hypothesis"],
            description=row["description"], tags=row["tags"], owner=row["owner"],
            variants=_variants(rows), metrics=metrics,
            coverage=1.0 if row["coverage"] is None else row["coverage"],
        )  # fmt: skip
    else:
        changes = {f: row[f] for f in DETAILS if row[f] != getattr(experiment, f)}
        if sorted(set(row["tags"])) != list(experiment.tags):
            changes["tags"] = row["tags"]
        experiment.change_details(**changes)
        if row["coverage"] is not None and row["coverage"] != experiment.coverage:
            experiment.change_traffic(coverage=row["coverage"], reason=REASON, by=BY)
        if row["metrics"] is not None:
            _metrics(experiment, metrics)
    _reach_status(experiment, row, change.at, strict=True)
    return experiment


def _metrics(experiment: Experiment, metrics: list[Metric]) -> None:
    wanted = {m.key: m for m in metrics}
    have = {m.key: m for m in experiment.metrics}
    for key, metric in have.items():
        if wanted.get(key) != metric:
            experiment.remove_metric(key)
    for key, metric in wanted.items():
        if have.get(key) != metric:
            experiment.add_metric(metric)


def _variants(rows: SourceRows) -> list[Variant]:
    return [
        Variant(key, row["name"] or key, row["weight"])
        for key, row in rows.live_rows("variants").items()
    ]


def _variant_row(experiment: Experiment, rows: SourceRows, change: RowChange) -> None:
    key, row = change.row_key, change.row
    if experiment.status in (Status.STOPPED, Status.CONCLUDED):
        return  # its variants are history now (e.g. a cascade delete after it stopped)
    present = {v.key: v for v in experiment.variants}
    if row is None:
        if key in present:
            experiment.remove_variant(key)
        return
    variant = Variant(key, row["name"] or key, row["weight"])
    old = present.get(key)
    if old is None:
        experiment.add_variant(variant)
    elif old.name != variant.name:
        if experiment.status != Status.DRAFT:
            raise FrozenWhileRunning(
                f"Cannot rename variant {key!r}: experiment {experiment.key!r} is "
                f"{experiment.status}. Rename variants while it is a draft."
            )
        experiment.remove_variant(key)
        experiment.add_variant(variant)
    elif old.weight != variant.weight and experiment.status not in (
        Status.STOPPED,
        Status.CONCLUDED,
    ):
        if experiment.status == Status.DRAFT:
            experiment.change_traffic(weights={key: variant.weight}, reason=REASON, by=BY)
            return
        wanted = {v.key: v.weight for v in _variants(rows) if v.key in present}
        if len(wanted) == len(present) and abs(sum(wanted.values()) - 1.0) <= 1e-9:
            experiment.change_traffic(weights=wanted, reason=REASON, by=BY)
        # otherwise the other rows of the same transaction have not arrived yet


def _reach_pending_status(experiment: Experiment, rows: SourceRows) -> None:
    row = rows.row(EXPERIMENTS, experiment.key)
    if row is not None and row["status"] != experiment.status:
        at = rows.changed_at[f"{EXPERIMENTS}/{experiment.key}"]
        _reach_status(experiment, row, at, strict=False)


def _reach_status(experiment: Experiment, row: dict[str, Any], at: datetime, strict: bool) -> None:
    """Moves the experiment along the lifecycle to the row's status. A `start` that waits
    for variants is left pending; other refusals raise when ``strict``."""
    target = Status(row["status"])
    path = _path(experiment.status, target)
    if path is None:
        if strict:
            raise InvalidTransition(
                f"Experiment {experiment.key!r} cannot go from {experiment.status} to "
                f"{target} (the lifecycle is draft -> running <-> paused -> stopped -> concluded)."
            )
        return
    for step in path:
        try:
            if step == "conclude":
                experiment.conclude(row["decision"] or "inconclusive", row["winner"], REASON, BY)
            elif step in ("pause", "stop"):
                getattr(experiment, step)(at, REASON, BY)
            else:
                getattr(experiment, step)(at, BY)
        except NOT_READY as error:
            if step != "start" and strict:
                raise
            log.info("experiment %s stays %s until its variants arrive: %s",
                     experiment.key, experiment.status, error)  # fmt: skip
            return
        except DomainError:
            if strict:
                raise
            return


def _path(current: Status, target: Status) -> list[str] | None:
    """The shortest lifecycle path from ``current`` to ``target`` (None when there is none)."""
    paths: dict[Status, list[str]] = {current: []}
    frontier = [current]
    while frontier and target not in paths:
        status = frontier.pop(0)
        for (frm, to), step in STEPS.items():
            if frm == status and to not in paths:
                paths[to] = [*paths[status], step]
                frontier.append(to)
    return paths.get(target)
