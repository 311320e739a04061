"""A kill -9 at any step of `neonblue privacy forget` leaves the user fully present or
erased in the store, and a rerun completes the erasure (read models included)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from infrastructure.bootstrap import bootstrap
from infrastructure.forgetting import catch_up_read_models
from infrastructure.privacy.keys import key_store_for
from infrastructure.privacy.subjects import build_subjects
from infrastructure.settings import EventStoreSettings
from projections.generations import CRASH_AT
from tests.privacy.scenario import ingest_portfolio
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
    with bootstrap(EventStoreSettings(data_dir=data_dir, event_store="")) as services:
        subjects = build_subjects(services.app)
        subject = subjects.pseudonym(user_id)
        relational = services.read_models().model("relational").projection()
        rows = relational.db.rows(  # type: ignore[attr-defined]
            f"SELECT count(*) FROM {relational.prefix}assignments WHERE user_id = ?",
            (subject,),  # type: ignore[attr-defined]
        )
        present = bool(key_store_for(services.app).get([subject]))
        return present, subjects.is_erased(subject), rows[0][0] > 0


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

    rerun = _cli(env, "privacy", "forget", user_id)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "already forgotten; finished the clean-up" in rerun.stdout
    assert _state(tmp_path, user_id) == (False, True, False)
    exported = _cli(env, "privacy", "export", user_id)
    assert json.loads(exported.stdout)["status"] == "erased"
    verified = _cli(env, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
