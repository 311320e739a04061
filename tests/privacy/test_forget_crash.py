"""A kill -9 at any step of `neonblue privacy forget` leaves the user fully present or
erased in the store, and a rerun completes the erasure (read models included)."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from infrastructure.audit.verify import verify_log
from infrastructure.bootstrap import bootstrap, build_app
from infrastructure.forgetting import catch_up_read_models
from infrastructure.privacy.keys import key_store_for
from infrastructure.privacy.subjects import build_subjects
from infrastructure.settings import EventStoreSettings
from projections.generations import CRASH_AT
from tests.privacy.scenario import ingest_portfolio
from tests.support.chdb import chdb_held
from tests.support.serve import env_for

ROOT = Path(__file__).resolve().parents[2]


def _cli(env: dict[str, str], *args: str, crash: str | None = None) -> subprocess.CompletedProcess:
    run_env = {**env, CRASH_AT: crash} if crash else env
    return subprocess.run(
        [sys.executable, "-m", "infrastructure.cli", *args],
        cwd=ROOT, env=run_env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def _state(data_dir: Path, user_id: str) -> tuple[bool, bool, bool]:
    """(key present, erasure recorded, pseudonym still in the relational read model)."""
    app = build_app(EventStoreSettings(data_dir=data_dir, event_store=""))
    try:
        subjects = build_subjects(app)
        subject = subjects.pseudonym(user_id)
        present, erased = bool(key_store_for(app).get([subject])), subjects.is_erased(subject)
    finally:
        app.close()
    with sqlite3.connect(data_dir / "read_model.db") as db:  # views show the live generation
        (rows,) = db.execute(
            "SELECT count(*) FROM assignments WHERE user_id = ?", (subject,)
        ).fetchone()
    return present, erased, rows > 0


@pytest.mark.slow
def test_kill_9_during_forget_then_a_rerun_completes(tmp_path: Path) -> None:
    env = env_for(tmp_path, NEONBLUE_SERVE_DISCOVER="false")
    with bootstrap(EventStoreSettings(data_dir=tmp_path, event_store="")) as services:
        user_id = ingest_portfolio(services).user_id
        catch_up_read_models(services)
    assert _state(tmp_path, user_id) == (True, False, True)

    killed = _cli(env, "privacy", "forget", user_id, crash="privacy:before-erase")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert _state(tmp_path, user_id) == (True, False, True)  # fully present

    killed = _cli(env, "privacy", "forget", user_id, crash="privacy:after-erase")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    key, erased, _ = _state(tmp_path, user_id)  # erased in the store: key and event together
    assert (key, erased) == (False, True)

    with chdb_held(tmp_path / "chdb", env, ROOT):  # the read models cannot follow
        held = _cli(env, "privacy", "forget", user_id)
    assert held.returncode == 3, held.stdout + held.stderr  # it said "configuration error", 2
    assert "read models not updated yet" in held.stderr and "in use" in held.stderr
    assert "read models updated: not yet" in " ".join(held.stdout.split())
    assert "The erasure is recorded" in " ".join(held.stderr.split())

    rerun = _cli(env, "privacy", "forget", user_id)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "already forgotten; finished the clean-up" in rerun.stdout
    assert _state(tmp_path, user_id) == (False, True, False)
    app = build_app(EventStoreSettings(data_dir=tmp_path, event_store=""))
    try:
        assert verify_log(app.recorder).ok
    finally:
        app.close()
