"""The cost of personal-data protection on ingest: the same wire events through the same
ingest writer (decode, translate, [protect], apply, commit with offsets) into a fresh event
store, without and with protection, alternating to even out the machine's noise. Each batch
is written as `IngestLoop` writes it (cyclic garbage collection paused, the surviving heap
frozen after); the "worker" arms have the prepare worker (a second process) decode and protect
the next batch meanwhile, as `neonblue ingest` does under load. "privacy on" is `neonblue ingest` (the
Kafka loop, which never opens Chroma's index, so it does not fill freed heap memory); a third
arm adds that fill (privacy/heap.py), as a process that also runs projections pays it.

Run by `python bench/ingest.py --privacy-cost [--users N] [--store sqlite|postgresql]`.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from infrastructure.bootstrap import build_app
from infrastructure.gc_pause import no_cyclic_gc
from infrastructure.ingest.bus import Record
from infrastructure.ingest.protection import build_protector
from infrastructure.ingest.runtime import prepare_worker
from infrastructure.ingest.simulate import TrafficPlan, ensure_experiments, planned, wire_events
from infrastructure.ingest.writer import STAGES, BatchWriter, add_seconds
from infrastructure.privacy.heap import scrub_freed_memory
from infrastructure.settings import EventStoreSettings, KafkaSettings
from infrastructure.settings.privacy import PrivacySettings

START = datetime(2026, 1, 1, tzinfo=UTC)
PARTITIONS = 4


def _records(plan: TrafficPlan) -> list[Record]:
    offsets = [0] * PARTITIONS
    records = []
    for message in wire_events(plan, START):
        partition = hash(message.key) % PARTITIONS
        records.append(
            Record(message.topic, partition, offsets[partition], message.key, message.value)
        )
        offsets[partition] += 1
    return records


def _cpu_seconds(pid: int | None) -> float:
    """CPU time of another live process (Linux ``/proc``; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _ingest_rate(
    store: EventStoreSettings,
    plan: TrafficPlan,
    records: list[Record],
    protect: bool,
    batch: int,
    fill: bool,
    worker: bool,
) -> tuple[float, float, dict[str, float]]:
    """Events/s by the wall clock and by the CPU time of the writer and its worker, and
    seconds per stage."""
    app = build_app(store)
    preparing = None
    try:
        ensure_experiments(app, planned(plan), START)
        protector = build_protector(
            app, PrivacySettings(privacy=protect, privacy_secret="bench-secret-0123456789")
        )
        scrub_freed_memory(fill)  # process-wide
        if worker:
            preparing = prepare_worker(app, KafkaSettings(), protector, None)
        writer = BatchWriter(app, protector=protector, worker=preparing)
        batches = [records[start : start + batch] for start in range(0, len(records), batch)]
        stages: dict[str, float] = {}
        started, cpu = time.perf_counter(), time.process_time()
        for index, records_of_batch in enumerate(batches):
            with no_cyclic_gc():  # as `IngestLoop` writes a batch
                writer.prepare_ahead(batches[index + 1] if index + 1 < len(batches) else [])
                add_seconds(stages, writer.write(records_of_batch).seconds)
            gc.freeze()
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        if preparing is not None:
            add_seconds(stages, preparing.seconds)
            cpu += _cpu_seconds(preparing.pid)
        return len(records) / wall, len(records) / cpu, stages
    finally:
        if preparing is not None:
            preparing.close()
        app.close()
        gc.unfreeze()
        gc.collect()


def privacy_cost(
    fresh_store: Callable[[], EventStoreSettings],
    users: int,
    experiments: int,
    batch: int,
    rounds: int = 2,
) -> None:
    plan = TrafficPlan(experiments, users, sessions=3.0)
    records = _records(plan)
    arms = {  # protect, heap fill, prepare worker; each "on" right after its "off"
        "privacy off": (False, False, False),
        "privacy on": (True, False, False),
        "privacy off, worker": (False, False, True),
        "privacy on, worker": (True, False, True),
        "privacy on, worker, heap fill": (True, True, True),
    }
    rates: dict[str, list[tuple[float, float, dict[str, float]]]] = {arm: [] for arm in arms}
    for _ in range(rounds):
        for arm, (protect, fill, worker) in arms.items():
            rates[arm].append(
                _ingest_rate(fresh_store(), plan, records, protect, batch, fill, worker)
            )
    print(f"{len(records):,} wire events, best of {rounds} alternating runs each")
    for index, clock in enumerate(("wall clock", "CPU, writer and worker")):
        base = max(
            max(r[index] for r in rates[arm]) for arm in arms if arm.startswith("privacy off")
        )
        print(f"events/s by the {clock}; ratio to the faster 'privacy off' arm ({base:,.0f}/s):")
        for arm in arms:
            rate = max(r[index] for r in rates[arm])
            print(
                f"  {arm:<50}{rate:>10,.0f}  {rate / base:5.2f}x  "
                f"({base / rate - 1:+.1%} time per event)"
            )
    for off, on in (("privacy off", "privacy on"), ("privacy off, worker", "privacy on, worker")):
        pairs = [b[0] / a[0] for a, b in zip(rates[off], rates[on], strict=True)]  # in run order
        print(
            f"'{on}' / '{off}' by the wall clock, run after run (least drift): "
            f"{', '.join(f'{r:.2f}x' for r in pairs)}; median {float(np.median(pairs)):.2f}x"
        )
    print("where the time went, µs per event (the arm's fastest run by wall clock):")
    for arm in arms:
        stages = max(rates[arm], key=lambda r: r[0])[2]
        split = ", ".join(
            f"{s} {v / len(records) * 1e6:.1f}"
            for s, v in sorted(stages.items(), key=lambda sv: (sv[0] not in STAGES, sv[0]))
        )
        print(f"  {arm:<50}{split}")


def sqlite_stores(root: Path) -> Callable[[], EventStoreSettings]:
    count = iter(range(10**6))
    return lambda: EventStoreSettings(
        data_dir=root, event_store=f"sqlite:///{root / f'events-{next(count)}.db'}"
    )
