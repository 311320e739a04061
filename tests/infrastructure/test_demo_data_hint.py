"""After `neonblue demo`, commands on the default data directory say where the demo's data
is, instead of answering from an empty store without saying why."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from domain.experiments.values import Variant
from infrastructure.bootstrap import build_app
from infrastructure.settings import EventStoreSettings

VARIANTS = [Variant("control", "C", 0.5), Variant("b", "B", 0.5)]


def neonblue(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The CLI as a user runs it in ``cwd``: no NEONBLUE_* setting but ``env``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("NEONBLUE_")}
    done = subprocess.run(
        [sys.executable, "-m", "infrastructure.cli", *args],
        cwd=cwd, env={**base, **env, "COLUMNS": "200"},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    done.stderr = " ".join(done.stderr.split())  # a long path is wrapped at the terminal's width
    return done


def create(data_dir: Path, key: str) -> None:
    app = build_app(EventStoreSettings(data_dir=data_dir, event_store=""))
    app.create_experiment(key, key, variants=VARIANTS)
    app.close()


def test_an_empty_default_store_points_to_the_demo_data(tmp_path: Path) -> None:
    demo = tmp_path / ".neonblue" / "demo"
    create(demo, "checkout-cta")

    asked = neonblue(tmp_path, "ask", "How is the experiment doing?")
    assert asked.returncode == 0, asked.stderr
    assert "This store holds no experiments yet." in asked.stdout
    assert "chromadb" not in asked.stdout  # no semantic search (the model) in an empty store
    hint = f"explore them with NEONBLUE_DATA_DIR={demo} neonblue"
    assert hint in asked.stderr

    listed = neonblue(tmp_path, "experiments", "list")
    assert "No experiments yet" in listed.stdout and hint in listed.stderr

    unknown = neonblue(tmp_path, "results", "checkout-cta")
    assert unknown.returncode == 1
    assert "error:" in unknown.stderr and hint in unknown.stderr

    chosen = neonblue(tmp_path, "results", "nope", NEONBLUE_DATA_DIR=str(tmp_path / ".neonblue"))
    assert chosen.returncode == 1 and "demo" not in chosen.stderr  # a directory the user chose


def test_a_store_with_experiments_of_its_own_gets_no_hint(tmp_path: Path) -> None:
    create(tmp_path / ".neonblue" / "demo", "checkout-cta")
    create(tmp_path / ".neonblue", "mine")
    unknown = neonblue(tmp_path, "results", "checkout-cta")
    assert unknown.returncode == 1 and "No experiment with key" in unknown.stderr
    assert "demo" not in unknown.stderr
