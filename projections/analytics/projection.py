"""The ClickHouse analytics projection: log events -> exposures, metric events, per-user sums.

Per-user state (variant, exposure, per-metric post/pre-exposure sums) is kept in memory
and written as whole ``user_metrics`` rows versioned by the last position folded in.
After a restart the state is reloaded from ``user_metrics FINAL``; an event whose
position is not above its user's stored position is already counted and is skipped, so
a batch replayed after a crash (rows written, position not) changes nothing.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from typing import Any
from uuid import UUID

from domain.experiments.aggregate import Experiment
from infrastructure.application import NeonBlue
from projections.analytics.client import ClickHouseClient
from projections.analytics.schema import TABLES, checksum_query, create_statements
from projections.log import (
    ENROLLED,
    EXPOSED,
    METRIC_RECORDED,
    PARTICIPATION_TOPICS,
    VARIANT_MISMATCH,
    LogEvent,
    micros,
)

NAME = "analytics"
_BEFORE_EXPOSURE = "before_exposure"

# user state slots
_EXP, _USER, _VARIANT, _EXPOSED, _FIRST, _EXPOSURES, _MISMATCH, _METRICS, _POS = range(9)


class AnalyticsProjection:
    """Projects the log into the analytics tables of database ``database``."""

    name = NAME
    topics: tuple[str, ...] = ()

    def __init__(self, app: NeonBlue, client: ClickHouseClient, database: str) -> None:
        self.app = app
        self.client = client
        self.database = database
        self._position: int | None = None
        self._users: dict[str, list[Any]] | None = None
        self.skipped = 0  # participation events whose enrolment was never seen

    # -- contract ---------------------------------------------------------------------------

    def setup(self) -> None:
        for statement in create_statements(self.database):
            self.client.command(statement)

    def position(self) -> int:
        if self._position is None:
            rows = self.client.rows(
                f"SELECT max(position) FROM {self.database}.state WHERE name = {{n:String}}",
                {"n": NAME},
            )
            self._position = int(rows[0][0] or 0) if rows else 0
        return self._position

    def process(self, events: list[LogEvent], position: int) -> None:
        users = self._state()
        assignments: dict[str, list[Any]] = defaultdict(list)
        exposures: dict[str, list[Any]] = defaultdict(list)
        metric_rows: dict[str, list[Any]] = defaultdict(list)
        touched: dict[str, list[Any]] = {}
        experiments: dict[str, tuple[int, int]] = {}
        for event in events:
            topic = event.topic
            if topic not in PARTICIPATION_TOPICS:
                if topic.startswith("domain.experiments"):
                    experiments[event.originator_id] = (event.version, event.position)
                continue
            pid = event.originator_id
            pos = event.position
            data = event.data
            if topic == ENROLLED:
                user = users.get(pid)
                if user is not None and user[_POS] >= pos:
                    continue
                user = [data["experiment_key"], data["user_id"], data["variant"] or ""]
                user += [0, 0, 0, 0, {}, pos]
                users[pid] = touched[pid] = user
                _append(assignments, pid, user[_EXP], user[_USER], user[_VARIANT])
                assignments["source"].append(data["source"])
                assignments["enrolled_at_us"].append(micros(data["at"]))
                assignments["position"].append(pos)
                continue
            user = users.get(pid)
            if user is None:
                self.skipped += 1
                continue
            if topic == METRIC_RECORDED:
                excluded = data["excluded"] or ""
                value = float(data["value"])
                _append(metric_rows, pid, user[_EXP], user[_USER], user[_VARIANT])
                metric_rows["metric"].append(data["metric"])
                metric_rows["value"].append(value)
                metric_rows["at_us"].append(micros(data["at"]))
                metric_rows["excluded"].append(excluded)
                metric_rows["position"].append(pos)
                if user[_POS] >= pos:
                    continue
                if not excluded or excluded == _BEFORE_EXPOSURE:
                    sums = user[_METRICS].get(data["metric"])
                    if sums is None:
                        sums = user[_METRICS][data["metric"]] = [0.0, 0, 0.0]
                    if excluded:
                        sums[2] += value
                    else:
                        sums[0] += value
                        sums[1] += 1
            elif user[_POS] >= pos:
                continue
            elif topic == EXPOSED:
                user[_EXPOSURES] += 1
                if not user[_EXPOSED]:
                    user[_EXPOSED] = 1
                    user[_FIRST] = micros(data["at"])
                    _append(exposures, pid, user[_EXP], user[_USER], user[_VARIANT])
                    exposures["exposed_at_us"].append(user[_FIRST])
                    segment = (data.get("context") or {}).get("segment") or {}
                    exposures["segment"].append(json.dumps(segment, sort_keys=True))
                    exposures["position"].append(pos)
            elif topic == VARIANT_MISMATCH:
                user[_MISMATCH] = 1
            user[_POS] = pos
            touched[pid] = user
        self._write("experiments", self._experiment_rows(experiments))
        self._write("assignments", assignments)
        self._write("exposures", exposures)
        self._write("metric_events", metric_rows)
        self._write("user_metrics", _user_rows(touched))
        self.client.insert(
            self.database,
            "state",
            {"name": [NAME], "position": [position], "updated_at_us": [time.time_ns() // 1000]},
        )
        self._position = position

    def checksum(self) -> dict[str, str]:
        sums = {}
        for table in TABLES:
            if table == "state":
                continue
            count, digest = self.client.rows(checksum_query(self.database, table))[0]
            sums[table] = f"{count}:{digest}"
        return sums

    # -- helpers ----------------------------------------------------------------------------

    def _write(self, table: str, columns: dict[str, list[Any]]) -> None:
        if columns:
            self.client.insert(self.database, table, columns)

    def _state(self) -> dict[str, list[Any]]:
        """Per-user state, reloaded from the read model after a restart."""
        if self._users is None:
            self._users = {}
            rows = self.client.rows(
                "SELECT participation_id, experiment_key, user_id, variant, exposed, "
                "first_exposed_at_us, exposures, mismatched, metric_keys, post_sums, "
                f"post_counts, pre_sums, position FROM {self.database}.user_metrics FINAL"
            )
            for (
                pid,
                exp,
                user_id,
                variant,
                exposed,
                first,
                count,
                mism,
                keys,
                post,
                n,
                pre,
                pos,
            ) in rows:
                metrics = {k: [s, c, p] for k, s, c, p in zip(keys, post, n, pre, strict=True)}
                self._users[pid] = [
                    exp,
                    user_id,
                    variant,
                    exposed,
                    first,
                    count,
                    mism,
                    metrics,
                    pos,
                ]
        return self._users

    def _experiment_rows(self, experiments: dict[str, tuple[int, int]]) -> dict[str, list[Any]]:
        columns: dict[str, list[Any]] = defaultdict(list)
        for experiment_id, (version, position) in experiments.items():
            experiment: Experiment = self.app.repository.get(UUID(experiment_id), version=version)
            conclusion = experiment.conclusion
            row = {
                "experiment_key": experiment.key,
                "experiment_id": str(experiment.id),
                "name": experiment.name,
                "status": str(experiment.status),
                "hypothesis": experiment.hypothesis,
                "description": experiment.description,
                "tags": json.dumps(experiment.tags),
                "owner": experiment.owner,
                "control_variant": experiment.variants[0].key if experiment.variants else "",
                "variants": json.dumps([v.as_dict() for v in experiment.variants]),
                "metrics": json.dumps([m.as_dict() for m in experiment.metrics]),
                "started_at_us": micros(experiment.started_at),
                "stopped_at_us": micros(experiment.stopped_at),
                "decision": str(conclusion.decision) if conclusion else "",
                "winner": (conclusion.winner or "") if conclusion else "",
                "version": version,
                "position": position,
            }
            for key, value in row.items():
                columns[key].append(value)
        return columns


def _append(columns: dict[str, list[Any]], pid: str, exp: str, user: str, variant: str) -> None:
    columns["participation_id"].append(pid)
    columns["experiment_key"].append(exp)
    columns["user_id"].append(user)
    columns["variant"].append(variant)


def _user_rows(touched: dict[str, list[Any]]) -> dict[str, list[Any]]:
    if not touched:
        return {}
    columns: dict[str, list[Any]] = defaultdict(list)
    for pid, user in touched.items():
        _append(columns, pid, user[_EXP], user[_USER], user[_VARIANT])
        columns["exposed"].append(user[_EXPOSED])
        columns["first_exposed_at_us"].append(user[_FIRST])
        columns["exposures"].append(user[_EXPOSURES])
        columns["mismatched"].append(user[_MISMATCH])
        metrics = user[_METRICS]
        columns["metric_keys"].append(list(metrics))
        columns["post_sums"].append([s[0] for s in metrics.values()])
        columns["post_counts"].append([s[1] for s in metrics.values()])
        columns["pre_sums"].append([s[2] for s in metrics.values()])
        columns["position"].append(user[_POS])
    return columns
