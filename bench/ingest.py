"""End-to-end ingest throughput: Kafka (tansu) -> ingest processes -> PostgreSQL event store,
with exactly-once tracking (offsets committed with the events), next to a raw COPY of the
same stored rows into an equivalent table in the same run, and the ratio.

``--processes`` `neonblue ingest` processes join one consumer group, then the stream is
produced and consumed. Throughput is wire events per second between the first and
the last committed batch (steady state, excluding process start-up and the group join,
which are reported separately).

    python bench/ingest.py [--users 20000] [--experiments 3] [--processes 2]
    python bench/ingest.py --privacy-cost sqlite|postgresql [--users 20000]   # encryption's cost
    python bench/ingest.py --scale-out [--processes 4]   # see bench/ingest_scaleout.py

``--embedded``: the embedded default instead (in-process bus -> SQLite event store, one
process, as `neonblue demo` runs it), next to a raw SQLite ``executemany`` of the same
stored rows into an equivalent table in the same run, and the time the rows alone take
(stored events and event ids committed per batch as ingest commits them, with no Python work
per row): what any writer of today's stored shape spends at least per wire event:

    python bench/ingest.py --embedded [--users 8000] [--experiments 5]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg

from bench.baselines import raw_copy_rate, raw_sqlite_rate, sqlite_batches_seconds
from infrastructure.bootstrap import bootstrap, build_app
from infrastructure.ingest.kafka import KafkaProducer, ensure_topics
from infrastructure.ingest.simulate import TrafficPlan, ensure_experiments, planned, wire_events
from infrastructure.ingest.tables import EVENT_IDS
from infrastructure.settings import EventStoreSettings, KafkaSettings
from tests.support.kafka import running_broker
from tests.support.postgres import running_cluster

START = datetime(2026, 1, 1, tzinfo=UTC)


def committed(app, names: list[str]) -> int:  # type: ignore[no-untyped-def]
    """Records committed so far: next offset per tracking name (offset 0 is a real one)."""
    positions = (app.recorder.max_tracking_id(n) for n in names)
    return sum(0 if p is None else p + 1 for p in positions)


def stored_rows(url: str, table: str) -> list[tuple[object, ...]]:
    """The rows ingest stored, read back for the COPY baseline (not timed)."""
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(
            f"SELECT originator_id, originator_version, topic, state FROM {table}"
        ).fetchall()


def embedded(args: argparse.Namespace) -> None:
    """In-process bus -> SQLite event store; the baseline is a raw executemany of the rows."""
    from infrastructure.ingest.bus import InProcessBus
    from infrastructure.ingest.runtime import ingest_in_process
    from infrastructure.ingest.simulate import publish

    with tempfile.TemporaryDirectory() as tmp:
        services = bootstrap(EventStoreSettings(data_dir=Path(tmp), event_store=""))
        app = services.app  # as the demo's: freed heap filled when privacy is on (bootstrap)
        plan = TrafficPlan(args.experiments, args.users, sessions=args.sessions)
        ensure_experiments(app, planned(plan), START)
        head = app.head()
        bus = InProcessBus()
        total = publish(bus.producer(), wire_events(plan, START))
        print(
            f"Published {total:,} wire events ({args.experiments} experiments, {args.users:,} users each)"
        )
        settings = KafkaSettings(bootstrap_servers="", batch_size=args.batch)
        started, cpu = time.perf_counter(), time.process_time()
        stats = ingest_in_process(app, bus, settings)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        table = app.recorder.events_table_name
        with app.recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(f"SELECT * FROM {table} WHERE rowid > ?", (head,))
            rows = [tuple(row) for row in cursor.fetchall()]
            cursor.execute(f"SELECT event_id FROM {EVENT_IDS}")
            ids = [tuple(row) for row in cursor.fetchall()]
        services.close()
        raw = raw_sqlite_rate(str(Path(tmp) / "raw.db"), rows)
        floor = sqlite_batches_seconds(
            str(Path(tmp) / "floor.db"), in_batches(rows, ids, total, args.batch)
        )
    assert stats.consumed == total and stats.dead_lettered == 0, stats
    rate = total / elapsed
    stored_rate = stats.stored_events / elapsed
    print(
        f"{'stored events':<34}{stats.stored_events:>12,}  ({stats.stored_events / total:.2f} per wire event)"
    )
    print(
        f"{'embedded ingest (wire events/s)':<34}{rate:>12,.0f}  ({elapsed:.1f} s, batches of {args.batch:,})"
    )
    print(
        f"{'embedded ingest (stored events/s)':<34}{stored_rate:>12,.0f}  {stored_rate / raw:5.2f}x raw executemany"
    )
    print(  # on a shared machine the wall clock also counts other processes' turns
        f"{'embedded ingest (wire/CPU second)':<34}{total / cpu:>12,.0f}  ({cpu:.1f} s of CPU, {cpu / elapsed:.0%} of the wall clock)"
    )
    print(f"{'SQLite raw executemany (rows/s)':<34}{raw:>12,.0f}  1.00x ({len(rows):,} rows)")
    print(  # what the rows alone cost, however little Python a writer spent on them
        f"{'the rows alone, batched (wire/s)':<34}{total / floor:>12,.0f}  ({floor / total * 1e6:.1f} µs per "
        f"wire event: its stored events and event id, committed per batch; ingest reaches {rate * floor / total:.2f}x)"
    )
    print(where_the_time_went(stats.seconds, total, elapsed))


def in_batches(
    rows: list[tuple[object, ...]], ids: list[tuple[object, ...]], wire: int, batch: int
) -> list[tuple[list[tuple[object, ...]], list[tuple[object, ...]]]]:
    """``rows`` and ``ids`` cut into as many consecutive parts as ingest wrote batches."""
    parts = -(-wire // batch)
    cut = lambda items, i: items[len(items) * i // parts : len(items) * (i + 1) // parts]  # noqa: E731
    return [(cut(rows, i), cut(ids, i)) for i in range(parts)]


def where_the_time_went(seconds: dict[str, float], events: int, elapsed: float) -> str:
    """The writer's stages in µs per wire event, and their share of the wall clock."""
    from infrastructure.ingest.writer import STAGES

    parts = [f"{s} {seconds.get(s, 0.0) / events * 1e6:.1f}" for s in STAGES]
    inside = sum(seconds.get(s, 0.0) for s in STAGES)
    rest = (elapsed - inside) / events * 1e6
    worker = [
        f"{s.removeprefix('worker ')} {v / events * 1e6:.1f}"
        for s, v in seconds.items()
        if s.startswith("worker ")
    ]
    in_worker = f"; in the prepare worker {', '.join(worker)}" if worker else ""
    return (
        f"{'where the time went (µs/event)':<34}{', '.join(parts)}; outside the writer "
        f"(bus, batching, collections) {rest:.1f}{in_worker}"
    )


