"""Event store write throughput: 100k participations (1-2 events each) saved in batches.

Prints events/s on SQLite and PostgreSQL through the application, next to a raw psycopg
COPY of the same stored-event rows into an equivalent table, measured in the same run,
and the ratios. Starts its own throwaway PostgreSQL cluster unless NEONBLUE_BENCH_POSTGRES
gives a server URL.

    python bench/event_store.py [--participations 100000] [--batch 500]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.baselines import raw_copy_rate
from domain.participation.aggregate import AssignmentSource, Participation
from infrastructure.bootstrap import build_app
from infrastructure.settings import EventStoreSettings

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def participations(count: int) -> list[Participation]:
    """Half are enrolled only (1 event), half enrolled and exposed (2 events)."""
    result = []
    for i in range(count):
        p = Participation.enroll("bench", f"user-{i}", "control", AssignmentSource.BUCKETING, T0)
        if i % 2:
            p.expose(f"e{i}", T0)
        result.append(p)
    return result


def save_rate(settings: EventStoreSettings, count: int, batch: int) -> tuple[float, int]:
    app = build_app(settings)
    try:
        aggregates = participations(count)
        events = sum(len(a.pending_events) for a in aggregates)
        started = time.perf_counter()
        for i in range(0, count, batch):
            app.save(*aggregates[i : i + batch])
        return events / (time.perf_counter() - started), events
    finally:
        app.close()


def copy_rate(url: str, count: int) -> float:
    """Raw COPY of the same stored-event rows (mapping done beforehand, not timed)."""
    app = build_app(EventStoreSettings(event_store="memory:"))
    rows = [
        (s.originator_id, s.originator_version, s.topic, s.state)
        for a in participations(count)
        for s in map(app.mapper.to_stored_event, a.collect_events())
    ]
    return raw_copy_rate(url, rows)


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    if url := os.environ.get("NEONBLUE_BENCH_POSTGRES"):
        yield url
        return
    from tests.support.postgres import running_cluster

    with running_cluster() as cluster:
        yield cluster.url(cluster.create_database("bench"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participations", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    n, batch = args.participations, args.batch
    print(f"Saving {n:,} participations in batches of {batch} (1-2 events each)")
    with tempfile.TemporaryDirectory() as tmp:
        sqlite_rate, events = save_rate(
            EventStoreSettings(event_store=f"sqlite:///{tmp}/events.db"), n, batch
        )
    with postgres_database() as url:
        postgres_rate, _ = save_rate(EventStoreSettings(event_store=url), n, batch)
        raw_rate = copy_rate(url, n)
    print(f"{'events':<28}{events:>12,}")
    print(
        f"{'SQLite (application)':<28}{sqlite_rate:>12,.0f} events/s  {sqlite_rate / raw_rate:5.2f}x raw COPY"
    )
    print(
        f"{'PostgreSQL (application)':<28}{postgres_rate:>12,.0f} events/s  {postgres_rate / raw_rate:5.2f}x raw COPY"
    )
    print(f"{'PostgreSQL raw COPY':<28}{raw_rate:>12,.0f} rows/s    1.00x")


if __name__ == "__main__":
    main()
