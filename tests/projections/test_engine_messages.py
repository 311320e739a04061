"""Readers never see a raw engine log line: when another process holds the embedded chDB,
a command says what to do (issue 21)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from infrastructure.bootstrap import build_app
from infrastructure.settings import EventStoreSettings
from tests.projections.scenario import create_experiments

ROOT = Path(__file__).parents[2]


@pytest.mark.slow
def test_results_while_another_process_holds_chdb(tmp_path: Path) -> None:
    store = EventStoreSettings(data_dir=tmp_path, event_store=f"sqlite:///{tmp_path / 'e.db'}")
    app = build_app(store)
    create_experiments(app)
    app.close()
    env = {**os.environ, "NEONBLUE_EVENT_STORE": store.event_store}
    env |= {"NEONBLUE_DATA_DIR": str(tmp_path), "NEONBLUE_EMBEDDINGS": "hashing"}
    holder = subprocess.Popen(
        [sys.executable, "-m", "infrastructure.cli", "projections", "run", "analytics"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None
        holder.stdout.readline()  # following: chDB is open
        done = subprocess.run(
            [sys.executable, "-m", "infrastructure.cli", "results", "alpha"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        holder.send_signal(signal.SIGINT)
        holder.communicate(timeout=60)
    said = " ".join((done.stdout + done.stderr).split())  # the console wraps lines
    assert done.returncode != 0
    assert "in use by another process" in said and "neonblue serve" in said, said
    for raw in ("Code: ", "DB::Exception", "Traceback"):
        assert raw not in said, said
