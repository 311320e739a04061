"""`neonblue demo` as a user runs it — a non-editable install, started from another
directory — and its verdicts must match the truth it simulated.

The demo ends with agent answers and recommendations, which read through the MCP servers:
they once read another (empty) store when run outside the repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from infrastructure.bootstrap import bootstrap
from infrastructure.recommendations import recommendations
from infrastructure.settings import EventStoreSettings
from infrastructure.simulation import PORTFOLIO

PLANS = {plan.key: plan for plan in PORTFOLIO}
ROOT = Path(__file__).resolve().parents[2]


def _installed(tmp_path: Path) -> Path:
    """A venv (sharing this interpreter's packages) with NeonBlue installed non-editable
    from a clean copy of the repository; returns its ``bin`` directory."""
    source = tmp_path / "source"  # a clean copy: building writes metadata into the source tree
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(".git", "__pycache__", "*.egg-info", "build", ".neonblue"),
    )
    venv = tmp_path / "venv"
    # no pip of its own (ensurepip took 7-8 s): the system pip, seen through the system
    # site-packages, installs into the venv it runs in
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
        check=True,
    )
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps",
         "--disable-pip-version-check", str(source)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return venv / "bin"


@pytest.mark.slow
def test_demo_finds_what_it_planted(tmp_path: Path):
    bin_dir = _installed(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "COLUMNS": "80", "NEONBLUE_STATS_ENGINE": "sequential"}
    for variable in (
        "NEONBLUE_DATA_DIR",
        "NEONBLUE_EVENT_STORE",
        "NEONBLUE_EMBEDDINGS",
        "PYTHONPATH",
    ):
        env.pop(variable, None)
    shipped = subprocess.run(
        [str(bin_dir / "python"), "-c", "from infrastructure.serve.dashboard.routes import HERE; "
         "print(HERE, sorted(p.name for p in HERE.glob('*/*')))"],
        cwd=elsewhere, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert shipped.stdout.startswith(str(bin_dir.parent)), shipped.stdout  # the installed copy
    for name in ("base.html", "experiment.html", "dashboard.css", "dashboard.js"):
        assert f"'{name}'" in shipped.stdout, shipped.stdout  # the dashboard's own files

    began = time.perf_counter()
    result = subprocess.run(
        [str(bin_dir / "neonblue"), "demo"], cwd=elsewhere, env=env,
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    took = time.perf_counter() - began
    assert result.returncode == 0, result.stderr[-2000:]
    data = elsewhere / ".neonblue" / "demo"  # the default: under the working directory
    assert not list(bin_dir.parent.rglob("*.neonblue*")), "a store was made inside the venv"
    out = result.stdout
    assert "Approved the stop of homepage-hero-video" in out
    # every verdict is printed next to the simulated truth, for every metric with an effect
    assert "+12.5%" in out and "+20.8%" in out and "none" in out
    assert "sequential engine" in out and "similarity" in out
    assert "…" not in out  # keys, ids and verdicts are never cut, even at 80 columns
    # every stage reports: ingest without loss, read models caught up, semantic search
    assert "Ingested" in out and "0 dead letters" in out and "Read models caught up" in out
    assert "Semantic search 'make the order button easier to see': checkout-cta-contrast" in (
        out.replace("\n", " ")
    )
    assert (data / "events.db").exists() and (data / "chdb").exists()

    services = bootstrap(EventStoreSettings(data_dir=data, event_store=""))
    try:
        latest = {r.experiment_key: r for r in recommendations(services.app)}
        app = services.app
        # the winner is detected and recommended for shipping
        winner = latest["checkout-cta-contrast"]
        assert winner.action == "ship" and winner.variant == "treatment"
        assert PLANS["checkout-cta-contrast"].true_lift("treatment") > 0
        assert winner.numbers["ci_lower"] > 0
        # the harmful guardrail is stopped (the demo approves the stop as a person would)
        harmful = app.experiment("homepage-hero-video")
        assert PLANS["homepage-hero-video"].true_effect("page_load_ms", "treatment") > 0.05
        assert str(harmful.status) == "concluded" and harmful.conclusion.decision == "rollback"
        # the sample ratio mismatch is caught
        assert PLANS["pricing-annual-discount"].lost_exposures
        assert latest["pricing-annual-discount"].action == "fix_srm"
        # the flat test stays flat: no ship, no stop
        assert PLANS["mobile-onboarding-checklist"].true_lift("treatment") == 0
        assert latest["mobile-onboarding-checklist"].action in ("extend", "continue")
        # the bandit moves traffic to the arm that truly converts best
        weights = {v.key: v.weight for v in app.experiment("free-shipping-threshold").variants}
        truth = PLANS["free-shipping-threshold"]
        best = max(weights, key=lambda v: truth.conversion[v])
        assert weights[best] == max(weights.values()) and weights[best] > 0.34
    finally:
        services.close()
    print(f"neonblue demo took {took:.0f} s")
