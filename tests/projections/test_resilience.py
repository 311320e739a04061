"""kill -9 during catch-up and during rebuild, and rebuilds while ingest keeps writing."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from domain.participation.commands import RecordExposure, RecordMetric
from infrastructure.bootstrap import build_app
from infrastructure.settings import EventStoreSettings
from projections.analytics.client import ChdbClient
from projections.analytics.model import AnalyticsModel
from projections.log import LogReader
from projections.rebuild import rebuild
from projections.relational.model import RelationalModel
from projections.runner import ProjectionRunner
from tests.projections.scenario import START, create_experiments
from tests.support.postgres import PostgresCluster

ROOT = Path(__file__).parents[2]


def _traffic(app, first: int, users: int) -> None:
    batch = []
    for i in range(first, first + users):
        at = START + timedelta(seconds=i)
        batch.append(RecordExposure("alpha", f"u{i}", f"x{i}", at))
        batch.append(RecordMetric("alpha", f"u{i}", f"c{i}", at, "revenue", float(i % 7)))
        batch.append(RecordMetric("alpha", f"u{i}", f"s{i}", at, "sessions", 1.0 + i % 3))
    for start in range(0, len(batch), 3000):
        app.record(batch[start : start + 3000])


def _cli(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "infrastructure.cli", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _kill_soon(process: subprocess.Popen[str], rng: random.Random) -> bool:
    """SIGKILL once the command has started working (or let it finish if it is quick)."""
    assert process.stdout is not None
    process.stdout.readline()  # first line: the command is set up
    time.sleep(rng.uniform(0.2, 1.0))
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
    return process.wait(30) == -signal.SIGKILL


def _finish(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "infrastructure.cli", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.slow
def test_kill_9_during_catch_up_and_rebuild_then_resume(
    postgres: PostgresCluster, tmp_path: Path
) -> None:
    url = postgres.url(postgres.create_database())
    app = build_app(EventStoreSettings(event_store=url))
    create_experiments(app)
    _traffic(app, 0, 4000)  # 12,000 events: each killed command is mid-way at 0.2-1 s
    head = app.head()
    app.close()
    env = {**os.environ, "NEONBLUE_EVENT_STORE": url, "NEONBLUE_DATA_DIR": str(tmp_path)}
    env["NEONBLUE_EMBEDDINGS"] = "hashing"
    rng = random.Random(5)
    run = ("projections", "run", "analytics", "relational", "--until-caught-up")
    killed = [_kill_soon(_cli(env, *run, "--batch-size", "200"), rng) for _ in range(2)]
    assert any(killed), "the catch-up finished before it could be killed"
    _finish(env, *run)
    status = _finish(env, "projections", "status", "--json")
    assert f'"name": "analytics", "position": {head}' in status
    assert f'"name": "relational", "position": {head}' in status
    for name in ("analytics", "relational"):
        rebuild = ("projections", "rebuild", name, "--batch-size", "1000")
        killed.append(_kill_soon(_cli(env, *rebuild), rng))
        out = _finish(env, "projections", "rebuild", name, "--verify")
        assert "verified: old and new read models are identical." in out, out
    assert killed[2] or killed[3], "no rebuild was killed mid-way"


def _ingest(url: str, stop: threading.Event, written: list[int]) -> None:
    app = build_app(EventStoreSettings(event_store=url))
    first = 10_000
    while not stop.is_set():
        _traffic(app, first, 100)
        first += 100
        written.append(first)
    app.close()


@pytest.mark.slow
def test_rebuild_while_ingest_runs_loses_nothing(
    postgres: PostgresCluster, chdb_client: ChdbClient, prefix: str, tmp_path: Path
) -> None:
    url = postgres.url(postgres.create_database())
    store = EventStoreSettings(event_store=url, data_dir=tmp_path)
    app = build_app(store)
    create_experiments(app)
    _traffic(app, 0, 3000)
    reader = LogReader(app)
    analytics = AnalyticsModel(app, chdb_client, prefix)
    relational = RelationalModel(app, store)
    for model in (analytics, relational):
        ProjectionRunner(reader, model.projection()).catch_up()

    stop, written = threading.Event(), []
    ingest = threading.Thread(target=_ingest, args=(url, stop, written))
    ingest.start()
    try:
        while not written:
            time.sleep(0.05)
        for model in (analytics, relational):
            rebuild(reader, model, batch_size=500)
    finally:
        stop.set()
        ingest.join(60)
    assert len(written) >= 1
    for model in (analytics, relational):
        live = model.projection()
        ProjectionRunner(reader, live).catch_up()
        fresh = model.fresh_copy()
        ProjectionRunner(reader, fresh).catch_up()
        assert live.position() == fresh.position() == app.head()
        assert live.checksum() == fresh.checksum()
    users = chdb_client.rows(
        f"SELECT count() FROM {analytics.live_database()}.user_metrics FINAL WHERE exposed = 1"
    )
    assert users == [(written[-1] - 10_000 + 3000,)]
    relational.close()
    app.close()