def main() -> None:
    if "--scale-out" in sys.argv:  # 1..N processes, a rebalance, projections alongside
        from bench.ingest_scaleout import main as scale_out

        return scale_out()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=None, help="users per experiment")
    parser.add_argument("--experiments", type=int, default=None)
    parser.add_argument("--sessions", type=float, default=3.0)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3, help="--privacy-cost: runs per arm")
    parser.add_argument(
        "--privacy-cost",
        choices=("sqlite", "postgresql"),
        help="only compare ingest without and with protection (bench/privacy_cost.py)",
    )
    parser.add_argument(
        "--embedded", action="store_true", help="in-process bus -> SQLite (the embedded default)"
    )

    args = parser.parse_args()
    if args.embedded:
        args.users, args.experiments = args.users or 8000, args.experiments or 5
        embedded(args)
        return
    args.users, args.experiments = args.users or 20_000, args.experiments or 3
    if args.privacy_cost:
        return privacy_cost_on(
            args.privacy_cost, args.users, args.experiments, args.batch, args.rounds
        )
    tag = uuid.uuid4().hex[:8]
    with running_broker() as broker, running_cluster() as cluster:
        url = cluster.url(cluster.create_database("bench"))
        store = EventStoreSettings(event_store=url)
        kafka = KafkaSettings(
            bootstrap_servers=broker.bootstrap_servers,
            group_id=f"bench-{tag}",
            partitions=4,
            session_timeout_ms=2000,
            heartbeat_interval_ms=500,
            batch_size=args.batch,
        )
        ensure_topics(kafka, [*kafka.topics, kafka.dead_letter_topic])
        app = build_app(store)
        plan = TrafficPlan(args.experiments, args.users, sessions=args.sessions)
        ensure_experiments(app, planned(plan), START)
        messages = list(wire_events(plan, START))
        total = len(messages)
        names = [f"kafka:{t}:{p}" for t in kafka.topics for p in range(kafka.partitions)]
        env = {
            **os.environ,
            "NEONBLUE_EVENT_STORE": url,
            "NEONBLUE_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
            "NEONBLUE_KAFKA_GROUP_ID": kafka.group_id,
            "NEONBLUE_KAFKA_SESSION_TIMEOUT_MS": "2000",
            "NEONBLUE_KAFKA_HEARTBEAT_INTERVAL_MS": "500",
            "NEONBLUE_KAFKA_BATCH_SIZE": str(args.batch),
        }
        launched = time.perf_counter()
        processes = [
            subprocess.Popen(
                [sys.executable, "-m", "infrastructure.cli", "ingest", "--until-idle", "12"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
            )
            for _ in range(args.processes)
        ]
        time.sleep(6.0)  # let every process join the group before the stream arrives
        producer = KafkaProducer(kafka)
        for message in messages:
            producer.produce(message.topic, message.value, message.key)
        producer.close()
        print(
            f"Produced {total:,} wire events ({args.experiments} experiments, {args.users:,} users each)"
        )
        first = None
        while (done := committed(app, names)) < total:
            if done and first is None:
                first = (time.perf_counter(), done)
            time.sleep(0.02)
        finished = time.perf_counter()
        for process in processes:
            process.wait()
        assert first is not None
        events = app.recorder.max_notification_id() or 0
        table = app.recorder.events_table_name
        app.close()
        steady = (total - first[1]) / (finished - first[0])
        raw = stored_rows(url, table)
        copy_rate, rows = raw_copy_rate(url, raw), len(raw)
    print(f"{'stored events':<34}{events:>12,}  ({events / total:.2f} per wire event)")
    print(f"{'launch to first commit':<34}{first[0] - launched:>12.1f} s")
    print(f"{'ingest (wire events/s)':<34}{steady:>12,.0f}  with {args.processes} process(es)")
    stored_rate = steady * events / total
    print(
        f"{'ingest (stored events/s)':<34}{stored_rate:>12,.0f}  {stored_rate / copy_rate:5.2f}x raw COPY"
    )
    print(f"{'PostgreSQL raw COPY (rows/s)':<34}{copy_rate:>12,.0f}  1.00x ({rows:,} rows)")


def privacy_cost_on(kind: str, users: int, experiments: int, batch: int, rounds: int) -> None:
    import tempfile

    from bench.privacy_cost import privacy_cost, sqlite_stores

    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as root:
            return privacy_cost(sqlite_stores(Path(root)), users, experiments, batch, rounds)
    with running_cluster() as cluster:
        fresh = lambda: EventStoreSettings(event_store=cluster.url(cluster.create_database("p")))  # noqa: E731
        privacy_cost(fresh, users, experiments, batch, rounds)


if __name__ == "__main__":
    main()
