"""A non-editable install, run from another directory, answers as the repository does.

The demo ends with agent answers and recommendations, which read through the MCP servers:
they once read another (empty) store when run outside the repository."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VOLATILE = re.compile(r"\d[\d,.]*\s*(?:s\b|events/s|ev/s)|/\S+")  # timings and paths


def _normalised(output: str) -> list[str]:
    """Lines up to the closing hint (which names the data directory), without timings."""
    shown = output.split("Demo finished in")[0]
    return [VOLATILE.sub("#", line).rstrip() for line in shown.splitlines() if line.strip()]


@pytest.mark.slow
def test_demo_from_a_non_editable_install_elsewhere_equals_the_repository(tmp_path: Path):
    source = tmp_path / "source"  # a clean copy: building writes metadata into the source tree
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(".git", "__pycache__", "*.egg-info", "build", ".neonblue"),
    )
    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True
    )
    python = venv / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps",
         "--disable-pip-version-check", str(source)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # one privacy secret for both runs: pseudonyms (and so server-side bucketing) derive from it
    env = {
        **os.environ,
        "NEONBLUE_EMBEDDINGS": "hashing",
        "COLUMNS": "200",
        "NEONBLUE_PRIVACY_SECRET": "install-test-secret-0123456789",
    }
    for variable in ("NEONBLUE_DATA_DIR", "NEONBLUE_EVENT_STORE", "PYTHONPATH"):
        env.pop(variable, None)
    located = subprocess.run(
        [str(python), "-c", "import infrastructure; print(infrastructure.__file__)"],
        cwd=elsewhere, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert located.stdout.startswith(str(venv)), located.stdout  # the installed copy runs
    shipped = subprocess.run(
        [str(python), "-c", "from infrastructure.serve.dashboard.routes import HERE; "
         "print(HERE, sorted(p.name for p in HERE.glob('*/*')))"],
        cwd=elsewhere, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert shipped.stdout.startswith(str(venv)), shipped.stdout  # the dashboard's own files
    for name in ("base.html", "experiment.html", "dashboard.css", "dashboard.js"):
        assert f"'{name}'" in shipped.stdout, shipped.stdout

    installed = subprocess.run(
        [str(venv / "bin" / "neonblue"), "demo", "--users", "600"],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert (elsewhere / ".neonblue" / "demo" / "events.db").exists()
    assert not list(venv.rglob("*.neonblue*")), "a store was created inside the installed package"

    repository = subprocess.run(
        [sys.executable, "-m", "infrastructure.cli", "demo", "--users", "600",
         "--data-dir", str(tmp_path / "from-repository")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert repository.returncode == 0, repository.stdout + repository.stderr
    assert "Recommendations" in installed.stdout
    assert "Approved the stop of homepage-hero-video" in installed.stdout
    assert _normalised(installed.stdout) == _normalised(repository.stdout)
