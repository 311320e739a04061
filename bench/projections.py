"""Projection benchmarks: catch-up into chDB vs raw chDB inserts, results-query latency.

    python3 bench/projections.py            # 500k events, 10M metric events
    python3 bench/projections.py --quick    # 50k events, 1M metric events

1. Catch-up: the analytics projection reads a SQLite event store from position 0 and
   writes chDB, in default-size batches; baseline: inserting the very same rows into chDB
   directly, batch by batch, same run. 500k events, so that the first batch (nothing to
   read ahead of) and the last, partial one do not dominate.
2. Results: one experiment's full scorecard query over a model holding N metric
   events (generated inside chDB), median of several runs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from infrastructure.bootstrap import build_app
from infrastructure.settings import EventStoreSettings
from infrastructure.simulation import PORTFOLIO, simulate_traffic
from projections.analytics.client import ChdbClient
from projections.analytics.model import AnalyticsModel
from projections.analytics.queries import experiment_scorecard, variant_sums
from projections.analytics.schema import create_statements
from projections.log import LogReader
from projections.runner import DEFAULT_BATCH, ProjectionRunner

START = datetime(2025, 1, 1, tzinfo=UTC)


def fill_store(app, events: int) -> int:
    plan = PORTFOLIO[0]
    app.create_experiment(
        plan.key, plan.name, variants=plan.variants, metrics=plan.metrics, tags=plan.tags
    )
    app.start_experiment(plan.key, at=START)
    commands = simulate_traffic(plan, app.experiment(plan.key), events, START)
    while app.head() < events and (batch := list(islice(commands, 5000))):
        app.record(batch)
    return app.head()


def catch_up(client: ChdbClient, app, batch: int) -> tuple[float, str]:
    model = AnalyticsModel(app, client, "bench")
    projection = model.projection()
    runner = ProjectionRunner(LogReader(app), projection, batch)
    started = time.perf_counter()
    runner.catch_up()
    return time.perf_counter() - started, projection.database


def raw_insert(client: ChdbClient, source: str, batch_events: int, events: int) -> float:
    """Inserts the projection's own rows into a fresh database, batch by batch."""
    target = "bench_raw"
    client.command(f"DROP DATABASE IF EXISTS {target}")
    for statement in create_statements(target):
        client.command(statement)
    batches = max(1, events // batch_events)
    data = {}
    for table in ("assignments", "exposures", "metric_events", "user_metrics", "state"):
        names = [
            name
            for (name,) in client.rows(
                "SELECT name FROM system.columns WHERE database = {d:String} AND "
                "table = {t:String} AND default_kind != 'MATERIALIZED' ORDER BY position",
                {"d": source, "t": table},
            )
        ]
        rows = client.rows(f"SELECT {', '.join(names)} FROM {source}.{table}")
        data[table] = (names, rows)
    started = time.perf_counter()
    for i in range(batches):
        for table, (names, rows) in data.items():
            part = rows[i * len(rows) // batches : (i + 1) * len(rows) // batches]
            if part:
                client.insert(
                    target, table, dict(zip(names, map(list, zip(*part, strict=True)), strict=True))
                )
    return time.perf_counter() - started


def results_latency(client: ChdbClient, app, metric_events: int) -> tuple[float, int]:
    """Scorecard query latency over ``metric_events`` generated metric events."""
    db = "bench_big"
    client.command(f"DROP DATABASE IF EXISTS {db}")
    for statement in create_statements(db):
        client.command(statement)
    users = metric_events // 5  # ~5 metric events per user: conversion + revenue mostly
    client.command(
        f"INSERT INTO {db}.user_metrics (experiment_key, participation_id, user_id, variant, "
        "exposed, first_exposed_at_us, exposures, mismatched, metric_keys, post_micros, "
        "post_counts, pre_micros, position) SELECT 'checkout-cta-contrast', toString(number), "
        "concat('u', toString(number)), if(number % 2 = 0, 'control', 'treatment'), 1, 0, 1, 0, "
        "['conversion', 'revenue'], [toInt64(rand(1) % 8 = 0) * 1000000, "
        "toInt64(rand(2) % 10000) * 10000], [1, 4], [0, toInt64(rand(3) % 5000) * 10000], number "
        f"FROM numbers({users})"
    )
    client.command(
        f"INSERT INTO {db}.metric_events (experiment_key, participation_id, user_id, variant, "
        "metric, value, at_us, excluded, position) SELECT 'checkout-cta-contrast', "
        "toString(number % {users:UInt64}), '', 'control', 'revenue', 1.0, 0, '', number "
        f"FROM numbers({metric_events})",
        {"users": users},
    )
    client.command(f"OPTIMIZE TABLE {db}.user_metrics FINAL")
    experiment = app.experiment("checkout-cta-contrast")
    variant_sums(client, db, experiment)  # warm up
    timings = []
    for _ in range(7):
        started = time.perf_counter()
        experiment_scorecard(client, db, experiment)
        timings.append(time.perf_counter() - started)
    return float(np.median(timings)), users


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    parser.add_argument("--events", type=int, default=0, help="events in the event store")
    parser.add_argument("--metric-events", type=int, default=0, help="metric events (results)")
    parser.add_argument(
        "--batch", type=int, default=DEFAULT_BATCH, help="projection batch size (the default)"
    )
    args = parser.parse_args()
    events = args.events or (50_000 if args.quick else 500_000)
    metric_events = args.metric_events or (1_000_000 if args.quick else 10_000_000)
    base = Path(tempfile.mkdtemp(prefix="neonblue-bench-"))
    app = build_app(EventStoreSettings(data_dir=base, event_store=""))
    client = ChdbClient(base / "chdb")
    try:
        stored = fill_store(app, events)
        elapsed, database = catch_up(client, app, args.batch)
        raw = raw_insert(client, database, args.batch, stored)
        rate, raw_rate = stored / elapsed, stored / raw
        print(f"catch-up into chDB: {stored:,} events in {elapsed:.2f}s = {rate:,.0f} events/s")
        print(f"raw chDB insert of the same rows: {raw:.2f}s = {raw_rate:,.0f} events/s")
        print(f"ratio catch-up / raw insert: {rate / raw_rate:.2f}x (target >= 0.5x; >= 200k ev/s)")
        latency, users = results_latency(client, app, metric_events)
        print(
            f"results query (full scorecard) over {metric_events:,} metric events / "
            f"{users:,} users: median {latency * 1000:.0f} ms (target <= 100 ms)"
        )
    finally:
        client.close()
        app.close()


if __name__ == "__main__":
    main()
