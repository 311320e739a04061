"""`audit verify` throughput on a large log (default 1M events on a SQLite file).

Builds the log quickly at recorder level: chained stored states are sealed with the
mapper's own ``seal_state`` (a real Participation.Exposed JSON shape, 10 events per
stream) and bulk-inserted with sqlite3 into the table the application created. Then
measures, in the same run:

- ``verify``: ``verify_log`` (read every notification, check hash, stream chain, running hash);
- baseline ``read+sha256``: the same notification reads plus one plain sha256 per state;
- baseline ``sha256``: plain sha256 over the same state bytes already in memory.

    python bench/audit.py [--events 1000000] [--streams-of 10] [--keep DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eventsourcing.utils import get_topic

from domain.participation.aggregate import Participation
from infrastructure.audit.chain import GENESIS, seal_state
from infrastructure.audit.verify import read_log, verify_log
from infrastructure.bootstrap import build_app
from infrastructure.settings import EventStoreSettings

ENROLLED, EXPOSED = get_topic(Participation.Enrolled), get_topic(Participation.Exposed)


def payload(topic: str, index: int, version: int) -> bytes:
    stamp = {"_type_": "datetime_iso", "_data_": f"2026-05-01T12:{index % 60:02d}:00+00:00"}
    if version == 1:
        fields = {"experiment_key": "bench", "user_id": f"user-{index}", "variant": "control",
                  "source": "bucketing", "at": stamp}  # fmt: skip
    else:
        fields = {"event_id": f"user-{index}:{version}", "at": stamp,
                  "context": {"topic": "user_events", "partition": index % 12, "offset": index}}  # fmt: skip
    return json.dumps({"timestamp": stamp, **fields}, separators=(",", ":")).encode()


def build_log(path: Path, events: int, per_stream: int) -> list[bytes]:
    settings = EventStoreSettings(data_dir=path, event_store=f"sqlite:///{path / 'events.db'}")
    app = build_app(settings)  # creates the tables
    table = app.recorder.events_table_name  # type: ignore[attr-defined]
    app.close()
    streams = events // per_stream
    chains: dict[int, bytes] = {}
    rows, states = [], []
    for version in range(1, per_stream + 1):  # interleaved: like concurrent users
        topic = ENROLLED if version == 1 else EXPOSED
        for index in range(streams):
            oid = uuid.UUID(int=index + 1)
            prev = chains[index] if version > 1 else GENESIS
            state, digest = seal_state(payload(topic, index, version), prev, oid, version, topic)
            chains[index] = digest
            rows.append((str(oid), version, topic, state))
            states.append(state)
    with sqlite3.connect(path / "events.db") as conn:
        conn.executemany(
            f"INSERT INTO {table} (originator_id, originator_version, topic, state) VALUES (?,?,?,?)",
            rows,
        )
    return states


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--streams-of", type=int, default=10, help="events per stream")
    parser.add_argument("--keep", type=Path, help="build the log in this directory")
    args = parser.parse_args()
    path = args.keep or Path(tempfile.mkdtemp(prefix="neonblue-bench-audit-"))
    path.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    states = build_log(path, args.events, args.streams_of)
    print(f"built {len(states):,} chained events in {time.perf_counter() - started:.1f} s ({path})")
    app = build_app(
        EventStoreSettings(data_dir=path, event_store=f"sqlite:///{path / 'events.db'}")
    )
    try:
        started = time.perf_counter()
        for state in states:
            hashlib.sha256(state).digest()
        sha_rate = len(states) / (time.perf_counter() - started)
        started = time.perf_counter()
        count = sum(1 for n in read_log(app.recorder) if hashlib.sha256(n.state).digest())
        read_rate = count / (time.perf_counter() - started)
        report = verify_log(app.recorder)
    finally:
        app.close()
    assert report.ok and report.events == len(states), report.findings[:3]
    verify_rate = report.events_per_second
    print(
        f"verify          {verify_rate:>12,.0f} events/s  ({report.seconds:.1f} s for {report.events:,})"
    )
    print(f"read+sha256     {read_rate:>12,.0f} events/s  (baseline: same reads, plain hash)")
    print(f"sha256 only     {sha_rate:>12,.0f} events/s  (baseline: hashing bytes in memory)")
    print(
        f"ratio verify / read+sha256: {verify_rate / read_rate:.2f}; verify / sha256: {verify_rate / sha_rate:.3f}"
    )


if __name__ == "__main__":
    main()
