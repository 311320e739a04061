"""Ingest scale-out: 1, 2, ... ``--processes`` `neonblue ingest` processes in one consumer
group on 8 partitions (tansu broker, PostgreSQL event store), the last run with a rebalance
in the middle (one process killed with SIGKILL, one added), while `neonblue projections run`
follows the log in a separate process. Prints wire events/s per process count next to a
raw PostgreSQL COPY of the same stored rows in the same run, and checks that every wire
event is stored exactly once across the rebalance (0 lost, 0 duplicated).

    python bench/ingest.py --scale-out [--processes 4] [--users 15000] [--partitions 8]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.baselines import raw_copy_rate
from bench.ingest import committed, stored_rows
from infrastructure.bootstrap import build_app
from infrastructure.ingest.kafka import KafkaProducer, ensure_topics
from infrastructure.ingest.simulate import (
    TrafficPlan,
    WireMessage,
    ensure_experiments,
    planned,
    wire_events,
)
from infrastructure.settings import EventStoreSettings, KafkaSettings
from tests.ingest.support import recorded_event_ids
from tests.support.kafka import KafkaBroker, running_broker
from tests.support.postgres import PostgresCluster, running_cluster

START = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Run:
    processes: int
    rate: float = 0.0  # wire events/s, first to last commit
    seconds: float = 0.0
    lost: int = 0
    duplicated: int = 0
    stored: int = 0
    killed_at: float | None = None  # share of the stream committed when one was killed
    after_kill: float = 0.0  # seconds from the kill to the last commit
    projections: dict[str, int] = field(default_factory=dict)
    head: int = 0
    catch_up: float = 0.0
    url: str = ""
    table: str = ""
    copy_rate: float = 0.0  # raw COPY of this run's stored rows, right after it
    postgres_bytes: int = 0  # the events table with its indexes
    chdb_bytes: int = 0  # the analytics read model on disk (chDB, same engine as a server)


def _env(url: str, kafka: KafkaSettings, data_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "NEONBLUE_EVENT_STORE": url,
        "NEONBLUE_DATA_DIR": str(data_dir),
        "NEONBLUE_SERVE_DISCOVER": "false",
        "NEONBLUE_EMBEDDINGS": "hashing",  # the knowledge base's model is not what is measured
        "NEONBLUE_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "NEONBLUE_KAFKA_GROUP_ID": kafka.group_id,
        "NEONBLUE_KAFKA_TOPICS": '["' + '","'.join(kafka.topics) + '"]',
        "NEONBLUE_KAFKA_DEAD_LETTER_TOPIC": kafka.dead_letter_topic,
        "NEONBLUE_KAFKA_PARTITIONS": str(kafka.partitions),
        "NEONBLUE_KAFKA_SESSION_TIMEOUT_MS": "2000",
        "NEONBLUE_KAFKA_HEARTBEAT_INTERVAL_MS": "500",
        "NEONBLUE_KAFKA_BATCH_SIZE": str(kafka.batch_size),
    }


def _ingest(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "infrastructure.cli", "ingest", "--until-idle", "8"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _projections(env: dict[str, str], *extra: str, quiet: bool = False) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "infrastructure.cli", "projections", "run", *extra],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL if quiet else subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def run_once(
    broker: KafkaBroker,
    cluster: PostgresCluster,
    plan: TrafficPlan,
    messages: list[WireMessage],
    processes: int,
    partitions: int,
    batch: int,
    rebalance: bool,
) -> Run:
    tag = uuid.uuid4().hex[:8]
    url = cluster.url(cluster.create_database(f"scale{processes}"))
    kafka = KafkaSettings(
        bootstrap_servers=broker.bootstrap_servers,
        group_id=f"scale-{tag}",
        topics=tuple(f"{t}-{tag}" for t in ("experiments_events", "user_events", "analytics_events")),
        dead_letter_topic=f"dead_letter-{tag}",
        partitions=partitions,
        batch_size=batch,
    )  # fmt: skip
    ensure_topics(kafka, [*kafka.topics, kafka.dead_letter_topic])
    app = build_app(EventStoreSettings(event_store=url))
    ensure_experiments(app, planned(plan), START)
    names = [f"kafka:{t}:{p}" for t in kafka.topics for p in range(partitions)]
    topic = {logical: f"{logical}-{tag}" for logical in ("experiments_events", "user_events",
                                                         "analytics_events")}  # fmt: skip
    total = len(messages)
    run = Run(processes, url=url)
    with tempfile.TemporaryDirectory(prefix="neonblue-scaleout-") as data_dir:
        env = _env(url, kafka, Path(data_dir))
        follower = _projections(
            env, quiet=True
        )  # the read side, in its own process, follows the log
        workers = [_ingest(env) for _ in range(processes)]
        time.sleep(6.0)  # every process joins the group before the stream arrives
        producer = KafkaProducer(kafka)
        for message in messages:
            producer.produce(topic[message.topic], message.value, message.key)
        producer.close()
        first: tuple[float, int] | None = None
        killed: tuple[float, int] | None = None
        while (done := committed(app, names)) < total:
            now = time.perf_counter()
            if done and first is None:
                first = (now, done)
            if rebalance and killed is None and done >= 0.35 * total:
                workers[0].send_signal(signal.SIGKILL)  # mid-batch, no goodbye to the group
                workers.append(_ingest(env))  # and a new member joins
                killed = (now, done)
                run.killed_at = done / total
            time.sleep(0.2)  # polling reads 3 x partitions tracking rows: keep it light
        finished = time.perf_counter()
        if killed is not None:
            run.after_kill = finished - killed[0]
        for worker in workers:
            worker.wait()
        assert first is not None
        run.seconds = finished - first[0]
        run.rate = (total - first[1]) / run.seconds
        stored = recorded_event_ids(app)
        expected = {json.loads(m.value)["event_id"] for m in messages}
        run.lost = len(expected - set(stored))  # one stored event per wire event
        run.duplicated = sum(count - 1 for count in stored.values() if count > 1)
        run.stored = app.recorder.max_notification_id() or 0
        run.head = run.stored
        # where the follower got to while ingest ran (killed: it loses nothing), then the rest
        follower.send_signal(signal.SIGKILL)
        follower.wait()
        run.projections = _positions(env)
        started = time.perf_counter()
        rest = _projections(env, "--until-caught-up")
        tail, _ = rest.communicate(timeout=900)
        run.catch_up = time.perf_counter() - started
        final = _positions(env)
        if not final or min(final.values()) < run.head:
            raise SystemExit(f"projections did not reach the head {run.head}: {tail[-500:]}")
        run.table = app.recorder.events_table_name
        run.postgres_bytes = _postgres_bytes(url, run.table)
        run.chdb_bytes = sum(
            f.stat().st_size for f in (Path(data_dir) / "chdb").rglob("*") if f.is_file()
        )
    app.close()
    return run


def _positions(env: dict[str, str]) -> dict[str, int]:
    """Each projection's stored position (`neonblue projections status --json`)."""
    done = subprocess.run(
        [sys.executable, "-m", "infrastructure.cli", "projections", "status", "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    return {st["name"]: st["position"] for st in json.loads(done.stdout)}


def _postgres_bytes(url: str, table: str) -> int:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT pg_total_relation_size(%s::regclass)", (table,)).fetchone()
    return int(row[0]) if row else 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale-out", action="store_true")
    parser.add_argument("--processes", type=int, default=4, help="largest process count")
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--users", type=int, default=15_000, help="users per experiment")
    parser.add_argument("--experiments", type=int, default=3)
    parser.add_argument("--sessions", type=float, default=3.0)
    parser.add_argument("--batch", type=int, default=5000)
    args = parser.parse_args(argv)
    counts = sorted({1, *(n for n in (2, 4, 8) if n < args.processes), args.processes})
    plan = TrafficPlan(args.experiments, args.users, sessions=args.sessions)
    messages = list(wire_events(plan, START))
    ids = Counter(json.loads(m.value)["event_id"] for m in messages)
    assert max(ids.values()) == 1  # unique ids: a duplicate stored would be ingest's doing
    print(f"{len(messages):,} wire events ({args.experiments} experiments x {args.users:,} users), "
          f"{args.partitions} partitions, {os.cpu_count()} cores")  # fmt: skip
    runs = []
    with running_broker() as broker, running_cluster() as cluster:
        for processes in counts:
            rebalance = processes == args.processes and processes > 1
            run = run_once(broker, cluster, plan, messages, processes, args.partitions,
                           args.batch, rebalance)  # fmt: skip
            run.copy_rate = raw_copy_rate(run.url, stored_rows(run.url, run.table))
            runs.append(run)
            print(f"  {processes} process(es){' + rebalance' if rebalance else ''}: "
                  f"{run.rate:,.0f} wire events/s, lost {run.lost}, duplicated {run.duplicated}")  # fmt: skip
    per_wire = runs[-1].stored / len(messages)
    print()
    print(f"{'processes':<12}{'wire ev/s':>11}{'stored ev/s':>13}{'x COPY':>8}{'per proc':>10}"
          f"{'lost':>6}{'dup':>5}  projections: share of the log followed while ingest ran; "
          "then the rest (incl. start-up)")  # fmt: skip
    for run in runs:
        stored_rate = run.rate * per_wire
        label = f"{run.processes}{' +rebal' if run.killed_at else ''}"
        follow = ", ".join(f"{n} {p / run.head:.0%}" for n, p in sorted(run.projections.items()))
        print(f"{label:<12}{run.rate:>11,.0f}{stored_rate:>13,.0f}{stored_rate / run.copy_rate:>8.2f}"
              f"{run.rate / run.processes:>10,.0f}{run.lost:>6}{run.duplicated:>5}  "
              f"{follow}; +{run.catch_up:.1f} s")  # fmt: skip
    copies = ", ".join(f"{r.copy_rate:,.0f}" for r in runs)
    print(f"raw COPY of each run's {runs[-1].stored:,} stored rows, right after it: {copies} rows/s "
          "(the x COPY column divides by the run's own)")  # fmt: skip
    last = runs[-1]
    if last.killed_at is not None:
        print(f"rebalance: one process killed (SIGKILL) at {last.killed_at:.0%} of the stream and "
              f"one added; the rest of the stream committed {last.after_kill:.1f} s after the kill")  # fmt: skip
    print(f"on disk per stored event: PostgreSQL {last.postgres_bytes / last.stored:,.0f} bytes "
          f"(events table + indexes), analytics read model {last.chdb_bytes / last.stored:,.0f} "
          "bytes (chDB; before background merges)")  # fmt: skip
    if any(r.lost or r.duplicated for r in runs):
        raise SystemExit("FAILED: events lost or duplicated")
    print("every wire event stored exactly once in every run (0 lost, 0 duplicated)")
