"""The knowledge base's results summary while another process holds the embedded chDB:
it comes from the relational model, says so, and the analytics model is tried again after
`ANALYTICS_RETRY_SECONDS` (before, one failure made the fallback last the process's life)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from domain.participation.commands import RecordExposure, RecordMetric
from infrastructure.bootstrap import bootstrap
from infrastructure.settings import EventStoreSettings
from projections.models import ANALYTICS_RETRY_SECONDS, results_summary
from tests.projections.scenario import START, create_experiments

ROOT = Path(__file__).parents[2]


@pytest.mark.slow
def test_summary_falls_back_while_chdb_is_held_and_recovers_after_the_retry_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = EventStoreSettings(data_dir=tmp_path, event_store=f"sqlite:///{tmp_path / 'e.db'}")
    env = {"NEONBLUE_EVENT_STORE": store.event_store, "NEONBLUE_DATA_DIR": str(tmp_path)}
    env["NEONBLUE_EMBEDDINGS"] = "hashing"
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    services = bootstrap(store)
    app = services.app
    create_experiments(app)
    app.record(
        [
            command
            for i in range(200)
            for command in (
                RecordExposure("alpha", f"u{i}", f"x{i}", START),
                RecordMetric("alpha", f"u{i}", f"m{i}", START, "conversion", 1.0),
            )
            if i % 3 or isinstance(command, RecordExposure)
        ]
    )
    experiment = app.experiment("alpha")
    models = services.read_models()
    holder = subprocess.Popen(
        [sys.executable, "-m", "infrastructure.cli", "projections", "run", "analytics"],
        cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    now = [1000.0]
    models.clock = lambda: now[0]  # not freezegun: chDB crashes when queried under it
    try:
        assert holder.stdout is not None
        holder.stdout.readline()  # following: chDB is open
        held = results_summary(models, experiment)
        assert held is not None and held["source"] == "relational"
        assert held["users"] == 200
    finally:
        holder.send_signal(signal.SIGINT)
        holder.communicate(timeout=60)
    try:
        now[0] += ANALYTICS_RETRY_SECONDS / 2
        soon = results_summary(models, experiment)  # not tried again yet
        assert soon is not None and soon["source"] == "relational"
        models.runner("analytics").catch_up()  # as serve's follower keeps it (the holder
        now[0] += ANALYTICS_RETRY_SECONDS / 2 + 1  # may have stopped before it projected)
        later = results_summary(models, experiment)
        assert later is not None and later["source"] == "analytics"
        assert later["users"] == held["users"] and later["summary"] == held["summary"]
    finally:
        services.close()
