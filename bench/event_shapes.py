"""What other stored-event shapes would save on the ingest writer (issue #14's 30k/s goal):
the same translated wire stream applied and stored through the writer's own path
(`store.write_tracked`: mapper, hash chain, one SQLite ``executemany``) in four shapes, in
alternating runs, next to today's shape measured in the same run.

- today: one `Participation` event per wire event (plus `Enrolled`), context as ingest
  writes it (classification, source, routing, segment);
- compact context: the classification as its rule and version, the source as a triple;
- per batch: one event per participation per batch carrying its observations (a
  hypothetical `Observed` event defined here; nothing reads it);
- both.

    python bench/event_shapes.py [--users 4000] [--rounds 2]

The apply stage builds the events (the domain rules of today's shape are not repeated in
the hypothetical one, which flatters it slightly); store is encoding, chaining and writing.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Tracking

from domain.participation.aggregate import Participation, participation_id
from domain.participation.commands import RecordExposure, RecordMetric
from infrastructure.bootstrap import build_app
from infrastructure.ingest import store
from infrastructure.ingest.bus import Record
from infrastructure.ingest.simulate import TrafficPlan, wire_events
from infrastructure.ingest.translate import translate
from infrastructure.settings import EventStoreSettings

START = datetime(2026, 1, 1, tzinfo=UTC)
BATCH = 5000
Command = RecordExposure | RecordMetric


class BatchedParticipation(Aggregate):
    """The hypothetical shape: observations of one batch in one event."""

    class Enrolled(Aggregate.Created):
        experiment_key: str
        user_id: str
        variant: str | None
        at: datetime

    class Observed(Aggregate.Event):
        observations: list[Any]

        def apply(self, aggregate: BatchedParticipation) -> None:
            aggregate.seen.update(o[1] for o in self.observations)

    def __init__(self, experiment_key: str, user_id: str, variant: str | None, at: datetime):
        self.seen: set[str] = set()


def commands(users: int) -> list[Command]:
    plan = TrafficPlan(5, users, sessions=3.0)
    found = []
    for offset, message in enumerate(wire_events(plan, START)):
        item = translate(Record(message.topic, 0, offset, message.key, message.value))
        assert isinstance(item, RecordExposure | RecordMetric)
        found.append(item)
    return found


def compact(context: dict[str, Any]) -> dict[str, Any]:
    rule = context["classification"]
    source = context["source"]
    kept = {k: v for k, v in context.items() if k not in ("classification", "source")}
    return {
        "rule": f"{rule['rule']}@{rule['rules_version']}",
        "source": [source["topic"], source["partition"], source["offset"]],
        **kept,
    }


def today(batch: list[Command], cache: dict[Any, Any], small: bool) -> dict[Any, Any]:
    changed: dict[Any, Any] = {}
    for c in batch:
        pid = participation_id(c.experiment_key, c.user_id)
        aggregate = changed.get(pid) or cache.get(pid)
        if aggregate is None:
            aggregate = Participation.enroll(c.experiment_key, c.user_id, "treatment", "sdk", c.at)
        context = compact(c.context) if small else c.context
        if isinstance(c, RecordExposure):
            aggregate.expose(c.event_id, c.at, None, context)
        else:
            aggregate.record_metric(c.event_id, c.metric, c.value, c.at, None, context)
        changed[pid] = aggregate
    return changed


def per_batch(batch: list[Command], cache: dict[Any, Any], small: bool) -> dict[Any, Any]:
    observed: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for c in batch:
        metric, value = ("", 0.0) if isinstance(c, RecordExposure) else (c.metric, c.value)
        context = compact(c.context) if small else c.context
        observed[c.experiment_key, c.user_id].append(
            (metric, c.event_id, c.at.isoformat(), value, context)
        )
    changed: dict[Any, Any] = {}
    for (key, user), observations in observed.items():
        pid = participation_id(key, user)
        aggregate = cache.get(pid) or BatchedParticipation._create(
            BatchedParticipation.Enrolled,
            id=pid, experiment_key=key, user_id=user, variant="treatment", at=START,
        )  # fmt: skip
        aggregate.trigger_event(BatchedParticipation.Observed, observations=observations)
        changed[pid] = aggregate
    return changed


SHAPES = {  # one event per participation per batch, compact context
    "today": (False, False),
    "compact context": (False, True),
    "per batch": (True, False),
    "both": (True, True),
}


def run(items: list[Command], shape: str) -> tuple[float, float, float]:
    """µs per wire event to apply and to store, and stored events per wire event."""
    batched, small = SHAPES[shape]
    build = per_batch if batched else today
    with tempfile.TemporaryDirectory() as tmp:
        app = build_app(EventStoreSettings(data_dir=Path(tmp), event_store=""))
        cache: dict[Any, Any] = {}
        applying = storing = 0.0
        stored = 0
        gc.disable()  # as the ingest loop writes a batch
        try:
            for start in range(0, len(items), BATCH):
                batch = items[start : start + BATCH]
                began = time.perf_counter()
                changed = build(batch, cache, small)
                built = time.perf_counter()
                tracking = [Tracking("kafka:bench:0", start + len(batch) - 1)]
                stored += store.write_tracked(app, list(changed.values()), tracking)
                applying += built - began
                storing += time.perf_counter() - built
                cache.update(changed)
                gc.freeze()
        finally:
            gc.unfreeze()
            gc.enable()
            app.close()
    wire = len(items)
    return applying / wire * 1e6, storing / wire * 1e6, stored / wire


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=4000, help="users per experiment")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    items = commands(args.users)
    runs: dict[str, list[tuple[float, float, float]]] = {s: [] for s in SHAPES}
    for _ in range(args.rounds):
        for shape in SHAPES:
            runs[shape].append(run(items, shape))
    print(f"{len(items):,} wire events (5 experiments, {args.users:,} users each), batches of "
          f"{BATCH:,}, fastest of {args.rounds} alternating runs per shape")  # fmt: skip
    base = min(a + s for a, s, _ in runs["today"])
    for shape in SHAPES:
        apply_us, store_us, per_wire = min(runs[shape], key=lambda r: r[0] + r[1])
        total = apply_us + store_us
        print(
            f"  {shape:<18} apply {apply_us:5.1f} + store {store_us:5.1f} = {total:5.1f} µs per "
            f"wire event ({per_wire:.2f} stored events each)  {base / total:4.2f}x today"
        )


if __name__ == "__main__":
    main()
